"""The metrics of a system as plain samples: names, units, labels, values; no exporter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from actorlib.remote import NodeTransport

from ._handler_times import HandlerTimes

Labels = tuple[tuple[str, str], ...]
Reader = Callable[[ActorSystem], Iterable[tuple[Labels, float]]]
Source = ActorSystem | JobQueue


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
    read: Callable[[ActorSystem], Iterable[tuple[Labels, float]]]


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


def _per_peer(field: str) -> Reader:
    def read(system: ActorSystem) -> Iterable[tuple[Labels, float]]:
        transport = system.transport
        if not isinstance(transport, NodeTransport):
            return ()
        return [
            ((("system", system.name), ("peer", stats.peer)), float(getattr(stats, field)))
            for stats in transport.link_statistics()
        ]

    return read


# Per peer node, for a system with a remote transport (actorlib.remote).
_LINK_FAMILIES = tuple(
    Family(f"actorlib.remote.{name}", kind, unit, description, _per_peer(field))
    for name, kind, unit, description, field in [
        ("frames.sent", "counter", "{frame}", "Frames sent to a peer node.", "frames_sent"),
        ("frames.received", "counter", "{frame}", "Frames from a peer.", "frames_received"),
        ("traffic.sent", "counter", "By", "Bytes of the frames sent to a peer.", "bytes_sent"),
        ("traffic.received", "counter", "By", "Bytes of the frames from a peer.", "bytes_received"),
        ("reconnects", "counter", "{link}", "Links to a peer after the first.", "reconnects"),
        ("connected", "gauge", "1", "1 while a link to the peer is up, else 0.", "connected"),
    ]
)

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
        "actorlib.asks",
        "counter",
        "{ask}",
        "Asks sent to actors, per actor class of the recipient.",
        _per_class("asks"),
    ),
    Family(
        "actorlib.ask.timeouts",
        "counter",
        "{ask}",
        "Asks that timed out, per actor class of the recipient.",
        _per_class("ask_timeouts"),
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
    *_LINK_FAMILIES,
)

# The round-trip time of each remote link, per peer node (`LinkStatistics.rtt_*`).
ROUND_TRIP = Family(
    "actorlib.remote.round_trip.duration",
    "histogram",
    "s",
    "Round-trip time of a link to a peer node: a ping inside a sealed frame, answered at once.",
    lambda system: (),
)


def round_trips(
    sources: Sequence[Source],
) -> list[tuple[Labels, tuple[float, ...], tuple[int, ...], float]]:
    """(labels, bounds, counts, total) of each peer of the systems among *sources*."""
    return [
        ((("system", system.name), ("peer", stats.peer)), stats.rtt_bounds, stats.rtt_counts,
         stats.rtt_total)
        for system in sources
        if isinstance(system, ActorSystem) and isinstance(system.transport, NodeTransport)
        for stats in system.transport.link_statistics()
    ]  # fmt: skip


# The handler-time histogram, recorded only when turned on (`time_handlers`).
HANDLER_DURATION = Family(
    "actorlib.handler.duration",
    "histogram",
    "s",
    "Time from a handler's call to its return (its awaits included), per actor class.",
    lambda system: (),
)


@attrs.frozen
class JobFamily:
    """A metric of a job queue and the field of `JobQueueStatistics` it reads."""

    name: str
    kind: str
    unit: str
    description: str
    field: str

    def read(self, queue: JobQueue) -> Iterable[tuple[Labels, float]]:
        """The queue's value, labelled by its name."""
        return [((("queue", queue.name),), getattr(queue.statistics(), self.field))]


JOB_FAMILIES: tuple[JobFamily, ...] = tuple(
    JobFamily(f"actorlib.jobs.{name}", kind, unit, description, field)
    for name, kind, unit, description, field in [
        ("submitted", "counter", "{job}", "Jobs queued by this process.", "submitted"),
        ("attempts", "counter", "{attempt}", "Attempts started in this process.", "attempts"),
        ("succeeded", "counter", "{job}", "Jobs that succeeded in this process.", "succeeded"),
        ("failed", "counter", "{job}", "Jobs that failed for good in this process.", "failed"),
        ("retried", "counter", "{attempt}", "Failed attempts that will run again.", "retried"),
        ("cancelled", "counter", "{job}", "Jobs cancelled in this process.", "cancelled"),
        ("running", "gauge", "{job}", "Attempts running in this process now.", "running_here"),
        ("wait.time", "counter", "s", "Time attempts waited from due to start.", "wait_seconds"),
        ("run.time", "counter", "s", "Time the attempts that ended ran.", "run_seconds"),
    ]
)


def check_sources(sources: Iterable[object], caller: str) -> None:
    """Raise unless every source is an ActorSystem or a JobQueue.

    Raises:
        TypeError: one is neither.
    """
    for source in sources:
        if not isinstance(source, ActorSystem | JobQueue):
            raise TypeError(f"{caller} expects ActorSystem or JobQueue objects, got {source!r}")


def collect(*sources: Source) -> list[MetricSample]:
    """Read every counter and gauge of *sources* now (histograms: see `HandlerTimes`).

    Args:
        sources: actor systems (their actors, per class and in all) and job
            queues (their jobs, as `JobQueue.statistics` counts them).

    Cheap enough to call on every scrape: it reads counters the runtime
    keeps anyway, with one pass over the live actors per per-class metric.

    Raises:
        TypeError: a source is neither an ActorSystem nor a JobQueue.
    """
    check_sources(sources, "collect()")
    samples: list[MetricSample] = []
    for source in sources:
        if isinstance(source, ActorSystem):
            for family in FAMILIES:
                samples += [
                    MetricSample(family.name, family.kind, family.unit, family.description, *row)
                    for row in family.read(source)
                ]
        else:
            for job_family in JOB_FAMILIES:
                samples += [
                    MetricSample(
                        job_family.name,
                        job_family.kind,
                        job_family.unit,
                        job_family.description,
                        *row,
                    )
                    for row in job_family.read(source)
                ]
    return samples


def handler_times(sources: Sequence[Source]) -> list[tuple[ActorSystem, HandlerTimes]]:
    """The systems among *sources* whose handlers are timed, with their histograms."""
    return [
        (system, observer)
        for system in sources
        if isinstance(system, ActorSystem)
        and isinstance(observer := system.handler_observer, HandlerTimes)
    ]
