"""``/metrics``: the observability exposition and every shown store's jobs by status.

Prometheus text format 0.0.4: `actorlib.observability.prometheus_text` of
the system and its queues, then ``actorlib_jobs``.

The job counts by status are the store's (every process's jobs); the
queues' own counters (submitted, attempts, wait and run time...) are this
process's. A dashboard started with ``--store`` has no system and no queue:
it serves the counts alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import ActorSystem
from ..jobs import JobQueue
from ..observability import prometheus_text


def label(value: str) -> str:
    """A label value, escaped as the text format requires."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(
    system: ActorSystem | None,
    queues: Iterable[JobQueue],
    jobs: Iterable[tuple[str, str, dict[str, int]]],
) -> str:
    """The exposition: the system's and queues' metrics, then jobs by (queue, store, status)."""
    sources: list[ActorSystem | JobQueue] = [*([system] if system is not None else []), *queues]
    text = prometheus_text(*sources) if sources else ""
    lines: list[str] = []
    rows = list(jobs)
    if rows:
        lines += ["# HELP actorlib_jobs Jobs in the store by status.", "# TYPE actorlib_jobs gauge"]
        for queue, store, counts in rows:
            for status, count in counts.items():
                lines.append(
                    f'actorlib_jobs{{queue="{label(queue)}",store="{label(store)}",'
                    f'status="{label(status)}"}} {count}'
                )
    return text + ("\n".join(lines) + "\n" if lines else "")
