"""The blocked-loop watchdog: a thread that names the actor holding the event loop.

One blocking call in one handler (``time.sleep(1)``, a CPU-bound loop)
freezes every actor of the process. The watchdog sees it from outside: a
daemon thread posts a probe callback to the event loop (asyncio's
``call_soon_threadsafe``, trio's ``run_sync_soon``) and the loop answers it
as soon as it gets a turn; a probe still unanswered after the threshold
means that one step of some task has held the loop that long. The thread
then reads the loop thread's stack (``sys._current_frames``), finds the
actor's cell in it and the message it is handling (`Cell.current`), and
logs one WARNING with the stack cut to the handler's frames.

The hot path pays nothing: no timestamps per message, no task. It knows the
message loop only through the code objects it looks for in the stack.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import CodeType, FrameType

from . import _loop as loop
from ._cell import Cell

logger = logging.getLogger("actorlib")

# At most one warning per (actor path, message type) per this many seconds.
REPEAT_AFTER = 60.0
# The rate-limit table forgets entries older than REPEAT_AFTER beyond this size.
_MAX_REMEMBERED = 1024
# Frames kept, innermost first, when no actor frame anchors the cut.
_FRAMES_WITHOUT_ACTOR = 12

# Where an idle event loop waits for I/O, as (file name, function): asyncio's
# selector loops and trio's I/O managers (Linux, BSD and macOS, Windows).
_IO_WAITS: frozenset[tuple[str, str]] = frozenset(
    {
        ("selectors.py", "select"),
        ("windows_events.py", "_poll"),
        ("_io_epoll.py", "get_events"),
        ("_io_kqueue.py", "get_events"),
        ("_io_windows.py", "get_events"),
    }
)

# Frames where a cell runs a message: their ``cell`` (or ``self``) local is it.
_ANCHORS: frozenset[CodeType] = frozenset(
    {loop.run.__code__, loop.invoke.__code__, Cell.post_ask.__code__}
)


def check_threshold(value: float | None) -> float | None:
    """Validate ``slow_callback``: seconds > 0, or None/0 to disable the watchdog.

    Raises:
        ValueError: a negative, infinite or NaN number.
        TypeError: not a number.
    """
    if value is None or (not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"slow_callback must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"slow_callback must be a finite number of seconds > 0 (or None/0 to disable "
            f"the blocked-loop watchdog), got {value!r}"
        )
    return float(value)


def current_poster() -> Callable[[Callable[[], None]], None]:
    """How another thread posts a callback to the event loop running this task."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        call_soon = running.call_soon_threadsafe

        def post(callback: Callable[[], None]) -> None:
            call_soon(callback)

        return post
    import trio  # the only other backend anyio runs actorlib on

    return trio.lowlevel.current_trio_token().run_sync_soon


