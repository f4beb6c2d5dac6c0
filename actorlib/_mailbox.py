"""Two-lane FIFO of envelopes with an overflow policy; knows nothing about actors."""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import anyio
import attrs

from ._messages import Envelope, Item


class Overflow(enum.Enum):
    """What `tell` does when a bounded mailbox is full (`send` always waits instead)."""

    FAIL = "fail"
    """Raise `MailboxFull` in the sender; the message is not queued."""
    DROP_NEWEST = "drop_newest"
    """Drop the incoming message; it becomes a dead letter."""
    DROP_OLDEST = "drop_oldest"
    """Drop the oldest queued message to make room; it becomes a dead letter."""


def _check_capacity(_: object, __: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"capacity must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"capacity must be at least 1 (or None for unbounded), got {value!r}")


def _check_overflow(_: object, __: attrs.Attribute[Overflow], value: Overflow) -> None:
    if not isinstance(value, Overflow):
        raise TypeError(
            f"overflow must be an Overflow member (Overflow.FAIL, Overflow.DROP_NEWEST, "
            f"Overflow.DROP_OLDEST), got {value!r}"
        )


@attrs.frozen
class Mailbox:
    """The mailbox configuration of one actor.

    Args:
        capacity: the most user messages it holds; None (default) for unbounded.
        overflow: what a `tell` to a full mailbox does.

    Raises:
        ValueError: capacity below 1.
        TypeError: capacity not an int, or overflow not an `Overflow`.
    """

    capacity: int | None = attrs.field(default=None, validator=_check_capacity)
    overflow: Overflow = attrs.field(default=Overflow.FAIL, validator=_check_overflow)


UNBOUNDED = Mailbox()


class Full(Exception):
    """Internal: raised by `MailboxQueue.put_user` under `Overflow.FAIL`."""


class MailboxQueue:
    """The runtime queue of one actor: a system lane always read before the user lane.

    Lanes are created on first use so an actor that was never sent a message
    costs no deque.
    Invariant: ``len(user) <= capacity`` except for messages put back with
    `push_front_user` (they were already accepted once and must not be lost).
    """

    __slots__ = ("capacity", "overflow", "room_waiters", "system", "user")

    def __init__(self, config: Mailbox = UNBOUNDED) -> None:
        self.system: deque[Any] | None = None
        self.user: deque[Item] | None = None
        self.capacity = math.inf if config.capacity is None else config.capacity
        self.overflow = config.overflow
        self.room_waiters: deque[anyio.Event] | None = None

    def __len__(self) -> int:
        return (len(self.system) if self.system else 0) + (len(self.user) if self.user else 0)

    @property
    def user_depth(self) -> int:
        """How many user messages are waiting."""
        return len(self.user) if self.user else 0

    def put_system(self, item: object) -> None:
        """Queue a system message (never bounded)."""
        if self.system is None:
            self.system = deque()
        self.system.append(item)

    def pop_system(self) -> Any:
        """Take the oldest system message; drop the lane when it empties."""
        lane = self.system
        assert lane is not None
        item = lane.popleft()
        if not lane:
            self.system = None
        return item

    def put_user(self, envelope: Envelope) -> Item | None:
        """Queue a user message under the overflow policy.

        Returns:
            The envelope dropped to respect the capacity (the incoming one for
            DROP_NEWEST, the oldest for DROP_OLDEST), or None.

        Raises:
            Full: the mailbox is full and the policy is FAIL.
        """
        lane = self.user
        if lane is None:
            lane = self.user = deque()
        if len(lane) < self.capacity:
            lane.append(envelope)
            return None
        if self.overflow is Overflow.FAIL:
            raise Full
        if self.overflow is Overflow.DROP_NEWEST:
            return envelope
        lane.append(envelope)
        return lane.popleft()

    def room_freed(self) -> None:
        """A user message was taken off the lane (by the cell's loop): wake one waiting sender."""
        if self.room_waiters:
            self.room_waiters.popleft().set()

    def push_front_user(self, envelopes: Iterable[Item]) -> None:
        """Put already-accepted envelopes back at the head, keeping their order."""
        lane = self.user
        if lane is None:
            lane = self.user = deque()
        lane.extendleft(reversed(list(envelopes)))

    def drain(self) -> Iterator[Item]:
        """Remove and yield every user message (the actor is stopping)."""
        lane = self.user
        while lane:
            yield lane.popleft()
        self.wake_all_waiters()

    async def wait_for_room(self) -> None:
        """Wait, first come first served among senders, until one more message fits.

        A `tell` never waits and so may take the room first; the sender it
        overtook keeps its place at the head of the queue.
        """
        if self.user_depth < self.capacity and not self.room_waiters:
            return
        if self.room_waiters is None:
            self.room_waiters = deque()
        waiters = self.room_waiters
        event = anyio.Event()
        waiters.append(event)
        while True:
            try:
                await event.wait()
            except BaseException:
                if event.is_set():
                    # We were handed the room but are leaving: pass it on.
                    if waiters and self.user_depth < self.capacity:
                        waiters.popleft().set()
                else:
                    waiters.remove(event)
                raise
            if self.user_depth < self.capacity or self.user is None:
                break
            event = anyio.Event()
            waiters.appendleft(event)
        # Keep the chain going while there is more room.
        if waiters and self.user_depth + 1 < self.capacity:
            waiters.popleft().set()

    def wake_all_waiters(self) -> None:
        """Release every waiting sender (the actor is gone; their sends dead-letter)."""
        waiters = self.room_waiters
        while waiters:
            waiters.popleft().set()
