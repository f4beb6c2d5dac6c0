"""The metrics of systems as OpenTelemetry observable instruments, read at collection time."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from actorlib import ActorSystem, __version__
from actorlib.jobs import JobQueue
from actorlib.remote import NodeTransport
from actorlib.remote._traffic import RTT_BUCKETS

from ._handler_times import DEFAULT_BUCKETS, time_handlers
from ._samples import FAMILIES, HANDLER_DURATION, JOB_FAMILIES, ROUND_TRIP, Family, JobFamily

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

EXTRA_HINT = 'install the otel extra: pip install "actorlib[otel]"'


def _api() -> object:
    try:
        import opentelemetry.metrics as api
    except ImportError as error:
        raise ImportError(
            f"actorlib.observability's OpenTelemetry metrics need opentelemetry-api; {EXTRA_HINT}"
        ) from error
    return api


class OpenTelemetryMetrics:
    """Publishes the metrics of actor systems through the OpenTelemetry metrics API.

    The instruments are observable: their callbacks read the counters the
    runtime keeps anyway (`ActorSystem.statistics`,
    `ActorSystem.class_statistics`) when the SDK collects, so the message
    path pays nothing; without an SDK configured, nothing is ever collected.
    The round-trip times of a remote system's links are a histogram recorded
    as each is measured (about once a second per link).
    The names and units are listed in docs/observability.md.

    Args:
        meter_provider: where the instruments live; the global provider
            (``opentelemetry.metrics.get_meter_provider()``) by default.

    Raises:
        ImportError: opentelemetry-api is not installed (the ``otel`` extra).
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        _api()
        from opentelemetry import metrics

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("actorlib", __version__)
        self._systems: weakref.WeakSet[ActorSystem] = weakref.WeakSet()
        self._queues: weakref.WeakSet[JobQueue] = weakref.WeakSet()
        families: tuple[Family | JobFamily, ...] = (*FAMILIES, *JOB_FAMILIES)
        for family in families:
            create = (
                meter.create_observable_counter
                if family.kind == "counter"
                else meter.create_observable_gauge
            )
            create(
                family.name,
                callbacks=[self._callback(family)],
                unit=family.unit,
                description=family.description,
            )
        self._histogram = meter.create_histogram(
            HANDLER_DURATION.name,
            unit=HANDLER_DURATION.unit,
            description=HANDLER_DURATION.description,
            explicit_bucket_boundaries_advisory=DEFAULT_BUCKETS,
        )
        self._round_trips = meter.create_histogram(
            ROUND_TRIP.name,
            unit=ROUND_TRIP.unit,
            description=ROUND_TRIP.description,
            explicit_bucket_boundaries_advisory=RTT_BUCKETS,
        )
        self._transports: weakref.WeakSet[NodeTransport] = weakref.WeakSet()

    def watch(self, source: ActorSystem | JobQueue, *, handler_time: bool = False) -> None:
        """Publish the metrics of *source* (held weakly: watching keeps nothing alive).

        Args:
            source: an actor system, or a job queue (`actorlib.jobs.JobQueue`).
            handler_time: also record ``actorlib.handler.duration``, a
                histogram of every handler call of the system (see
                `time_handlers` for what it costs).

        Raises:
            TypeError: *source* is neither an ActorSystem nor a JobQueue, or
                *handler_time* is set for a job queue.
        """
        if isinstance(source, JobQueue):
            if handler_time:
                raise TypeError(
                    "handler_time times the handlers of an ActorSystem; watch the queue's "
                    "system with handler_time=True instead"
                )
            self._queues.add(source)
            return
        if not isinstance(source, ActorSystem):
            raise TypeError(f"watch() expects an ActorSystem or a JobQueue, got {source!r}")
        system = source
        if handler_time:
            times = time_handlers(system)
            times.add_sink(self._sink(system.name))
        transport = system.transport
        if isinstance(transport, NodeTransport) and transport not in self._transports:
            self._transports.add(transport)
            transport.add_round_trip_sink(self._round_trip_sink(system.name))
        self._systems.add(system)

    def _round_trip_sink(self, system_name: str) -> Callable[[str, float], None]:
        record = self._round_trips.record

        def sink(peer: str, seconds: float) -> None:
            record(seconds, {"system": system_name, "peer": peer})

        return sink

    def _sink(self, system_name: str) -> Callable[[float, str], None]:
        record = self._histogram.record
        attributes: dict[str, dict[str, str]] = {}

        def sink(seconds: float, label: str) -> None:
            labels = attributes.get(label)
            if labels is None:
                labels = attributes[label] = {"system": system_name, "actor_class": label}
            record(seconds, labels)

        return sink

    def _callback(
        self, family: Family | JobFamily
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from opentelemetry.metrics import Observation

        if isinstance(family, JobFamily):
            job_family = family

            def observe_queues(options: CallbackOptions) -> Iterable[Observation]:
                return [
                    Observation(value, dict(labels))
                    for queue in list(self._queues)
                    for labels, value in job_family.read(queue)
                ]

            return observe_queues
        system_family = family

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, dict(labels))
                for system in list(self._systems)
                for labels, value in system_family.read(system)
            ]

        return observe
