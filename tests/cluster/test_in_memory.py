"""The cluster's membership and lease logic, unchanged, on the in-memory KV store, in virtual time.

No NATS: `Membership`s and `Lease`s share one `MemoryKV` through sealed
buckets, in one system on a `VirtualClock`, so heartbeats, TTLs and expiry
markers all run on virtual time (asyncio and trio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Member, MemberDown, MemberUp
from actorlib.cluster._kv import OVERHEAD, Bucket, Found
from actorlib.cluster._lease import Holder, Lease, LeaseTiming, lease_key, state_key
from actorlib.cluster._membership import Membership
from actorlib.cluster._memory import MemoryKV, _MemoryWatcher
from actorlib.cluster._store import Conflict
from actorlib.testing import SimulatedSystem, VirtualClock
from tests.cluster.conftest import SECRET

pytestmark = pytest.mark.anyio

DOWN_AFTER = 3.0


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


def membership(system: ActorSystem, store: MemoryKV, node_id: str) -> Membership:
    """Member *node_id*'s membership, on its own bucket over the shared store."""
    bucket = Bucket(store, "sim", SECRET)
    me = Member(node_id=node_id, address=f"nats:{node_id}")
    return Membership(bucket, system, lambda: me, down_after=DOWN_AFTER)


async def test_members_see_each_other_and_one_that_leaves_at_once(system: ActorSystem) -> None:
    clock = system.clock
    assert isinstance(clock, VirtualClock)
    store = MemoryKV(clock)
    a, b, c = (membership(system, store, n) for n in "abc")
    seen: list[object] = []
    a.listeners.append(seen.append)
    for member in (a, b, c):
        await member.start()
    await clock.advance(0)  # every watcher has had the chance to see every entry
    assert sorted(a.members) == sorted(b.members) == sorted(c.members) == ["a", "b", "c"]
    assert [e.member.node_id for e in seen if isinstance(e, MemberUp)] == ["a", "b", "c"]
    await b.leave()
    await clock.advance(0)
    assert MemberDown(b.me(), "left") in seen
    assert sorted(a.members) == sorted(c.members) == ["a", "c"]
    for member in (a, c):
        await member.leave()


async def test_a_silent_member_is_lost_within_down_after_of_virtual_time_and_no_sooner(
    system: ActorSystem,
) -> None:
    clock = system.clock
    assert isinstance(clock, VirtualClock)
    store = MemoryKV(clock)
    a, c = membership(system, store, "a"), membership(system, store, "c")
    seen: list[object] = []
    a.listeners.append(seen.append)
    await a.start()
    await c.start()
    await clock.advance(10)  # heartbeats keep both alive on virtual time
    assert sorted(a.members) == ["a", "c"]
    # c crashes: its heartbeats and watcher stop, its entry stays until it expires.
    c._scope.cancel()
    await clock.advance(0)
    crashed = clock.now()
    # Its last heartbeat was at most a quarter of DOWN_AFTER before the crash.
    await clock.advance(DOWN_AFTER * 3 / 4 - 0.01)
    assert "c" in a.members
    await clock.advance(DOWN_AFTER / 4 + 0.02)
    assert clock.now() - crashed <= DOWN_AFTER + 0.01
    assert "c" not in a.members
    assert MemberDown(c.me(), "lost") in seen
    assert list(a.members) == ["a"]  # a's own heartbeats ran on virtual time too
    await a.leave()


class Unanswered(MemoryKV):
    """A store whose watchers never deliver the current entries (a server that does not answer)."""

    async def watch(self, prefix: str) -> _MemoryWatcher:
        watcher = await super().watch(prefix)
        watcher.queue.clear()
        return watcher


async def test_joining_gives_up_after_ten_seconds_of_virtual_time_and_no_sooner(
    system: ActorSystem,
) -> None:
    clock = system.clock
    assert isinstance(clock, VirtualClock)
    member = membership(system, Unanswered(clock), "a")
    failed: list[float] = []

    async def join() -> None:
        with pytest.raises(TimeoutError):
            await member.start()
        failed.append(clock.now())

    started = clock.now()
    async with anyio.create_task_group() as group:
        group.start_soon(join)
        await clock.advance(9.9)
        assert failed == []
        await clock.advance(0.2)
        assert failed == [started + 10]
    await member.leave()


async def test_an_expired_lease_fences_its_holder_and_frees_the_key_on_virtual_time(
    system: ActorSystem,
) -> None:
    clock = system.clock
    assert isinstance(clock, VirtualClock)
    bucket = Bucket(MemoryKV(clock), "sim", SECRET)
    timing = LeaseTiming()
    key = lease_key("Cart", "user-42")
    old = Lease(
        bucket, key, timing, Holder("a", ("a", None, "/user/r", 1)), timers=system.timer_queue
    )
    assert await old.acquire(0)
    await bucket.write(state_key("Cart", "user-42"), b"1", fence=(key, old.revision))
    new = Lease(
        bucket, key, timing, Holder("b", ("b", None, "/user/r", 1)), timers=system.timer_queue
    )
    assert not await new.acquire(0)  # held
    await clock.advance(timing.ttl - 0.01)
    assert not await new.acquire(0)  # not expired early
    await clock.advance(0.01)
    found = await bucket.read(key, limit=4096)
    assert found is not None
    assert found.marker
    # The holder paused past its lease: its persist is refused before anyone re-acquires.
    with pytest.raises(Conflict):
        await bucket.write(state_key("Cart", "user-42"), b"2", fence=(key, old.revision))
    assert not await new.acquire(0)  # the expiry marker: expect its revision
    assert await new.acquire(found.revision)
    assert new.revision > found.revision > old.revision
    assert not await old.renew()


async def test_the_bucket_seals_values_before_any_store_sees_them_and_binds_them_to_their_key(
    system: ActorSystem,
) -> None:
    store = MemoryKV(system.clock)
    bucket = Bucket(store, "sim", SECRET)
    plaintext = b"the cart of user-42: 3 items"
    revision = await bucket.write("s.Cart.a", plaintext)
    raw = await store.read("s.Cart.a")
    assert raw is not None
    assert plaintext not in raw.value
    assert len(raw.value) == len(plaintext) + OVERHEAD
    found = await bucket.read("s.Cart.a", limit=4096)
    assert found == Found(revision, plaintext)
    # Moved to another key, or to a bucket of another name or secret, it does not open.
    moved = await store.write("s.Cart.b", raw.value)
    assert await bucket.read("s.Cart.b", limit=4096) == Found(moved, None)
    for other in (
        Bucket(store, "other", SECRET),
        Bucket(store, "sim", b"another secret 0123456789"),
    ):
        assert await other.read("s.Cart.a", limit=4096) == Found(revision, None)
    # Over the reader's limit, it is refused before it is decrypted.
    assert await bucket.read("s.Cart.a", limit=len(plaintext) - 1) == Found(revision, None)
