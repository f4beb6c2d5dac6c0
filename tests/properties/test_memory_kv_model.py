"""The in-memory KV store follows a tiny model under random writes, deletes, fences and time.

The model is a dict of last entries and a list of every change, with
expiry done the plain way: after each step of time, expire whatever is due,
earliest first. The store must agree on every outcome (a revision or a
conflict), on every key's last entry after every step, and its watchers
must have seen exactly the model's changes, in order, by prefix. The store
runs on a `VirtualClock`, on asyncio and on trio.
"""

from __future__ import annotations

import anyio
import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actorlib.cluster._memory import MemoryKV
from actorlib.cluster._store import MARKER_TTL, Conflict, Entry, Op
from actorlib.testing import VirtualClock
from tests.properties.strategies import KV_KEYS, KvStep, kv_steps

QUARTER = 0.25  # every time step is a multiple of it


@attrs.define
class Model:
    """What a JetStream KV bucket holds: last entries, their expiry times, every change."""

    now: float = 0.0
    revision: int = 0
    last: dict[str, tuple[Entry, float | None]] = attrs.Factory(dict)
    log: list[Entry] = attrs.Factory(list)

    def revision_of(self, key: str) -> int:
        return self.last[key][0].revision if key in self.last else 0

    def add(self, key: str, op: Op, value: bytes, expires: float | None) -> int:
        self.revision += 1
        entry = Entry(key, self.revision, value, op)
        self.last[key] = (entry, expires)
        self.log.append(entry)
        return self.revision

    def settle(self) -> None:
        while due := [
            (expires, entry.revision, key)
            for key, (entry, expires) in self.last.items()
            if expires is not None and expires <= self.now
        ]:
            when, _, key = min(due)
            if self.last[key][0].op == "expire":
                del self.last[key]
            else:
                self.add(key, "expire", b"", when + MARKER_TTL)

    def expected(self, key: str, choice: str) -> int | None:
        current = self.revision_of(key)
        return {"none": None, "current": current, "zero": 0, "stale": max(1, current - 1)}[choice]


async def check(steps: list[KvStep], watching: bool) -> None:
    clock = VirtualClock()
    store, model = MemoryKV(clock), Model()
    # Without watchers, expiries happen only when an operation notices them.
    seen: dict[str, list[Entry | None]] = {"": [], "k1.": []} if watching else {}

    async def collect(prefix: str) -> None:
        async for entry in await store.watch(prefix):
            seen[prefix].append(entry)

    async with anyio.create_task_group() as group:
        for prefix in seen:
            group.start_soon(collect, prefix)
        await clock.advance(0)  # both watchers are open (and have seen None)
        for number, step in enumerate(steps):
            if step[0] == "advance":
                for _ in range(round(step[1] / QUARTER)):  # read every quarter second
                    await clock.advance(QUARTER)
                    model.now += QUARTER
                    model.settle()
                    await agree(store, model)
            else:
                outcome = await apply(store, model, step, value=str(number).encode())
                assert outcome[0] == outcome[1], step
                await agree(store, model)
        await clock.advance(0)  # the watchers caught up
        group.cancel_scope.cancel()
    if watching:
        assert seen[""] == [None, *model.log]
        assert seen["k1."] == [None, *(e for e in model.log if e.key.startswith("k1."))]
    late = await store.watch("")
    current = sorted((entry for entry, _ in model.last.values()), key=lambda e: e.revision)
    assert [await late.__anext__() for _ in range(len(current) + 1)] == [*current, None]


async def agree(store: MemoryKV, model: Model) -> None:
    """Every key's last entry is the model's."""
    for key in KV_KEYS:
        expected = model.last.get(key)
        assert await store.read(key) == (None if expected is None else expected[0]), key


async def apply(
    store: MemoryKV, model: Model, step: KvStep, *, value: bytes
) -> tuple[int | str, int | str]:
    """Run a write or delete on the store and the model: (the store's outcome, the model's)."""
    model.settle()
    want: int | str = "conflict"
    try:
        if step[0] == "write":
            _, key, choice, ttl = step
            expect = model.expected(key, choice)
            if expect is None or expect == model.revision_of(key):
                want = model.add(key, "put", value, None if ttl is None else model.now + ttl)
            return await store.write(key, value, expect=expect, ttl=ttl), want
        if step[0] == "fenced":
            _, key, other, choice = step
            fence = model.expected(other, choice)
            assert fence is not None
            if fence == model.revision_of(other):
                want = model.add(key, "put", value, None)
            return await store.write(key, value, fence=(other, fence)), want
        assert step[0] == "delete"
        _, key, choice = step
        expect = model.expected(key, choice)
        if expect is None or expect == model.revision_of(key):
            want = model.add(key, "delete", b"", None)
        return await store.delete(key, expect=expect), want
    except Conflict:
        return "conflict", want


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(deadline=None)
@given(steps=kv_steps, watching=st.booleans())
# An expiry, its marker's expiry exactly on time, a create after it and a fence on it.
@example(
    steps=[
        ("write", "k1.a", "zero", 1),
        ("advance", 1.0),
        ("fenced", "k0.a", "k1.a", "current"),
        ("write", "k1.a", "zero", None),
        ("advance", 1.0),
        ("advance", 1.0),
        ("write", "k1.a", "zero", 2),
        ("delete", "k1.a", "stale"),
    ],
    watching=True,
)
def test_the_memory_store_follows_the_model(
    backend: str, steps: list[KvStep], watching: bool
) -> None:
    anyio.run(check, steps, watching, backend=backend)
