"""Percentiles of latency samples, and the samples a median run keeps for its p99 twin.

Latency scenarios come in pairs (a median and a 99th percentile) over the
same work. The runner measures the median scenario, then the p99 scenario,
each system in the same order on the same event loop; so the p99 scenario's
k-th run can read the samples of the median scenario's k-th run instead of
doing the same work again: both percentiles come from one set of samples, in
half the time. Run alone, a p99 scenario measures its own samples.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict, deque

# Samples a median run kept, by (system, event loop, size), oldest first.
_kept: dict[tuple[str, str, int], deque[list[float]]] = defaultdict(deque)


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of *samples* (0.5 for the median, 0.99 for p99)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median_keeping(system: str, size: int, samples: list[float]) -> float:
    """The median of *samples*; keeps them for the p99 run of the same system and size."""
    _kept[system, _event_loop(), size].append(samples)
    return percentile(samples, 0.5)


def take_kept(system: str, size: int) -> list[float] | None:
    """Samples a median run of this system, size and loop kept that no p99 run has used."""
    kept = _kept.get((system, _event_loop(), size))
    return kept.popleft() if kept else None


def _event_loop() -> str:
    # asyncio's and trio's own checks: anyio no longer depends on sniffio.
    try:
        return type(asyncio.get_running_loop()).__module__  # asyncio, or uvloop
    except RuntimeError:
        pass
    try:
        import trio
    except ImportError:
        return "-"
    return "trio" if trio.lowlevel.in_trio_run() else "-"  # "-": a peer with its own runtime