class Watchdog:
    """Warns when the event loop of a system goes *threshold* seconds without a turn.

    Args:
        system_name: named in the thread's name.
        threshold: seconds one step may hold the loop before a warning.
        post: posts a callback to the event loop from another thread.
        loop_thread: the ident of the thread running the event loop.
    """

    def __init__(
        self,
        system_name: str,
        threshold: float,
        post: Callable[[Callable[[], None]], None],
        loop_thread: int,
    ) -> None:
        self.threshold = threshold
        self._post = post
        self._loop_thread = loop_thread
        self._stopping = threading.Event()
        self._posted = 0  # probes posted (written by the watchdog thread only)
        self._answered = 0  # probes answered (written by the loop thread only)
        self._warned: dict[tuple[str | None, str | None], float] = {}
        self._thread = threading.Thread(
            target=self._watch, name=f"actorlib-watchdog-{system_name}", daemon=True
        )

    def start(self) -> None:
        """Start the watching thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (it wakes at once: no thread is left behind)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _answer(self, number: int) -> None:
        # Runs on the event loop: it got a turn.
        self._answered = number

    def _watch(self) -> None:
        tick = self.threshold / 4
        posted_at = 0.0
        # The (actor, message type) pairs reported during the current
        # blocked stretch: one stretch may run several handlers in a row.
        reported: set[tuple[str | None, str | None]] = set()
        while not self._stopping.wait(tick):
            if self._answered == self._posted:
                self._posted += 1
                number = self._posted
                posted_at = time.monotonic()
                reported.clear()
                try:
                    self._post(functools.partial(self._answer, number))
                except Exception:  # the loop has closed under a system not shut down
                    return
            elif time.monotonic() - posted_at > self.threshold:
                self._report(time.monotonic() - posted_at, reported)

    def _report(self, held: float, reported: set[tuple[str | None, str | None]]) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:  # pragma: no cover - the loop thread has ended
            return
        if _waiting_for_io(frame):
            # The step that held the loop ended between the check and this look:
            # the loop waits for I/O, and the probe's wake-up is on its way.
            return
        cell, anchor = _find_cell(frame)
        message_type = None if cell is None else _message_type(cell, anchor)
        key = (None if cell is None else cell.path, message_type)
        if key in reported:
            return
        reported.add(key)
        now = time.monotonic()
        last = self._warned.get(key)
        if last is not None and now - last < REPEAT_AFTER:
            return
        self._remember(key, now)
        stack = "".join(traceback.format_list(_cut(frame, anchor)))
        if cell is None:
            logger.warning(
                "the event loop has been blocked for %.2f s (slow_callback=%g) outside any "
                "actor; move blocking or CPU-bound work off the loop (see 'Blocking and "
                "CPU-bound work' in the guide). The loop thread is at:\n%s",
                held,
                self.threshold,
                stack,
            )
            return
        logger.warning(
            "actor %s (%s) has blocked the event loop for %.2f s (slow_callback=%g) while "
            "handling %s: every other actor waits meanwhile. Move blocking or CPU-bound work "
            "off the loop (anyio.to_thread.run_sync, a job queue's process executor, or a "
            "worker node). The handler is at:\n%s",
            cell.path,
            type(cell.instance).__qualname__,
            held,
            self.threshold,
            message_type,
            stack,
        )

    def _remember(self, key: tuple[str | None, str | None], now: float) -> None:
        warned = self._warned
        if len(warned) >= _MAX_REMEMBERED:
            for old in [k for k, at in warned.items() if now - at >= REPEAT_AFTER]:
                del warned[old]
        warned[key] = now


def _waiting_for_io(frame: FrameType) -> bool:
    """Whether the loop thread is in its event loop's wait for I/O (so not blocked)."""
    code = frame.f_code
    return (os.path.basename(code.co_filename), code.co_name) in _IO_WAITS


def _find_cell(frame: FrameType) -> tuple[Cell | None, FrameType | None]:
    """The innermost frame running a cell's message or lifecycle step, and its cell."""
    current: FrameType | None = frame
    while current is not None:
        code = current.f_code
        if code in _ANCHORS or "cell" in code.co_varnames:
            local = current.f_locals
            cell = local.get("cell", local.get("self"))
            if isinstance(cell, Cell):
                return cell, current
        current = current.f_back
    return None, None


def _message_type(cell: Cell, anchor: FrameType | None) -> str:
    """The type of the message *cell* handles, or the lifecycle step it runs."""
    item = cell.current
    if item is None:  # a lifecycle hook (on_start, on_stop...) or a system message
        step = "?" if anchor is None else anchor.f_code.co_name
        return f"(no message: in {step})"
    message = item[0] if type(item) is tuple else getattr(item, "message", item)
    return type(message).__qualname__


def _cut(frame: FrameType, anchor: FrameType | None) -> traceback.StackSummary:
    """The frames inside *anchor* (the handler and what it calls), outermost first."""
    frames: list[tuple[FrameType, int]] = []
    current: FrameType | None = frame
    while current is not None and current is not anchor:
        frames.append((current, current.f_lineno))
        if anchor is None and len(frames) >= _FRAMES_WITHOUT_ACTOR:
            break
        current = current.f_back
    frames.reverse()
    return traceback.StackSummary.extract(iter(frames), capture_locals=False)
