"""The handler-time histogram: a HandlerObserver that times each handler call per actor class."""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from actorlib import ActorSystem

from ._observers import add_observer

# Upper bounds in seconds, from 100 µs to 10 s (Prometheus's `le` buckets).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip

Sink = Callable[[float, str], None]


@attrs.frozen
class HandlerTimeHistogram:
    """A snapshot of the handler times of one actor class (`HandlerTimes.snapshot`).

    Attributes:
        actor_class: the class, as ``module.QualifiedName``.
        bounds: the buckets' upper bounds, in seconds, ascending.
        counts: calls per bucket (not cumulative); one more than *bounds*:
            the last counts the calls above the largest bound.
        total: the sum of all durations, in seconds.
    """

    actor_class: str
    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        """How many calls were timed."""
        return sum(self.counts)


class _Bins:
    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.total = 0.0


class HandlerTimes:
    """Times every handler call of a system, per actor class (see `time_handlers`).

    A handler answered directly in its asker's task (an ask to an idle actor
    whose handler never awaits, see the guide's "Ask" section) is counted in
    ``actorlib.messages.handled`` but not timed: it runs in microseconds.

    Args:
        bounds: the buckets' upper bounds in seconds, ascending.

    Raises:
        ValueError: *bounds* is empty or not strictly ascending.
    """

    def __init__(self, bounds: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        if not bounds or any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
            raise ValueError(f"bounds must be a non-empty ascending tuple, got {bounds!r}")
        self.bounds = tuple(float(bound) for bound in bounds)
        self._bins: dict[type, tuple[str, _Bins]] = {}
        self._sinks: list[Sink] = []

    def add_sink(self, sink: Sink) -> None:
        """Also pass each duration, with its class label, to *sink* (an OpenTelemetry histogram)."""
        self._sinks.append(sink)

    async def observe(
        self, cell: Any, handler: Callable[[Any], Awaitable[object]], message: object
    ) -> object:
        """HandlerObserver protocol: time ``await handler(message)``."""
        started = time.perf_counter()
        try:
            return await handler(message)
        finally:
            self._record(cell.factory[0], time.perf_counter() - started)

    def _record(self, actor_class: type, seconds: float) -> None:
        entry = self._bins.get(actor_class)
        if entry is None:
            label = f"{actor_class.__module__}.{actor_class.__qualname__}"
            entry = self._bins[actor_class] = (label, _Bins(len(self.bounds) + 1))
        label, bins = entry
        bins.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        bins.total += seconds
        for sink in self._sinks:
            sink(seconds, label)

    def snapshot(self) -> list[HandlerTimeHistogram]:
        """The histograms so far, one per actor class, sorted by class."""
        return sorted(
            (
                HandlerTimeHistogram(label, self.bounds, tuple(bins.counts), bins.total)
                for label, bins in list(self._bins.values())  # safe from another thread
            ),
            key=lambda histogram: histogram.actor_class,
        )


def time_handlers(system: ActorSystem) -> HandlerTimes:
    """Time every handler call of *system* from now on, and return the histograms.

    Idempotent: a second call returns the same `HandlerTimes`. Timing costs
    two clock reads and a bucket search per message (see docs/observability.md
    for the measured cost), so it is off until asked for.

    Composes with tracing (`OpenTelemetryTracing`): both wrap each handler.
    """
    return add_observer(system, HandlerTimes, HandlerTimes)
