"""Job functions for the tests, importable by path (durable stores and worker processes)."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time

import anyio

from actorlib.jobs import report_progress


async def add(a: int, b: int) -> int:
    return a + b


def multiply(a: int, b: int) -> int:
    return a * b


async def echo(value: object) -> object:
    return value


def cpu_bound(n: int) -> tuple[int, int]:
    """Sum of squares, and the pid it ran in (to prove it ran in another process)."""
    return sum(i * i for i in range(n)), os.getpid()


async def fail(message: str) -> None:
    raise ValueError(message)


def stepped(steps: int) -> int:
    for step in range(1, steps + 1):
        report_progress(step, steps, note=f"step {step}")
    return steps


#: Thread events by name, for thread jobs a test holds back (module state, as GATES).
THREAD_GATES: dict[str, threading.Event] = {}


def stepped_when_open(gate: str, steps: int) -> int:
    """In its thread, wait for THREAD_GATES[gate] (10 s at most); then `stepped`."""
    if not THREAD_GATES[gate].wait(timeout=10):
        raise TimeoutError(f"the thread gate {gate!r} was never opened")
    return stepped(steps)


def record_once(db_path: str, key: str, pause: float = 0.0) -> str:
    """The crash test's job: insert *key* into a results table with a uniqueness check.

    A second run of the same job finds its key there and leaves it (the effect
    is exactly once); the `runs` table counts every run, duplicates included.
    """
    if pause:
        time.sleep(pause)
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        db.execute("INSERT INTO runs (key) VALUES (?)", (key,))
        db.execute("INSERT OR IGNORE INTO results (key) VALUES (?)", (key,))
    finally:
        db.close()
    return key


async def sleep_for(seconds: float) -> float:
    await anyio.sleep(seconds)
    return seconds


async def exit_async(code: int | None) -> None:
    """Calls sys.exit() on the event loop."""
    sys.exit(code)


def exit_sync(code: int | None) -> None:
    """Calls sys.exit() in a thread, or in a process."""
    sys.exit(code)


class Halt(BaseException):
    """A library's own BaseException (not an Exception): a job may still raise it."""


async def halt_async(message: str) -> None:
    """Raises a BaseException subclass on the event loop."""
    raise Halt(message)


def halt_sync(message: str) -> None:
    """Raises a BaseException subclass in a thread, or in a process."""
    raise Halt(message)


def interrupt_sync() -> None:
    """Raises KeyboardInterrupt in a thread, or in a process."""
    raise KeyboardInterrupt


async def generator_exit_async() -> None:
    """Raises GeneratorExit on the event loop."""
    raise GeneratorExit


def kill_own_process() -> None:
    """SIGKILLs the process it runs in (a process job's worker)."""
    os.kill(os.getpid(), 9)


class Gate:
    """Holds `gated` jobs until a test opens it; logs the order they started in."""

    def __init__(self) -> None:
        self.opened = anyio.Event()
        self.started = anyio.Event()
        self.log: list[int] = []


#: The gates of `gated` jobs by name: module state, so a job stored by import
#: path (a durable store) finds the test's gate, as a closure would not.
GATES: dict[str, Gate] = {}


async def gated(gate: str, n: int) -> int:
    """Log *n*, wait for the gate *gate* to open, return n * 10."""
    waiting = GATES[gate]
    waiting.log.append(n)
    waiting.started.set()
    await waiting.opened.wait()
    return n * 10


async def gated_progress(gate: str, n: int) -> int:
    """Report being half done, wait for the gate *gate* to open, return n * 10."""
    report_progress(1, 2, note="half")
    waiting = GATES[gate]
    waiting.started.set()
    await waiting.opened.wait()
    return n * 10


async def fail_until_exists(path: str) -> str:
    """Fail until the file *path* exists (a job to retry once the cause is fixed)."""
    if not os.path.exists(path):  # noqa: ASYNC240 - a test's job: one stat, no waiting
        raise FileNotFoundError(f"{path} is missing")
    return "found"
