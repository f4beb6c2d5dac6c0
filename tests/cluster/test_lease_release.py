"""Releasing a lease against a real JetStream KV bucket, while the renewer is at work."""

from __future__ import annotations

import secrets

import anyio
import anyio.lowlevel
import nats
import pytest

from actorlib._clock import MonotonicClock, TimerQueue
from actorlib.cluster._jetstream import JetStreamKV
from actorlib.cluster._kv import Bucket
from actorlib.cluster._lease import Holder, Lease, LeaseTiming
from tests.cluster.conftest import SECRET
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

TIMING = LeaseTiming(ttl=30, renew_every=1)
# Turns of the event loop for a renewal that holds the lock to send its write.
SENDING = 10


async def test_a_lease_released_while_a_renewal_is_in_flight_is_free_afterwards(
    js_server: NatsServer,
) -> None:
    client = await nats.connect(js_server.url)
    try:
        name = "release-" + secrets.token_hex(4)
        store = JetStreamKV(client.jetstream(), name)
        await store.open()
        bucket = Bucket(store, name, SECRET)
        holder = Holder("m1", ("m1", None, "/user/region", 1))
        for round_ in range(5):
            key = f"l.Cart.{round_}"
            lease = Lease(bucket, key, TIMING, holder, timers=TimerQueue(MonotonicClock()))
            assert await lease.acquire(0)
            async with anyio.create_task_group() as group:
                group.start_soon(lease.renew)  # the renewer's write is on its way ...
                while not lease.lock.locked():
                    await anyio.lowlevel.checkpoint()
                for _ in range(SENDING):
                    await anyio.lowlevel.checkpoint()
                await lease.release()  # ... when the activation stops
            found = await bucket.read(key, limit=4096)
            # Before the fix, the delete at the older revision was refused (the
            # renewal had landed first) and ignored: the key stayed held by m1.
            assert found is not None
            assert found.plaintext is None, f"round {round_}: the key is still held"
    finally:
        await client.close()
