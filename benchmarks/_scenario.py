"""What a benchmark scenario declares: variants, size, unit, target; knows nothing of running."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs

#: One side of a scenario: does `size` units of work and returns elapsed seconds
#: (`Measure.RATE`) or the measured figure itself (`Measure.AMOUNT`).
Variant = Callable[[int], Awaitable[float]]
#: A peer with its own runtime (threads, its own scheduler): a plain function
#: that does `size` units of work and returns elapsed seconds.
BlockingVariant = Callable[[int], float]


class Measure(enum.Enum):
    """How a variant's return value becomes the reported figure."""

    RATE = "rate"
    """The variant returns seconds; the figure is size / seconds (higher is better)."""
    AMOUNT = "amount"
    """The variant returns the figure itself, e.g. bytes per actor (lower is better)."""


class Target(Protocol):
    """A pass mark; checked on the asyncio backend only (the issue's targets are for it)."""

    def describe(self) -> str:
        """The target as shown in the table, e.g. ``>= 0.8x``."""
        ...

    def is_met(self, actorlib: float, ratio: float) -> bool:
        """Whether the actorlib median (and its ratio to raw) meets the target."""
        ...


@attrs.frozen
class RatioAtLeast:
    """actorlib must reach at least `minimum` times the raw figure."""

    minimum: float

    def describe(self) -> str:
        return f">= {self.minimum:g}x"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return ratio >= self.minimum


@attrs.frozen
class ValueBelow:
    """actorlib's own figure must stay under `maximum` (in the scenario's unit)."""

    maximum: float
    label: str

    def describe(self) -> str:
        return f"< {self.label}"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return actorlib < self.maximum


class PeerUnavailableError(Exception):
    """A peer's module raises it on import when something it needs is missing (a server
    that is down, say): the peer then shows as n/a with this message, like one not installed."""


@attrs.frozen
class ValueAtMost:
    """actorlib's own figure must not exceed `maximum` (in the scenario's unit)."""

    maximum: float
    label: str

    def describe(self) -> str:
        return f"<= {self.label}"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return actorlib <= self.maximum


@attrs.frozen
class ValueAtLeast:
    """actorlib's own figure must reach `minimum` (in the scenario's unit)."""

    minimum: float
    label: str

    def describe(self) -> str:
        return f">= {self.label}"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return actorlib >= self.minimum


@attrs.frozen
class Ahead:
    """A peer's pass mark: actorlib must reach `factor` times its figure (1: strictly more).

    Judged on the peer's row, whose figure is shown as peer / actorlib, on the
    asyncio backend (peers with their own runtime: against actorlib on asyncio).
    """

    factor: float

    def describe(self) -> str:
        """The mark on the peer / actorlib column: ``< 1x`` or ``<= 0.2x``."""
        return "< 1x" if self.factor == 1 else f"<= {1 / self.factor:g}x"

    def is_met(self, versus: float) -> bool:
        """Whether peer / actorlib = `versus` passes."""
        return versus < 1 if self.factor == 1 else versus <= 1 / self.factor


#: The issue's marks for every scenario: ahead of Thespian's simpleSystemBase.
AHEAD_OF_THESPIAN = {"thespian": Ahead(1)}
#: The issue's marks on ping-pong, ring and fan-in: 5x Pykka and xoscar as well.
FIVE_TIMES = {"pykka": Ahead(5), "xoscar": Ahead(5), **AHEAD_OF_THESPIAN}


@attrs.frozen
class Peer:
    """Another system doing a scenario's work through its own public API.

    The variant is imported only when it runs, so a peer that is not installed
    shows as n/a instead of breaking the whole run.

    Attributes:
        module: where the variant lives, e.g. ``benchmarks.peers.pykka_``.
        function: the variant's name in `module`.
        install: what to ``pip install`` when importing `module` fails.
        own_runtime: the variant is a `BlockingVariant` that brings its own
            runtime (threads, its own scheduler): it runs once, under backend
            ``-``, not on each anyio backend.
        backends: the anyio backends an async variant can run on (None: all).
        unavailable: why this peer cannot do the scenario at all (it lacks the
            feature, say); it is then shown as n/a with this reason, never run.
    """

    module: str
    function: str
    install: str
    own_runtime: bool = attrs.field(default=False, kw_only=True)
    backends: tuple[str, ...] | None = attrs.field(default=None, kw_only=True)
    unavailable: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Scenario:
    """One pattern, written once with actorlib and once with raw anyio streams.

    Attributes:
        name: selects the scenario on the command line.
        unit: unit of the reported figure, e.g. ``round trips/s``.
        size: units of work per run at full scale (round trips, messages, hops, actors).
        describe: the workload in words for a given size, e.g. ``4 senders x 250,000 tells``.
        actorlib: the variant on actorlib's public API.
        raw: the baseline: the same work on raw anyio memory object streams (or,
            for the simulator, on a plain ActorSystem).
        target: the issue's pass mark; None where the issue asks for figures only.
        target_versus: the system the target's ratio is taken against: raw, or a
            peer where the issue sets the mark against one (the job queue: arq).
        measure: how the variants' return values become figures.
        isolated: run every repetition in a fresh interpreter (memory figures must
            not see the heap of earlier runs).
        peers: other systems doing the same work, by the name shown in the table.
        also: a second unit the figure converts to, and the factor, e.g.
            ``("restarts/s", 0.1)`` beside msgs/s; shown after the median.
        peer_targets: the issue's pass marks for peers, by peer name.
        max_repeat: run at most this many repetitions, for a figure that barely
            varies between runs (actorlib's RSS per actor, within bytes) and
            costs a fresh interpreter of 100k actors each time.
        backends: the anyio backends the scenario runs on at all (None: every
            one); others are left out of its table (the cluster needs NATS,
            whose client runs on asyncio only).
    """

    name: str
    unit: str
    size: int
    describe: Callable[[int], str]
    actorlib: Variant
    raw: Variant
    target: Target | None
    measure: Measure = Measure.RATE
    isolated: bool = False
    peers: Mapping[str, Peer] = attrs.field(factory=dict, kw_only=True)
    also: tuple[str, float] | None = attrs.field(default=None, kw_only=True)
    max_repeat: int | None = attrs.field(default=None, kw_only=True)
    peer_targets: Mapping[str, Ahead] = attrs.field(
        factory=lambda: dict(AHEAD_OF_THESPIAN), kw_only=True
    )
    target_versus: str = attrs.field(default="raw", kw_only=True)
    backends: tuple[str, ...] | None = attrs.field(default=None, kw_only=True)

    def figure(self, size: int, result: float) -> float:
        """Turn a variant's return value for `size` units into the reported figure."""
        if self.measure is Measure.RATE:
            return size / result
        return result
