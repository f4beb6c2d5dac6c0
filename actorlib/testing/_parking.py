"""Where a controller's loop rests once nothing is deliverable, and where settling waits for it.

It knows events and a clock's jump; it must not know flights, packets, nodes or schedules.
"""

from __future__ import annotations

import anyio

from ._virtual_clock import VirtualClock


class Parking:
    """The tail of a controller's loop, shared by a lone system's and a cluster's.

    Once the loop finds nothing to deliver it either moves virtual time to
    the next moment something can happen, or parks: it wakes everyone
    waiting to settle, then sleeps until `changed` is called.
    """

    __slots__ = ("_changed", "_settlers")

    def __init__(self) -> None:
        self._changed = anyio.Event()
        self._settlers: list[anyio.Event] = []

    def changed(self) -> None:
        """Wake the parked loop (something new may be deliverable)."""
        self._changed.set()

    async def wait_settled(self) -> None:
        """Return the next time the loop parks (it is woken to look once more first)."""
        event = anyio.Event()
        self._settlers.append(event)
        self._changed.set()
        await event.wait()

    async def jump_or_park(self, clock: VirtualClock, when: float | None) -> None:
        """Move *clock* to *when*; with no *when*, wake the settlers and park until `changed`."""
        if when is not None:
            # The loop goes round at once: what is due at *when* is deliverable now.
            clock.jump_to(when)
            return
        for settler in self._settlers:
            settler.set()
        self._settlers.clear()
        self._changed = anyio.Event()
        await self._changed.wait()
