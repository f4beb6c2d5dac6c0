"""Logging a dead letter or a failed message costs the same for a huge message as a small one."""

from __future__ import annotations

import logging
import time

import attrs
import pytest

from actorlib import Actor, ActorSystem
from actorlib._deadletters import brief

pytestmark = pytest.mark.anyio


class LoudRepr:
    """A message whose own repr is huge and counts how often it is made."""

    calls = 0

    def __repr__(self) -> str:
        LoudRepr.calls += 1
        return "x" * 10_000_000


@attrs.frozen
class Wrapper:
    payload: object
    tag: str = "t"


class Failing(Actor):
    async def receive(self, message: object) -> None:
        raise ValueError("no")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


async def test_a_dead_letter_log_line_is_short_and_never_calls_the_messages_own_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actorlib")
    LoudRepr.calls = 0
    async with ActorSystem("logs") as system:
        system.dead_letter(LoudRepr(), None, None)
        system.dead_letter(Wrapper(LoudRepr()), None, None)
        system.dead_letter([b"y" * 1_000_000] * 3, None, None)
    lines = [line for line in _lines(caplog) if line.startswith("dead letter")]
    assert len(lines) == 3
    assert all(len(line) < 600 for line in lines), [len(line) for line in lines]
    assert "LoudRepr object" in lines[0]
    assert "Wrapper(payload=<" in lines[1]
    assert "1000000 bytes" in lines[2]
    assert LoudRepr.calls == 0


async def test_logging_a_50_mb_dead_letter_costs_a_small_fraction_of_its_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actorlib")
    big = b"\x00" * 50_000_000
    start = time.perf_counter()
    full = repr(big)
    full_cost = time.perf_counter() - start
    async with ActorSystem("logs") as system:
        start = time.perf_counter()
        for _ in range(5):
            system.dead_letter(big, None, None)
        logged_cost = (time.perf_counter() - start) / 5
    assert logged_cost * 20 < full_cost
    assert max(len(line) for line in _lines(caplog)) < 600 < len(full)


async def test_the_note_on_a_failed_huge_message_is_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    LoudRepr.calls = 0
    async with ActorSystem("logs") as system:
        ref = await system.spawn(Failing)
        with pytest.raises(ValueError) as caught:
            await ref.ask(Wrapper(LoudRepr(), "z" * 1_000_000))
    assert all(len(note) < 600 for note in caught.value.__notes__)
    assert LoudRepr.calls == 0


def test_brief_cuts_every_kind_of_value_short() -> None:
    values: list[object] = [
        "s" * 100_000,
        b"b" * 100_000,
        bytearray(100_000),
        10**10_000,
        list(range(100_000)),
        {i: i for i in range(100_000)},
        ValueError("e" * 100_000),
        [[[[["deep"]]]]],
    ]
    for value in values:
        assert len(brief(value)) < 1000, type(value)
