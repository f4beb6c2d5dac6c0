"""Runs each system of a scenario on each backend, repeated and interleaved; prints nothing."""

from __future__ import annotations

import gc
import importlib
import json
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar, TypeVarTuple, cast

import anyio
import attrs

from benchmarks._scenario import (
    Ahead,
    BlockingVariant,
    Measure,
    Peer,
    PeerUnavailableError,
    Scenario,
    Variant,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

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


#: The backend label of peers that bring their own runtime and run once.
OWN_RUNTIME = "-"
#: Peers with their own runtime are compared with actorlib on this backend.
REFERENCE_BACKEND = "asyncio"

#: Called after each planned run (skipped ones included) with what it was.
OnStep = Callable[[str], None]
#: Runs one repetition of one system at a size, within a timeout; returns its value.
_Runnable = Callable[[int, float], float]


@attrs.frozen
class Run:
    """Every repetition of one system on one scenario and backend.

    Attributes:
        samples: the reported figure of each repetition, in `unit`.
        seconds: elapsed time of each repetition (rate scenarios only).
        error: why the system stopped early, if it did (its samples so far are kept).
        unavailable: why the system could not run here at all (not installed,
            wrong event loop); it then has no samples and no error.
    """

    scenario: str
    backend: str
    system: str
    unit: str
    size: int
    samples: tuple[float, ...]
    seconds: tuple[float, ...]
    error: str | None = None
    unavailable: str | None = None

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
class Result:
    """Every run of one scenario: each system on each backend it was measured on."""

    scenario: Scenario
    runs: tuple[Run, ...]

    def find(self, backend: str, system: str) -> Run | None:
        """The run of `system` on `backend`, if there is one."""
        for run in self.runs:
            if run.backend == backend and run.system == system:
                return run
        return None

    def versus_actorlib(self, run: Run) -> float | None:
        """`run`'s median / actorlib's on the same backend (own runtimes: on asyncio)."""
        backend = REFERENCE_BACKEND if run.backend == OWN_RUNTIME else run.backend
        reference = self.find(backend, "actorlib")
        if reference is None or run.median is None or not reference.median:
            return None
        return run.median / reference.median

    def ratio(self, backend: str, versus: str = "raw") -> float | None:
        """actorlib median / raw anyio median (or `versus`'s) on `backend`, in its unit."""
        actorlib, raw = self.find(backend, "actorlib"), self.find(backend, versus)
        if raw is None and backend == REFERENCE_BACKEND:
            raw = self.find(OWN_RUNTIME, versus)  # a peer with its own runtime (Celery)
        if actorlib is None or raw is None or actorlib.median is None or not raw.median:
            return None
        return actorlib.median / raw.median

    def peer_target(self, run: Run) -> Ahead | None:
        """The issue's mark for a peer's row, where it applies (asyncio or own runtime)."""
        if run.backend not in (REFERENCE_BACKEND, OWN_RUNTIME):
            return None
        return self.scenario.peer_targets.get(run.system)

    def peer_met(self, run: Run) -> bool | None:
        """Whether a peer's row meets its mark; None where none applies or it did not run."""
        target, versus = self.peer_target(run), self.versus_actorlib(run)
        if target is None or versus is None:
            return None
        return target.is_met(versus)

    def target_applies(self, backend: str) -> bool:
        # The issue states its targets for the asyncio backend; the others are reported only.
        return backend == REFERENCE_BACKEND and self.scenario.target is not None

    def met(self, backend: str) -> bool | None:
        """Whether the target is met; None where it does not apply or cannot be judged."""
        actorlib = self.find(backend, "actorlib")
        ratio = self.ratio(backend, self.scenario.target_versus)
        target = self.scenario.target
        median = None if actorlib is None else actorlib.median
        if not self.target_applies(backend) or target is None or ratio is None or median is None:
            return None
        return target.is_met(median, ratio)


def planned_runs(
    scenario: Scenario, backends: Sequence[Backend], *, repeat: int, warmup: bool
) -> int:
    """How many times `measure` will call its `on_step` for these arguments."""
    per_system = _repeat(scenario, repeat) + (1 if warmup and not scenario.isolated else 0)
    return sum(len(systems) for _, systems in _groups(scenario, backends)) * per_system


def measure(
    scenario: Scenario,
    backends: Sequence[Backend],
    *,
    size: int,
    repeat: int,
    timeout: float,
    warmup: bool,
    on_step: OnStep = lambda _: None,
) -> Result:
    """Run every system of `scenario` `repeat` times on each backend, in this process.

    On each backend the systems take turns, in an order rotated every
    repetition, which cancels slow drift (thermal, heap growth) between them;
    peers with their own runtime take turns among themselves once, under
    backend `OWN_RUNTIME`. A system that raises is recorded with its error and
    not rerun; one that cannot run is recorded as unavailable.
    """
    runs: list[Run] = []
    for label, systems in _groups(scenario, backends):
        runnables: dict[str, _Runnable] = {}
        unavailable: dict[str, str] = {}
        for name, loaded in systems.items():
            if isinstance(loaded, str):
                unavailable[name] = loaded
            else:
                runnables[name] = loaded
        values: dict[str, list[float]] = {name: [] for name in systems}
        errors: dict[str, str | None] = dict.fromkeys(systems)
        for name, run_size, recorded in _plan(list(systems), scenario, size, repeat, warmup):
            if name not in unavailable and errors[name] is None:
                try:
                    value = runnables[name](run_size, timeout)
                except Exception as exc:
                    errors[name] = _describe(exc)
                else:
                    if recorded:
                        values[name].append(value)
            on_step(f"{scenario.name} {label} {name}")
        runs += [
            _make_run(
                scenario, label, name, size, values[name], errors[name], unavailable.get(name)
            )
            for name in systems
        ]
    return Result(scenario, tuple(runs))


def _plan(
    systems: list[str], scenario: Scenario, size: int, repeat: int, warmup: bool
) -> list[tuple[str, int, bool]]:
    """(system, size, recorded) in run order: warm-ups first, then rotated repetitions."""
    plan: list[tuple[str, int, bool]] = []
    if warmup and not scenario.isolated:
        plan += [(system, max(1, size // 20), False) for system in systems]
    for repetition in range(_repeat(scenario, repeat)):
        shift = repetition % max(1, len(systems))
        order = systems[shift:] + systems[:shift]
        plan += [(system, size, True) for system in order]
    return plan


def _repeat(scenario: Scenario, repeat: int) -> int:
    return repeat if scenario.max_repeat is None else min(repeat, scenario.max_repeat)


def _groups(
    scenario: Scenario, backends: Sequence[Backend]
) -> list[tuple[str, dict[str, _Runnable | str]]]:
    """(backend label, system -> runnable or why it is unavailable), in table order."""
    groups: list[tuple[str, dict[str, _Runnable | str]]] = []
    for backend in backends:
        if scenario.backends is not None and backend.name not in scenario.backends:
            continue
        systems: dict[str, _Runnable | str] = {
            "actorlib": _on_backend(scenario.actorlib, backend, scenario.isolated),
            "raw": _on_backend(scenario.raw, backend, scenario.isolated),
        }
        for name, peer in scenario.peers.items():
            if not peer.own_runtime:
                systems[name] = _load_async(peer, backend, scenario.isolated)
        groups.append((backend.name, systems))
    own = {name: _load_blocking(peer) for name, peer in scenario.peers.items() if peer.own_runtime}
    if own:
        groups.append((OWN_RUNTIME, dict(own)))
    return groups


def _on_backend(variant: Variant, backend: Backend, isolated: bool) -> _Runnable:
    return lambda size, timeout: _run_variant(variant, backend, size, timeout, isolated)


def _load(peer: Peer) -> object:
    if peer.unavailable is not None:
        return peer.unavailable
    try:
        module = importlib.import_module(peer.module)
    except ImportError as exc:
        return f"not installed (pip install {peer.install}): {exc}"
    except PeerUnavailableError as exc:
        return str(exc)
    return getattr(module, peer.function)


def _load_async(peer: Peer, backend: Backend, isolated: bool) -> _Runnable | str:
    if peer.unavailable is None and peer.backends and backend.name not in peer.backends:
        return f"runs on {' and '.join(peer.backends)} only"
    loaded = _load(peer)
    if isinstance(loaded, str):
        return loaded
    return _on_backend(cast(Variant, loaded), backend, isolated)


def _load_blocking(peer: Peer) -> _Runnable | str:
    loaded = _load(peer)
    if isinstance(loaded, str):
        return loaded
    variant = cast(BlockingVariant, loaded)

    def run(size: int, timeout: float) -> float:
        # Its own runtime cannot be cancelled from here; a hang shows as the
        # whole command hanging, so peers keep their own waits bounded.
        _collect_garbage()
        return variant(size)

    return run


def _describe(exc: BaseException) -> str:
    """Name the error; a task group's group of one is unwrapped to the error inside."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}".strip()


def _make_run(
    scenario: Scenario,
    backend: str,
    system: str,
    size: int,
    values: list[float],
    error: str | None,
    unavailable: str | None,
) -> Run:
    rate = scenario.measure is Measure.RATE
    return Run(
        scenario=scenario.name,
        backend=backend,
        system=system,
        unit=scenario.unit,
        size=size,
        samples=tuple(scenario.figure(size, value) for value in values),
        seconds=tuple(values) if rate else (),
        error=error,
        unavailable=unavailable,
    )


def _run_variant(
    variant: Variant, backend: Backend, size: int, timeout: float, isolated: bool
) -> float:
    if isolated:
        return _run_isolated(variant, backend, size, timeout)
    _collect_garbage()
    return backend.run(_bounded, variant, size, timeout)


def _collect_garbage() -> None:
    """Start a run with no garbage left by the last, and none of it scanned again.

    What survives a full collection here (modules, peers' registries) lives
    as long as the process: frozen, later collections skip it, so they stay
    short (about 70 ms each with every peer imported, before) and a run's
    own collections do not walk the whole heap.
    """
    gc.collect()
    gc.freeze()


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
