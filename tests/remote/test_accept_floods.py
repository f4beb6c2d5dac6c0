"""A node that runs out of descriptors in waves logs a bounded number of lines."""

from __future__ import annotations

import errno
import logging

import anyio
import anyio.lowlevel
import pytest

from actorlib.remote._gate import FLOODS_LOGGED_EVERY, accept_all

pytestmark = pytest.mark.anyio


class _Clock:
    """Time that passes only when slept through: a wave of floods takes no real time."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.time = max(self.time, deadline)
        await anyio.lowlevel.checkpoint()


class _Stop(Exception):
    """The script of accepts is over."""


class _Listener:
    """accept() as scripted: "full" fails out of descriptors, "ok" accepts, a number waits."""

    def __init__(self, clock: _Clock, script: list[str | float]) -> None:
        self.clock = clock
        self.script = script

    async def accept(self) -> object:
        if not self.script:
            raise _Stop
        step = self.script.pop(0)
        if step == "full":
            raise OSError(errno.EMFILE, "Too many open files")
        if isinstance(step, float):
            await self.clock.sleep_until(self.clock.now() + step)
        return object()


async def test_floods_in_waves_are_logged_once_per_interval_with_the_count_of_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    wave = ["full", "full", "ok"]
    script: list[str | float] = [*wave * 50, FLOODS_LOGGED_EVERY, *wave]
    admitted: list[object] = []
    caplog.set_level(logging.INFO, logger="actorlib.remote")
    with pytest.raises(_Stop):
        await accept_all(_Listener(clock, script), admitted.append, clock, "n1")  # type: ignore[arg-type]
    assert len(admitted) == 52  # every connection accepted once descriptors were free
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 2  # the first wave, and the first after the interval
    assert "cannot accept connections" in warnings[0]
    assert warnings[1].endswith("; 49 floods since the last one were not logged")
    assert infos == ["node n1 accepts connections again (2 accepts failed)"] * 2
