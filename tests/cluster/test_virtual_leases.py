"""Lease renewals and the entity guard on the system's Clock seam: virtual time, in memory, no NATS.

The renewer a `Shard` runs (`renew_forever`) and the guard that cancels an
entity's handler at its lease's deadline, in one system on a `VirtualClock`
(plain, or a SimulatedSystem), with leases in a `MemoryKV` on the same clock:
virtual seconds pass at once, and nothing waits on the event loop's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from actorlib import ActorRef, ActorSystem
from actorlib.cluster import Entity, LeaseLost
from actorlib.cluster._entity import _CONTEXTS, EntityContext
from actorlib.cluster._kv import Bucket
from actorlib.cluster._lease import Holder, Lease, LeaseTiming, lease_key, renew_forever
from actorlib.cluster._memory import MemoryKV
from actorlib.remote import PickleSerializer
from actorlib.remote._node import Node
from actorlib.testing import SimulatedSystem, VirtualClock
from tests.cluster.conftest import SECRET

pytestmark = pytest.mark.anyio

TIMING = LeaseTiming()  # ttl 4 s, renewals every 0.8 s, valid for 2.496 s after sending
# Real seconds that a run of many virtual seconds may take at most (a loaded CI machine).
REAL_BOUND = 2.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """No NATS here: both backends."""
    return str(request.param)


@pytest.fixture(params=["virtual-clock", "simulated"])
async def system(request: pytest.FixtureRequest) -> AsyncIterator[ActorSystem]:
    """A system on a virtual clock: a plain one, or a SimulatedSystem (whose schedule settles)."""
    simulated = request.param == "simulated"
    async with SimulatedSystem() if simulated else ActorSystem(clock=VirtualClock()) as system:
        yield system


def virtual(system: ActorSystem) -> VirtualClock:
    """The system's clock, a VirtualClock."""
    clock = system.clock
    assert isinstance(clock, VirtualClock)
    return clock


def new_lease(system: ActorSystem, bucket: Bucket, key: str, node: str = "a") -> Lease:
    """A lease on *key* held by member *node*, on the system's timers."""
    holder = Holder(node, (node, None, "/user/region", 1))
    return Lease(bucket, lease_key("Cart", key), TIMING, holder, timers=system.timer_queue)


def start_renewer(
    system: ActorSystem, leases: dict[str, Lease], lost: list[str]
) -> anyio.CancelScope:
    """Run `renew_forever` on *leases* as a Shard does; cancel the scope returned to stop it."""
    scope = anyio.CancelScope()

    async def renew() -> None:
        with scope:
            await renew_forever(leases, TIMING, system.timer_queue, lost.append)

    system._start_runtime_task(renew)
    return scope


async def test_the_renewer_keeps_a_lease_on_virtual_time_while_no_real_time_passes(
    system: ActorSystem,
) -> None:
    clock = virtual(system)
    bucket = Bucket(MemoryKV(clock), "sim", SECRET)
    lease = new_lease(system, bucket, "user-42")
    assert await lease.acquire(0)
    lost: list[str] = []
    renewer = start_renewer(system, {"user-42": lease}, lost)
    real_start = anyio.current_time()
    revisions = [lease.revision]
    for _ in range(20):  # 16 virtual seconds: four times the lease's ttl
        await clock.advance(TIMING.renew_every)
        revisions.append(lease.revision)
        # Renewed at this virtual instant: valid for valid_for from now.
        assert lease.deadline == pytest.approx(clock.now() + TIMING.valid_for)
        assert lease.valid()
    real = anyio.current_time() - real_start
    renewer.cancel()
    assert revisions == sorted(set(revisions))  # one renewal per round, each a newer revision
    assert len(revisions) == 21
    assert clock.now() == pytest.approx(20 * TIMING.renew_every)
    assert real < REAL_BOUND < clock.now()
    found = await bucket.read(lease_key("Cart", "user-42"), limit=4096)
    assert found is not None
    assert found.revision == lease.revision  # still held, long past one ttl
    assert lost == []


async def test_the_renewer_fences_a_lease_taken_over_and_reports_its_key_on_virtual_time(
    system: ActorSystem,
) -> None:
    clock = virtual(system)
    bucket = Bucket(MemoryKV(clock), "sim", SECRET)
    lease = new_lease(system, bucket, "user-7")
    assert await lease.acquire(0)
    lost: list[str] = []
    renewer = start_renewer(system, {"user-7": lease}, lost)
    await clock.advance(TIMING.renew_every)
    assert lost == []
    # Another member takes the key behind the holder's back (its lease deleted).
    await bucket.delete(lease_key("Cart", "user-7"))
    deleted = await bucket.read(lease_key("Cart", "user-7"), limit=4096)
    assert deleted is not None
    thief = new_lease(system, bucket, "user-7", node="b")
    assert await thief.acquire(deleted.revision)
    await clock.advance(TIMING.renew_every - 0.01)
    assert lost == []  # not before the next renewal, in virtual time
    await clock.advance(0.01)
    assert lost == ["user-7"]
    assert lease.lost
    assert not lease.valid()
    renewer.cancel()


