"""The metrics of a system as plain samples: names, units, labels, values; no exporter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from actorlib import ActorSystem

from ._handler_times import HandlerTimes

Labels = tuple[tuple[str, str], ...]
Reader = Callable[[ActorSystem], Iterable[tuple[Labels, float]]]


@attrs.frozen
class MetricSample:
    """One value of one metric, as `collect` returns it.

    Attributes:
        name: the OpenTelemetry name, e.g. ``actorlib.messages.handled``
            (`prometheus_text` derives ``actorlib_messages_handled_total``).
        kind: ``"counter"`` (only grows) or ``"gauge"`` (a current value).
        unit: the UCUM unit, e.g. ``s`` or ``{message}``.
        description: what it counts, one sentence.
        labels: ``(name, value)`` pairs, e.g. ``(("system", "shop"),)``.
        value: the number.
    """

    name: str
    kind: str
    unit: str
    description: str
    labels: Labels
    value: float


@attrs.frozen
class Family:
    """A metric and how to read its values from a system."""

    name: str
    kind: str
    unit: str
    description: str
    read: Reader


def _system_value(
    pick: Callable[[ActorSystem], float],
) -> Callable[[ActorSystem], Iterable[tuple[Labels, float]]]:
    def read(system: ActorSystem) -> Iterable[tuple[Labels, float]]:
        return [((("system", system.name),), pick(system))]

    return read


def _per_class(field: str) -> Reader:
    def read(system: ActorSystem) -> Iterable[tuple[Labels, float]]:
        return [
            ((("system", system.name), ("actor_class", stats.actor_class)), getattr(stats, field))
            for stats in system.class_statistics()
        ]

    return read


FAMILIES: tuple[Family, ...] = (
    Family(
        "actorlib.messages.handled",
        "counter",
        "{message}",
        "User messages handled (failed ones included), per actor class.",
        _per_class("messages"),
    ),
    Family(
        "actorlib.actors",
        "gauge",
        "{actor}",
        "Live actors, per actor class.",
        _per_class("actors"),
    ),
    Family(
        "actorlib.mailbox.depth",
        "gauge",
        "{message}",
        "User messages waiting in mailboxes, per actor class.",
        _per_class("mailbox"),
    ),
    Family(
        "actorlib.restarts",
        "counter",
        "{restart}",
        "Actor restarts, per actor class.",
        _per_class("restarts"),
    ),
    Family(
        "actorlib.dead_letters",
        "counter",
        "{message}",
        "Messages that could not be delivered.",
        _system_value(lambda system: system.statistics().dead_letters),
    ),
    Family(
        "actorlib.dispatcher.workers",
        "gauge",
        "{task}",
        "Dispatcher worker tasks alive.",
        _system_value(lambda system: system.statistics().workers),
    ),
    Family(
        "actorlib.dispatcher.ready",
        "gauge",
        "{actor}",
        "Actors with messages waiting for a dispatcher worker.",
        _system_value(lambda system: system.statistics().ready),
    ),
    Family(
        "actorlib.timers",
        "gauge",
        "{timer}",
        "Pending timers: actor timers, ask timeouts and backoff delays.",
        _system_value(lambda system: system.statistics().timers),
    ),
)

# The handler-time histogram, recorded only when turned on (`time_handlers`).
HANDLER_DURATION = Family(
    "actorlib.handler.duration",
    "histogram",
    "s",
    "Time from a handler's call to its return (its awaits included), per actor class.",
    lambda system: (),
)


def collect(system: ActorSystem) -> list[MetricSample]:
    """Read every counter and gauge of *system* now (histograms: see `HandlerTimes`).

    Cheap enough to call on every scrape: it reads counters the runtime
    keeps anyway, with one pass over the live actors per per-class metric.
    """
    return [
        MetricSample(family.name, family.kind, family.unit, family.description, labels, value)
        for family in FAMILIES
        for labels, value in family.read(system)
    ]


def handler_times(systems: Sequence[ActorSystem]) -> list[tuple[ActorSystem, HandlerTimes]]:
    """The systems among *systems* whose handlers are timed, with their histograms."""
    return [
        (system, observer)
        for system in systems
        if isinstance(observer := system.handler_observer, HandlerTimes)
    ]
