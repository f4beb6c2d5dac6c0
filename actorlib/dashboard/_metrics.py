"""``/metrics``: the system's statistics and the job counts as Prometheus text (format 0.0.4).

Only what the runtime counts already: `ActorSystem.statistics` and each job
source's counts by status. Richer metrics (per actor class, handler time)
belong to the metrics layer, not here.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import ActorSystem

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SYSTEM = (
    ("actorlib_actors", "gauge", "Live actors under /user.", "actors"),
    (
        "actorlib_dead_letters_total",
        "counter",
        "Messages that could not be delivered.",
        "dead_letters",
    ),
    ("actorlib_dispatcher_workers", "gauge", "Dispatcher tasks alive.", "workers"),
    (
        "actorlib_dispatcher_idle_workers",
        "gauge",
        "Dispatcher tasks waiting for work.",
        "idle_workers",
    ),
    ("actorlib_ready_actors", "gauge", "Actors with messages waiting for a worker.", "ready"),
    ("actorlib_timers", "gauge", "Pending timers.", "timers"),
)


def label(value: str) -> str:
    """A label value, escaped as the text format requires."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(system: ActorSystem | None, jobs: Iterable[tuple[str, str, dict[str, int]]]) -> str:
    """The exposition: system gauges (if any), then jobs by (queue, store, status)."""
    lines: list[str] = []
    if system is not None:
        statistics = system.statistics()
        name = label(system.name)
        for metric, kind, help_text, field in _SYSTEM:
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
            lines.append(f'{metric}{{system="{name}"}} {getattr(statistics, field)}')
    rows = list(jobs)
    if rows:
        lines += ["# HELP actorlib_jobs Jobs in the store by status.", "# TYPE actorlib_jobs gauge"]
        for queue, store, counts in rows:
            for status, count in counts.items():
                lines.append(
                    f'actorlib_jobs{{queue="{label(queue)}",store="{label(store)}",'
                    f'status="{label(status)}"}} {count}'
                )
    return "\n".join(lines) + "\n"
