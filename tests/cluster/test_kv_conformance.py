"""One conformance suite for the KeyValue seam: a real JetStream bucket and the in-memory store.

Every semantic the cluster relies on (actorlib/cluster/_store.py) is
checked against both: the JetStream bucket on a real nats-server (asyncio:
nats-py runs on asyncio only) and `MemoryKV` on a `VirtualClock` (asyncio
and trio). Time passes for real against the server and virtually in
memory; the tests read it through the harness and never assume which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import attrs
import pytest

from actorlib.cluster._memory import MemoryKV
from actorlib.cluster._store import MARKER_TTL, Conflict, Entry, KeyValue, Watcher
from actorlib.testing import VirtualClock
from tests.cluster.conftest import jetstream_kv

pytestmark = pytest.mark.anyio

# How long a test waits (in real time) for a watcher's next entry: the
# server's expiry is up to 0.3 s late, more on a loaded machine.
PATIENCE = 10.0


@attrs.frozen
class Harness:
    """A store under test, and its time: real against a server, virtual in memory."""

    store: KeyValue
    now: Callable[[], float]
    pass_time: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory-asyncio", "memory-trio", "jetstream-asyncio"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which store, on which anyio backend."""
    return str(request.param)


@pytest.fixture
def anyio_backend(flavour: str) -> str:
    """The backend of the flavour (JetStream: asyncio only)."""
    return flavour.split("-")[1]


