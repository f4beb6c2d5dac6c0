"""The Prometheus text exposition (format 0.0.4) of systems' metrics; needs no library."""

from __future__ import annotations

from actorlib import ActorSystem

from ._handler_times import HandlerTimes
from ._samples import (
    FAMILIES,
    HANDLER_DURATION,
    JOB_FAMILIES,
    ROUND_TRIP,
    Family,
    JobFamily,
    Labels,
    Source,
    check_sources,
    collect,
    handler_times,
    round_trips,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The HTTP Content-Type of `prometheus_text`'s output (Prometheus text format 0.0.4)."""


def prometheus_name(name: str, kind: str, unit: str) -> str:
    """``actorlib.handler.duration`` (s, histogram) -> ``actorlib_handler_duration_seconds``."""
    base = name.replace(".", "_")
    if unit == "s":
        base += "_seconds"
    elif unit == "By":
        base += "_bytes"
    return base + "_total" if kind == "counter" else base


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def prometheus_text(*sources: Source) -> str:
    """Render the metrics of *sources* in Prometheus's text format (version 0.0.4).

    Serve it at ``/metrics`` with the content type `CONTENT_TYPE`. Every
    counter and gauge of docs/observability.md is there: an actor system's
    labelled by ``system`` (and ``actor_class``), a job queue's by
    ``queue``; the handler-time histogram too, for the systems whose
    handlers are timed (`time_handlers`). Needs neither OpenTelemetry nor
    ``prometheus_client``.

    Args:
        sources: actor systems and job queues (`actorlib.jobs.JobQueue`).

    Raises:
        TypeError: a source is neither an ActorSystem nor a JobQueue.
    """
    check_sources(sources, "prometheus_text()")
    samples = collect(*sources)
    lines: list[str] = []
    families: tuple[Family | JobFamily, ...] = (*FAMILIES, *JOB_FAMILIES)
    for family in families:
        name = prometheus_name(family.name, family.kind, family.unit)
        lines.append(f"# HELP {name} {family.description}")
        lines.append(f"# TYPE {name} {family.kind}")
        lines.extend(
            f"{name}{_labels(sample.labels)} {_number(sample.value)}"
            for sample in samples
            if sample.name == family.name
        )
    timed = handler_times(sources)
    if timed:
        lines.extend(_histogram_lines(HANDLER_DURATION, _handler_rows(timed)))
    peers = round_trips(sources)
    if peers:
        lines.extend(_histogram_lines(ROUND_TRIP, peers))
    return "\n".join(lines) + "\n"


Row = tuple[Labels, tuple[float, ...], tuple[int, ...], float]


def _handler_rows(timed: list[tuple[ActorSystem, HandlerTimes]]) -> list[Row]:
    return [
        (
            (("system", system.name), ("actor_class", histogram.actor_class)),
            histogram.bounds,
            histogram.counts,
            histogram.total,
        )
        for system, times in timed
        for histogram in times.snapshot()
    ]


def _histogram_lines(family: Family, rows: list[Row]) -> list[str]:
    """A histogram family: each row's (labels, bounds, counts per bucket, sum)."""
    name = prometheus_name(family.name, family.kind, family.unit)
    lines = [f"# HELP {name} {family.description}", f"# TYPE {name} histogram"]
    for labels, bounds, counts, total in rows:
        cumulative = 0
        for bound, count in zip(bounds, counts, strict=False):
            cumulative += count
            bucket = _labels((*labels, ("le", _number(bound))))
            lines.append(f"{name}_bucket{bucket} {cumulative}")
        everything = sum(counts)
        lines.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {everything}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(total)}")
        lines.append(f"{name}_count{_labels(labels)} {everything}")
    return lines
