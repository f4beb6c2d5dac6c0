"""The blocked-loop watchdog names the actor, the message type and the line that holds the loop."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

import attrs
import pytest
import trio

from actorlib import Actor, ActorSystem
from actorlib._watchdog import Watchdog, _waiting_for_io

pytestmark = pytest.mark.anyio


@attrs.frozen
class Nap:
    """Block the loop until the watchdog has warned."""


@attrs.frozen
class Doze:
    """Block the loop for a fixed while (long enough to be noticed)."""

    seconds: float


class Warnings(logging.Handler):
    """Collects the watchdog's warnings; `seen` is set by each one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "blocked the event loop" in message or "has been blocked" in message:
            self.messages.append(message)
            self.seen.set()

    def block_until_seen(self) -> None:
        """Hold the event loop (a blocking sleep, on purpose) until a warning arrives."""
        self.seen.clear()
        deadline = time.monotonic() + 30
        while not self.seen.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # the line the watchdog must name


@pytest.fixture
def warnings() -> Iterator[Warnings]:
    handler = Warnings()
    logger = logging.getLogger("actorlib")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class Sleeper(Actor):
    def __init__(self, warnings: Warnings) -> None:
        self.warnings = warnings

    async def receive(self, message: object) -> None:
        match message:
            case Nap():
                self.warnings.block_until_seen()
            case Doze(seconds):
                time.sleep(seconds)  # noqa: ASYNC251 - the blocking call under test


def _watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("actorlib-watchdog-")]


async def test_a_handler_that_blocks_the_loop_is_named_with_its_message_type_and_line(
    warnings: Warnings,
) -> None:
    async with ActorSystem("blocked", slow_callback=0.05) as system:
        sleeper = await system.spawn(Sleeper, warnings, name="sleeper")
        await sleeper.ask(Nap(), timeout=None)
    [message] = warnings.messages
    assert "actor /user/sleeper (Sleeper) has blocked the event loop" in message
    assert "while handling Nap" in message
    assert "slow_callback=0.05" in message
    assert "in block_until_seen" in message
    assert "time.sleep(0.01)  # the line the watchdog must name" in message
    # The stack is cut to the handler: the runtime's frames below it are left out.
    assert "in receive" in message
    assert "_dispatch.py" not in message


async def test_the_same_actor_and_message_type_warn_once_a_minute_another_type_warns_again(
    warnings: Warnings,
) -> None:
    async with ActorSystem("repeat", slow_callback=0.05) as system:
        sleeper = await system.spawn(Sleeper, warnings, name="sleeper")
        await sleeper.ask(Doze(0.5), timeout=None)
        await sleeper.ask(Doze(0.5), timeout=None)
        await sleeper.ask(Nap(), timeout=None)
    assert len(warnings.messages) == 2, warnings.messages
    assert "while handling Doze" in warnings.messages[0]
    assert "while handling Nap" in warnings.messages[1]


async def test_a_block_outside_any_actor_is_reported_with_the_loops_stack(
    warnings: Warnings,
) -> None:
    async with ActorSystem("outside", slow_callback=0.05):
        warnings.block_until_seen()
    [message] = warnings.messages
    assert "blocked for" in message
    assert "outside any actor" in message
    assert "time.sleep(0.01)  # the line the watchdog must name" in message


async def test_the_watchdog_thread_stops_with_the_system() -> None:
    before = len(_watchdog_threads())
    async with ActorSystem("stops", slow_callback=0.05):
        assert len(_watchdog_threads()) == before + 1
    assert len(_watchdog_threads()) == before


@pytest.mark.parametrize("off", [None, 0])
async def test_slow_callback_none_or_zero_starts_no_watchdog(off: float | None) -> None:
    before = len(_watchdog_threads())
    async with ActorSystem("quiet", slow_callback=off):
        assert len(_watchdog_threads()) == before


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan")])
def test_a_negative_or_infinite_slow_callback_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="slow_callback must be a finite number of seconds > 0"):
        ActorSystem("bad", slow_callback=bad)


def test_a_slow_callback_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(TypeError, match="slow_callback must be a number of seconds or None"):
        ActorSystem("bad", slow_callback="0.1")  # type: ignore[arg-type]


def _asyncio_loop_idle_until(done: threading.Event) -> None:
    async def idle() -> None:
        await asyncio.get_running_loop().run_in_executor(None, done.wait)

    asyncio.run(idle())


def _trio_loop_idle_until(done: threading.Event) -> None:
    async def idle() -> None:
        await trio.to_thread.run_sync(done.wait)

    trio.run(idle)


def _wait_until_waiting_for_io(thread: threading.Thread) -> None:
    assert thread.ident is not None
    deadline = time.monotonic() + 10
    while True:
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and _waiting_for_io(frame):
            return
        assert time.monotonic() < deadline, "the loop never reached its wait for I/O"
        time.sleep(0.001)


@pytest.mark.parametrize("idle_loop", [_asyncio_loop_idle_until, _trio_loop_idle_until])
def test_a_loop_waiting_for_io_is_not_reported_even_while_a_probe_is_unanswered(
    warnings: Warnings, idle_loop: Callable[[threading.Event], None]
) -> None:
    # The moment a blocking step ends, the loop waits for I/O with the probe's
    # wake-up on its way: a look at its stack then found no actor and reported a
    # block "outside any actor" (seen on trio). A probe never answered stands in
    # for that moment. The watchdog watches only while the loop idles: a loop
    # starting up or closing runs code, and an unanswered probe then is a block.
    done = threading.Event()
    loop_thread = threading.Thread(target=idle_loop, args=(done,))
    loop_thread.start()
    try:
        _wait_until_waiting_for_io(loop_thread)
        assert loop_thread.ident is not None
        watchdog = Watchdog("idle", 0.05, lambda callback: None, loop_thread.ident)
        watchdog.start()
        time.sleep(0.4)  # eight thresholds with the probe unanswered
        watchdog.stop()
    finally:
        done.set()
        loop_thread.join()
    assert warnings.messages == []
