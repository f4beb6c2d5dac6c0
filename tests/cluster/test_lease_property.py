"""A hypothesis property of leases against a real JetStream KV bucket: one holder at a time.

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
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actorlib.cluster._kv import Bucket
from actorlib.cluster._lease import Holder, Lease, LeaseTiming
from tests.cluster.conftest import SECRET
from tests.nats_server import NatsServer

TIMING = LeaseTiming(ttl=30, renew_every=1)
RACERS = 3
operations = st.lists(
    st.tuples(st.sampled_from(["acquire", "acquire-stale", "renew", "release"]), st.integers(0, 2)),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def bucket(js_server: NatsServer) -> Iterator[tuple[BlockingPortal, Bucket]]:
    """A bucket of its own, reached from synchronous hypothesis examples through a portal."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))

        async def open_bucket() -> tuple[Any, Bucket]:
            import nats

            client = await nats.connect(js_server.url)
            opened = Bucket(client.jetstream(), "leases-" + secrets.token_hex(4), SECRET)
            await opened.open()
            return client, opened

        client, opened = portal.call(open_bucket)
        stack.callback(portal.call, client.close)
        yield portal, opened


@settings(max_examples=40, deadline=None)
@given(operations)
@example([("acquire", 0), ("acquire", 1), ("renew", 0), ("release", 0), ("acquire", 1)])
@example([("acquire", 0), ("acquire-stale", 1), ("renew", 1), ("renew", 0), ("acquire", 2)])
def test_at_most_one_racer_holds_a_key_and_tokens_only_rise(
    bucket: tuple[BlockingPortal, Bucket], steps: list[tuple[str, int]]
) -> None:
    portal, kv = bucket
    key = "l.Race." + secrets.token_hex(8)
    racers = [
        Lease(kv, key, TIMING, Holder(f"n{i}", (f"n{i}", None, "/user/r", 1)))
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
