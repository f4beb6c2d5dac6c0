"""A hypothesis property of leases on both KV stores (JetStream, in memory): one holder at a time.

Racers acquire (reading the key first, or with a stale revision), renew and
release one key in the order hypothesis chooses. Whatever the order, at
most one racer's lease is at the key's current revision, each successful
write's revision is larger than every one before it (fencing tokens only
rise), and a racer whose write succeeded is the one at the current revision.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actorlib._clock import MonotonicClock, TimerQueue
from actorlib.cluster._kv import Bucket
from actorlib.cluster._lease import Holder, Lease, LeaseTiming
from actorlib.cluster._memory import MemoryKV
from actorlib.testing import VirtualClock
from tests.cluster.conftest import SECRET, jetstream_kv
from tests.nats_server import NatsServer

TIMING = LeaseTiming(ttl=30, renew_every=1)
RACERS = 3
operations = st.lists(
    st.tuples(st.sampled_from(["acquire", "acquire-stale", "renew", "release"]), st.integers(0, 2)),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module", params=["jetstream", "memory"])
def bucket(request: pytest.FixtureRequest) -> Iterator[tuple[BlockingPortal, Bucket]]:
    """A bucket of its own (a real JetStream one, or in memory on a virtual clock).

    Reached from synchronous hypothesis examples through a portal.
    """
    name = "leases-" + secrets.token_hex(4)
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        if request.param == "memory":
            yield portal, Bucket(MemoryKV(VirtualClock()), name, SECRET)
            return
        server: NatsServer = request.getfixturevalue("js_server")
        store = stack.enter_context(portal.wrap_async_context_manager(jetstream_kv(server.url)))
        yield portal, Bucket(store, name, SECRET)


@settings(max_examples=40, deadline=None)
@given(operations)
@example([("acquire", 0), ("acquire", 1), ("renew", 0), ("release", 0), ("acquire", 1)])
@example([("acquire", 0), ("acquire-stale", 1), ("renew", 1), ("renew", 0), ("acquire", 2)])
def test_at_most_one_racer_holds_a_key_and_tokens_only_rise(
    bucket: tuple[BlockingPortal, Bucket], steps: list[tuple[str, int]]
) -> None:
    portal, kv = bucket
    key = "l.Race." + secrets.token_hex(8)
    store = kv.store
    timers = TimerQueue(store.clock if isinstance(store, MemoryKV) else MonotonicClock())
    racers = [
        Lease(kv, key, TIMING, Holder(f"n{i}", (f"n{i}", None, "/user/r", 1)), timers=timers)
        for i in range(RACERS)
    ]

    async def current() -> int:
        found = await kv.read(key, limit=4096)
        return 0 if found is None else found.revision

    async def run() -> int:
        highest = wins = 0
        for operation, index in steps:
            racer = racers[index]
            seen = await current()
            if operation == "acquire":
                won = await racer.acquire(seen)
            elif operation == "acquire-stale":
                won = await racer.acquire(max(0, seen - 1)) if seen else False
            elif operation == "renew":
                won = await racer.renew() if racer.revision else False
            else:
                if racer.revision:
                    await racer.release()
                continue
            now = await current()
            if won:
                assert racer.revision == now
                assert racer.revision > highest
                highest = racer.revision
                wins += 1
                racer.lost = False  # a racer may win again after losing
            holders = [r for r in racers if r.revision and not r.lost and r.revision == now]
            assert len(holders) <= 1
        return wins

    wins = portal.call(run)
    if steps[0][0] == "acquire":  # the first plain acquire of a fresh key always wins
        assert wins >= 1