async def test_the_renewer_gives_up_a_stuck_renewal_and_fences_at_the_deadline_on_virtual_time(
    system: ActorSystem,
) -> None:
    clock = virtual(system)
    lease = new_lease(system, Bucket(MemoryKV(clock), "sim", SECRET), "k")
    assert await lease.acquire(0)  # valid until 2.496
    lost: list[str] = []
    renewer = start_renewer(system, {"k": lease}, lost)
    # A fenced write in flight (a persist cut off from the store) holds the lock:
    # renewals at 0.8 and 2.4 wait for it and are given up a renew_every later.
    async with lease.lock:
        await clock.advance(3.19)
        assert lost == []  # the round given up at 1.6 left the lease valid
        await clock.advance(0.02)
        assert lost == ["k"]  # given up at 3.2 (give or take a rounding), past the deadline
    assert lease.lost
    renewer.cancel()


class Waiter(Entity):
    """An entity whose handler awaits an event nobody sets: only its guard ends it."""

    entered: anyio.Event

    async def receive(self, message: object) -> object:
        Waiter.entered.set()
        await anyio.Event().wait()
        return message


async def activate(system: ActorSystem, lease: Lease) -> ActorRef[Any]:
    """Spawn a `Waiter` activation under *lease*, as a region does (no transport: a bare Node)."""
    serializer = PickleSerializer()
    node = Node(
        system,
        node_id="a",
        address=None,
        secret=SECRET,
        serializer=serializer,
        max_frame=1 << 20,
        dial=None,
    )
    context = EntityContext(
        "Waiter", "k", lease, bucket=lease.bucket, serializer=serializer, node=node, max_state=1024
    )
    _CONTEXTS[(id(system), "/user/e-k")] = context
    Waiter.entered = anyio.Event()
    return await system.spawn(Waiter, name="e-k")


async def ask_until_cancelled(system: ActorSystem, lease: Lease, renew_at: float | None) -> float:
    """Ask a Waiter under *lease* (renewed at virtual *renew_at*); when its guard ended it."""
    clock = virtual(system)
    ref = await activate(system, lease)
    ended: list[float] = []

    async def ask() -> None:
        with pytest.raises(LeaseLost, match="its deadline passed while handling a message"):
            await ref.ask("wait", timeout=60)
        ended.append(clock.now())

    async with anyio.create_task_group() as group:
        group.start_soon(ask)
        await clock.advance(0)
        assert Waiter.entered.is_set()
        if renew_at is not None:
            await clock.advance(renew_at - clock.now())
            assert await lease.renew()
        while not ended:
            await clock.advance(0.25)
            assert not ended or ended[0] >= lease.deadline  # never before the deadline
    _CONTEXTS.pop((id(system), "/user/e-k"), None)
    return ended[0]


async def test_the_entity_guard_cancels_a_handler_when_virtual_time_reaches_the_lease_deadline(
    system: ActorSystem,
) -> None:
    clock = virtual(system)
    lease = new_lease(system, Bucket(MemoryKV(clock), "sim", SECRET), "k")
    assert await lease.acquire(0)
    assert lease.deadline == pytest.approx(TIMING.valid_for)
    real_start = anyio.current_time()
    ended = await ask_until_cancelled(system, lease, renew_at=None)
    assert lease.deadline <= ended < lease.deadline + 0.25
    assert anyio.current_time() - real_start < REAL_BOUND


async def test_a_renewal_moves_the_guarded_handler_deadline_in_virtual_time() -> None:
    # A plain system on a virtual clock: the test renews at a chosen instant (a
    # SimulatedSystem moves time by itself while the test's ask is pending).
    async with ActorSystem(clock=VirtualClock()) as system:
        clock = virtual(system)
        lease = new_lease(system, Bucket(MemoryKV(clock), "sim", SECRET), "k")
        assert await lease.acquire(0)
        first = lease.deadline
        ended = await ask_until_cancelled(system, lease, renew_at=1.0)
    assert lease.deadline == pytest.approx(1.0 + TIMING.valid_for)
    assert first < lease.deadline <= ended < lease.deadline + 0.25