@pytest.fixture
async def kv(flavour: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A fresh, empty store of the flavour."""
    if flavour.startswith("memory"):
        clock = VirtualClock()
        yield Harness(MemoryKV(clock), clock.now, clock.advance)
    else:
        server = request.getfixturevalue("js_server")
        async with jetstream_kv(server.url) as store:
            # Against a server, time passes only by waiting for it.
            yield Harness(store, anyio.current_time, anyio.sleep)


async def next_entry(watcher: Watcher) -> Entry | None:
    """The watcher's next entry (failing after PATIENCE seconds of real time)."""
    with anyio.fail_after(PATIENCE):
        return await watcher.__anext__()


async def changes(watcher: Watcher) -> list[Entry]:
    """The current entries a new watcher delivers before its None."""
    found: list[Entry] = []
    while (entry := await next_entry(watcher)) is not None:
        found.append(entry)
    return found


async def test_writes_get_rising_bucket_wide_revisions_and_reads_see_the_last_message(
    kv: Harness,
) -> None:
    store = kv.store
    assert await store.read("a.one") is None
    first = await store.write("a.one", b"1")
    second = await store.write("b.two", b"2")
    third = await store.write("a.one", b"3")
    assert 0 < first < second < third
    assert await store.read("a.one") == Entry("a.one", third, b"3", "put")
    assert await store.read("b.two") == Entry("b.two", second, b"2", "put")


async def test_three_concurrent_creates_of_a_fresh_key_have_one_winner(kv: Harness) -> None:
    outcomes: list[int | str] = []

    async def create(value: bytes) -> None:
        try:
            outcomes.append(await kv.store.write("l.race", value, expect=0))
        except Conflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as group:
        for value in (b"x", b"y", b"z"):
            group.start_soon(create, value)
    winners = [o for o in outcomes if isinstance(o, int)]
    assert len(winners) == 1
    assert outcomes.count("conflict") == 2
    found = await kv.store.read("l.race")
    assert found is not None
    assert found.revision == winners[0]


async def test_two_concurrent_takeovers_of_a_deleted_key_have_one_winner(kv: Harness) -> None:
    store = kv.store
    await store.write("l.gone", b"old")
    marker = await store.delete("l.gone")
    outcomes: list[int | str] = []

    async def take(value: bytes) -> None:
        try:
            outcomes.append(await store.write("l.gone", value, expect=marker))
        except Conflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as group:
        group.start_soon(take, b"x")
        group.start_soon(take, b"y")
    assert len(outcomes) == 2
    assert outcomes.count("conflict") == 1


async def test_a_create_fails_on_any_message_and_a_stale_expect_conflicts(kv: Harness) -> None:
    store = kv.store
    first = await store.write("k.a", b"1", expect=0)
    with pytest.raises(Conflict):
        await store.write("k.a", b"again", expect=0)
    second = await store.write("k.a", b"2", expect=first)
    with pytest.raises(Conflict):
        await store.write("k.a", b"stale", expect=first)
    with pytest.raises(Conflict):
        await store.delete("k.a", expect=first)
    deleted = await store.delete("k.a", expect=second)
    assert await store.read("k.a") == Entry("k.a", deleted, b"", "delete")
    with pytest.raises(Conflict):  # a delete marker is a message: "no message" is false
        await store.write("k.a", b"3", expect=0)
    with pytest.raises(Conflict):
        await store.write("k.fresh", b"1", expect=7)
    assert await store.read("k.a") == Entry("k.a", deleted, b"", "delete")


async def test_revisions_rise_across_delete_expiry_and_recreate(kv: Harness) -> None:
    store = kv.store
    watcher = await store.watch("r.")
    assert await changes(watcher) == []
    revisions = [await store.write("r.k", b"1", ttl=1)]
    put = await next_entry(watcher)
    await kv.pass_time(1)
    expired = await next_entry(watcher)
    assert put is not None
    assert expired is not None
    assert expired.op == "expire"
    revisions.append(expired.revision)
    revisions.append(await store.write("r.k", b"2", expect=expired.revision))
    revisions.append(await store.delete("r.k"))
    revisions.append(await store.write("r.k", b"3", expect=revisions[-1]))
    assert revisions == sorted(set(revisions))
    await watcher.stop()


async def test_a_fence_holds_while_the_other_key_is_at_its_revision(kv: Harness) -> None:
    store = kv.store
    lease = await store.write("l.k", b"holder", expect=0)
    first = await store.write("s.k", b"state 1", fence=("l.k", lease))
    renewed = await store.write("l.k", b"holder", expect=lease)
    with pytest.raises(Conflict):  # the lease moved on: the old token is refused
        await store.write("s.k", b"stale", fence=("l.k", lease))
    second = await store.write("s.k", b"state 2", fence=("l.k", renewed))
    assert first < renewed < second
    gone = await store.delete("l.k")
    with pytest.raises(Conflict):
        await store.write("s.k", b"after delete", fence=("l.k", renewed))
    assert await store.write("s.k", b"marker", fence=("l.k", gone)) > gone
    with pytest.raises(Conflict):
        await store.write("s.k", b"no lease", fence=("l.none", 1))
    assert await store.write("s.k", b"no lease yet", fence=("l.none", 0)) > 0
    found = await store.read("s.k")
    assert found is not None
    assert found.value == b"no lease yet"


async def test_a_fence_breaks_when_the_other_key_expires(kv: Harness) -> None:
    store = kv.store
    watcher = await store.watch("l.")
    assert await changes(watcher) == []
    lease = await store.write("l.k", b"holder", expect=0, ttl=1)
    await next_entry(watcher)  # the put
    await kv.pass_time(1)
    expired = await next_entry(watcher)
    assert expired is not None
    assert expired.op == "expire"
    with pytest.raises(Conflict):
        await store.write("s.k", b"stale", fence=("l.k", lease))
    await watcher.stop()


async def test_a_ttl_expires_late_never_early_and_leaves_a_marker_that_blocks_creates(
    kv: Harness,
) -> None:
    store = kv.store
    watcher = await store.watch("t.")
    assert await changes(watcher) == []
    start = kv.now()
    written = await store.write("t.k", b"v", expect=0, ttl=1)
    assert await next_entry(watcher) == Entry("t.k", written, b"v", "put")
    await kv.pass_time(0.5)
    assert await store.read("t.k") == Entry("t.k", written, b"v", "put")  # not early
    await kv.pass_time(0.6)
    expired = await next_entry(watcher)
    assert kv.now() - start >= 1.0
    assert expired is not None
    assert expired.op == "expire"
    assert expired.revision > written
    marker = await store.read("t.k")
    assert marker is not None
    assert (marker.op, marker.revision) == ("expire", expired.revision)
    with pytest.raises(Conflict):  # the marker trap: a create fails while the marker lives
        await store.write("t.k", b"new", expect=0)
    taken = await store.write("t.k", b"new", expect=expired.revision, ttl=1)
    assert taken > expired.revision
    await watcher.stop()


async def test_an_expiry_marker_goes_silently_after_its_own_ttl_and_then_a_create_wins(
    kv: Harness,
) -> None:
    store = kv.store
    watcher = await store.watch("t.")
    assert await changes(watcher) == []
    await store.write("t.k", b"v", ttl=1)
    await next_entry(watcher)  # the put
    await kv.pass_time(1)
    expired = await next_entry(watcher)
    assert expired is not None
    assert expired.op == "expire"
    await kv.pass_time(MARKER_TTL + 0.5)
    assert await store.read("t.k") is None
    created = await store.write("t.k", b"again", expect=0)
    # The marker's removal made no entry of its own: the next one is the create.
    assert await next_entry(watcher) == Entry("t.k", created, b"again", "put")
    await watcher.stop()


async def test_a_write_without_ttl_ends_the_expiry_and_a_renewal_postpones_it(
    kv: Harness,
) -> None:
    store = kv.store
    first = await store.write("t.plain", b"1", ttl=1)
    plain = await store.write("t.plain", b"2", expect=first)
    renewed = await store.write("t.renewed", b"1", ttl=1)
    await kv.pass_time(0.6)
    renewed = await store.write("t.renewed", b"2", expect=renewed, ttl=1)
    await kv.pass_time(0.9)  # 1.5 s after the first write, 0.9 s after the renewal
    assert await store.read("t.renewed") == Entry("t.renewed", renewed, b"2", "put")
    assert await store.read("t.plain") == Entry("t.plain", plain, b"2", "put")


async def test_a_watcher_sees_current_entries_then_none_then_changes_in_revision_order(
    kv: Harness,
) -> None:
    store = kv.store
    a = await store.write("m.a", b"a")
    await store.write("other.x", b"not watched")
    b = await store.write("m.b", b"b")
    a2 = await store.write("m.a", b"a2")
    gone = await store.delete("m.b")
    watcher = await store.watch("m.")
    assert a < b
    assert await changes(watcher) == [
        Entry("m.a", a2, b"a2", "put"),
        Entry("m.b", gone, b"", "delete"),
    ]
    c = await store.write("m.c", b"c", ttl=1)
    await store.write("other.y", b"not watched")
    d = await store.delete("m.a")
    seen = [await next_entry(watcher) for _ in range(2)]
    await kv.pass_time(1)
    seen.append(await next_entry(watcher))
    assert seen[:2] == [Entry("m.c", c, b"c", "put"), Entry("m.a", d, b"", "delete")]
    assert seen[2] is not None
    assert (seen[2].key, seen[2].op) == ("m.c", "expire")
    assert seen[2].revision > d
    await watcher.stop()
    with pytest.raises(StopAsyncIteration):
        await next_entry(watcher)


async def test_every_store_refuses_bad_keys_ttls_and_prefixes_alike(kv: Harness) -> None:
    store = kv.store
    for key in ("", "a b", "a.*", "a.>", ".a", "a.", "a..b"):
        with pytest.raises(ValueError, match="a KV key must be"):
            await store.write(key, b"v")
    for ttl in (0, 0.5, 1.5, float("inf")):
        with pytest.raises(ValueError, match="ttl must be whole seconds"):
            await store.write("k.v", b"v", ttl=ttl)
    with pytest.raises(ValueError, match="expect= or fence=, not both"):
        await store.write("k.v", b"v", expect=0, fence=("l.k", 0))
    with pytest.raises(ValueError, match="a watch prefix must be"):
        await store.watch("m")
    assert await store.read("k.v") is None
