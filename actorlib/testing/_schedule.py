"""Schedules (which in-flight delivery goes next) and the trace of deliveries made."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import attrs

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable_repr(value: object, limit: int = 120) -> str:
    """``repr`` without memory addresses, shortened: identical between runs.

    Exceptions show as ``Type('message')``: their attrs fields are noise here.
    """
    if isinstance(value, BaseException):
        text = f"{type(value).__name__}({str(value)!r})"
    else:
        text = _ADDRESS.sub("", repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Schedule:
    """Chooses which in-flight envelope or reply is delivered next.

    At each step the simulator lists the deliverable candidates: held
    system messages, then envelopes and replies, each oldest first (only the
    oldest of each sender -> recipient channel is a candidate, so per-sender
    FIFO always holds), then the next actor timer; and asks `choose` for an
    index. Choice 0 is the natural order.

    Use the constructors: `fifo`, `random`, `replay`.
    """

    def __init__(self, choices: Sequence[int] = (), *, seed: int | None = None) -> None:
        self._choices = list(choices)
        self._rng = random.Random(seed) if seed is not None else None
        self._seed = seed
        self.made: list[int] = []
        """The choices actually made so far (what `replay` needs to repeat this run)."""

    @classmethod
    def fifo(cls) -> Schedule:
        """Always the oldest in-flight envelope or reply first."""
        return cls()

    @classmethod
    def random(cls, seed: int) -> Schedule:
        """A pseudo-random choice at every step, reproducible from *seed*."""
        return cls(seed=seed)

    @classmethod
    def replay(cls, choices: Sequence[int]) -> Schedule:
        """Repeat a recorded list of choices (then oldest-first once it runs out).

        Raises:
            ValueError: a negative choice.
        """
        choices = list(choices)
        for choice in choices:
            if isinstance(choice, bool) or not isinstance(choice, int) or choice < 0:
                raise ValueError(f"replay choices must be ints >= 0, got {choice!r}")
        return cls(choices)

    def __repr__(self) -> str:
        if self._rng is not None:
            return f"Schedule.random({self._seed})"
        if not self._choices:
            return "Schedule.fifo()"
        return f"Schedule.replay({self._choices!r})"

    def fresh(self) -> Schedule:
        """The same schedule from its first step (each simulated run takes one)."""
        return Schedule(self._choices, seed=self._seed)

    def choose(self, candidates: int) -> int:
        """Pick the index of the next delivery among *candidates* (at least 1)."""
        step = len(self.made)
        if self._rng is not None:
            choice = self._rng.randrange(candidates)
        elif step < len(self._choices):
            choice = self._choices[step] % candidates
        else:
            choice = 0
        self.made.append(choice)
        return choice

    def replay_code(self) -> str:
        """Python that rebuilds exactly this run's choices."""
        made = list(self.made)
        while made and made[-1] == 0:
            made.pop()  # trailing zeros are the default
        return f"Schedule.replay({made!r})" if made else "Schedule.fifo()"


@attrs.frozen
class Step:
    """One delivery of a simulated run.

    ``str(step)`` contains no ids, addresses or clock readings, so it is
    identical between runs of the same schedule.

    Attributes:
        number: 1 for the first delivery.
        sender: the sender's path, ``"test"`` for test code, ``"timer"`` for
            an actor's own timer.
        recipient: the recipient's path (the asker's, or ``"test"``, for a reply).
        kind: ``"tell"``, ``"ask"``, ``"timer"``, ``"system"`` (a held
            system message: stop, watch, unwatch, a notice, supervision),
            ``"reply"``, ``"error"`` (a reply that is an exception),
            ``"refused"`` (a bounded mailbox refused it at delivery, or a
            timer fired for an actor that had closed: a dead letter), or the
            injected fault:
            ``"drop"``, ``"duplicate"``, ``"crash"``, ``"delay"`` (held back,
            not delivered yet).
        message: a stable ``repr`` of the message or reply value.
        choice: the schedule's choice at this step.
        candidates: how many deliveries were possible.
    """

    number: int
    sender: str
    recipient: str
    kind: str
    message: str
    choice: int = 0
    candidates: int = 1

    def __str__(self) -> str:
        return f"{self.number:>3}. {self.sender} -> {self.recipient}: {self.kind} {self.message}"


class Trace(list[Step]):
    """The deliveries of a simulated run, printable one per line."""

    def __str__(self) -> str:
        return "\n".join(str(step) for step in self) if self else "(no deliveries)"
