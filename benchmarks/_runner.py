"""Runs scenario variants on each backend, repeated and interleaved; knows nothing about output."""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, TypeVarTuple

import anyio
import attrs

from benchmarks._scenario import Measure, Scenario, Variant

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SYSTEMS = ("actorlib", "raw")
_REPO_ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen
class Backend:
    """An event loop to run the variants on, by its command-line name."""

    name: str
    anyio_backend: str
    use_uvloop: bool = False

    def run(self, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """Run `fn(*args)` in a new event loop of this kind (`anyio.run`)."""
        options: dict[str, object] = {"use_uvloop": True} if self.use_uvloop else {}
        return anyio.run(fn, *args, backend=self.anyio_backend, backend_options=options)


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("asyncio", "asyncio"),
        Backend("trio", "trio"),
        Backend("uvloop", "asyncio", use_uvloop=True),
    )
}


@attrs.frozen
class Run:
    """Every repetition of one variant of one scenario on one backend.

    Attributes:
        samples: the reported figure of each repetition, in `unit`.
        seconds: elapsed time of each repetition (rate scenarios only).
        error: why the variant stopped early, if it did (its samples so far are kept).
    """

    scenario: str
    backend: str
    system: str
    unit: str
    size: int
    samples: tuple[float, ...]
    seconds: tuple[float, ...]
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def min(self) -> float | None:
        return min(self.samples, default=None)

    @property
    def max(self) -> float | None:
        return max(self.samples, default=None)


@attrs.frozen
class Comparison:
    """actorlib beside raw anyio for one scenario on one backend."""

    scenario: Scenario
    backend: str
    actorlib: Run
    raw: Run

    @property
    def ratio(self) -> float | None:
        """actorlib median / raw median, in the scenario's unit."""
        if self.actorlib.median is None or not self.raw.median:
            return None
        return self.actorlib.median / self.raw.median

    @property
    def target_applies(self) -> bool:
        # The issue states its targets for the asyncio backend; the others are reported only.
        return self.backend == "asyncio" and self.scenario.target is not None

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None where it does not apply or cannot be judged."""
        ratio, median = self.ratio, self.actorlib.median
        target = self.scenario.target
        if not self.target_applies or target is None or ratio is None or median is None:
            return None
        return target.is_met(median, ratio)


def compare(
    scenario: Scenario,
    backend: Backend,
    *,
    size: int,
    repeat: int,
    timeout: float,
    warmup: bool,
) -> Comparison:
    """Run both variants `repeat` times, alternating which goes first, in this process.

    Alternating the order cancels slow drift (thermal, heap growth) between the
    two sides; a variant that raises is recorded with its error and not rerun.
    """
    values: dict[str, list[float]] = {system: [] for system in SYSTEMS}
    errors: dict[str, str | None] = dict.fromkeys(SYSTEMS)
    variants: dict[str, Variant] = {"actorlib": scenario.actorlib, "raw": scenario.raw}
    plan: list[tuple[str, int, bool]] = []
    if warmup and not scenario.isolated:
        plan += [(system, max(1, size // 20), False) for system in SYSTEMS]
    for repetition in range(repeat):
        order = SYSTEMS if repetition % 2 == 0 else SYSTEMS[::-1]
        plan += [(system, size, True) for system in order]
    for system, run_size, recorded in plan:
        if errors[system] is not None:
            continue
        try:
            value = _run_variant(variants[system], backend, run_size, timeout, scenario.isolated)
        except Exception as exc:
            errors[system] = _describe(exc)
        else:
            if recorded:
                values[system].append(value)
    runs = {
        system: _make_run(scenario, backend, system, size, values[system], errors[system])
        for system in SYSTEMS
    }
    return Comparison(scenario, backend.name, runs["actorlib"], runs["raw"])


def _describe(exc: BaseException) -> str:
    """Name the error; a task group's group of one is unwrapped to the error inside."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}".strip()


def _make_run(
    scenario: Scenario,
    backend: Backend,
    system: str,
    size: int,
    values: list[float],
    error: str | None,
) -> Run:
    rate = scenario.measure is Measure.RATE
    return Run(
        scenario=scenario.name,
        backend=backend.name,
        system=system,
        unit=scenario.unit,
        size=size,
        samples=tuple(scenario.figure(size, value) for value in values),
        seconds=tuple(values) if rate else (),
        error=error,
    )


def _run_variant(
    variant: Variant, backend: Backend, size: int, timeout: float, isolated: bool
) -> float:
    if isolated:
        return _run_isolated(variant, backend, size, timeout)
    gc.collect()
    return backend.run(_bounded, variant, size, timeout)


async def _bounded(variant: Variant, size: int, timeout: float) -> float:
    with anyio.fail_after(timeout):
        return await variant(size)


def _run_isolated(variant: Variant, backend: Backend, size: int, timeout: float) -> float:
    """Run `variant` in a fresh interpreter (see `benchmarks._isolated`) and return its result."""
    command = [
        sys.executable,
        "-m",
        "benchmarks._isolated",
        variant.__module__,
        variant.__qualname__,
        backend.name,
        str(size),
    ]
    done = subprocess.run(
        command, cwd=_REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"isolated run exited with {done.returncode}: {last_line}")
    return float(json.loads(done.stdout.strip().splitlines()[-1]))
