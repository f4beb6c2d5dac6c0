"""Periodic jobs: ticks on the store's clock, one job per tick however many queues run the
schedule, missed ticks run once, and a five-field cron parser that is exact.

The memory store's clock is the system's (virtual here); durable stores run on a fake
wall clock that the test moves.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobQueueClosedError, MemoryStore
from actorlib.jobs._periodic import parse_cron
from actorlib.testing import VirtualClock
from tests.jobs.stores import FakeClock, Kind, make_kind

pytestmark = pytest.mark.anyio

RAN: list[float] = []


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1000.0)


@pytest.fixture
async def system(clock: VirtualClock) -> AsyncIterator[ActorSystem]:
    async with ActorSystem("jobs", clock=clock, random_seed=1) as system:
        yield system


async def test_a_periodic_job_runs_at_once_then_at_each_tick_of_the_clock(
    system: ActorSystem, clock: VirtualClock
) -> None:
    ran: list[float] = []

    async def tick() -> None:
        ran.append(clock.now())

    async with JobQueue(system) as queue:
        handle = await queue.periodic(tick, every=10, name="tick")
        await queue.join()
        for _ in range(3):
            await clock.advance(10)
            await queue.join()
        assert ran == [1000.0, 1010.0, 1020.0, 1030.0]
        handle.cancel()
        await clock.advance(50)
        await queue.join()
        assert ran == [1000.0, 1010.0, 1020.0, 1030.0]
        assert handle.cancelled


async def test_three_queues_sharing_a_memory_store_enqueue_each_tick_once(
    system: ActorSystem, clock: VirtualClock
) -> None:
    store = MemoryStore(clock.now)
    ran: list[float] = []

    async def tick() -> None:
        ran.append(clock.now())

    queues = [await JobQueue.start(system, store=store, name=f"q{n}") for n in range(3)]
    try:
        for queue in queues:
            await queue.periodic(tick, every=datetime.timedelta(seconds=5), name="shared")
        for _ in range(4):
            await clock.advance(5)
            for queue in queues:
                await queue.join()
    finally:
        for queue in queues:
            await queue.close()
    assert ran == [1000.0, 1005.0, 1010.0, 1015.0, 1020.0]


async def test_a_periodic_schedule_stops_with_its_queue(
    system: ActorSystem, clock: VirtualClock
) -> None:
    ran: list[float] = []

    async def tick() -> None:
        ran.append(clock.now())

    queue = await JobQueue.start(system)
    handle = await queue.periodic(tick, every=1)
    await queue.close()
    assert handle.cancelled
    await clock.advance(10)
    assert ran == [1000.0]
    with pytest.raises(JobQueueClosedError, match="cannot start a periodic job"):
        await queue.periodic(tick, every=1)


async def test_periodic_checks_its_schedule_and_name(system: ActorSystem) -> None:
    async def tick() -> None:
        pass

    async with JobQueue(system) as queue:
        with pytest.raises(ValueError, match="exactly one schedule"):
            await queue.periodic(tick)
        with pytest.raises(ValueError, match="exactly one schedule"):
            await queue.periodic(tick, every=1, cron="* * * * *")
        with pytest.raises(ValueError, match=r"every must be a finite number of seconds > 0"):
            await queue.periodic(tick, every=0)
        with pytest.raises(TypeError, match="every must be a number of seconds or a timedelta"):
            await queue.periodic(tick, every="5")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="cron must have 5 fields"):
            await queue.periodic(tick, cron="*/5 * * *")
        first = await queue.periodic(tick, every=60, name="nightly")
        with pytest.raises(ValueError, match=r"'nightly' already runs on queue 'jobs'.*cancel"):
            await queue.periodic(tick, every=60, name="nightly")
        first.cancel()
        await queue.periodic(tick, every=60, name="nightly")


@pytest.fixture
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    """SQLite only: a PostgreSQL store corrects any local clock to the server's at open,
    so a fake wall clock cannot move its ticks (its keys are the same `add` as SQLite's,
    which the conformance suite checks on every store)."""
    return make_kind("sqlite", request, tmp_path)


async def count_ticks(queue: JobQueue) -> int:
    counts = await queue.counts()
    return counts.queued + counts.running + counts.succeeded


async def test_three_queues_on_one_durable_store_enqueue_each_tick_once(
    durable: Kind, system: ActorSystem, clock: VirtualClock
) -> None:
    # The queues' timers run on the system's (virtual) clock, the ticks on the
    # store's (fake) wall clock: the test moves both together.
    wall = FakeClock()
    wall.time = utc("2026-01-01 12:00:00")
    queues = [
        await JobQueue.start(system, store=durable.store(wall), name=f"q{n}") for n in range(3)
    ]
    try:
        for queue in queues:
            await queue.periodic(RAN.append, 1.0, every=60, name="minutely")
        assert await count_ticks(queues[0]) == 1
        for ticks in range(2, 5):
            wall.advance(60)
            await clock.advance(60)
            # The timers' store calls are real I/O, which virtual time does not wait for.
            with anyio.fail_after(10):
                while await count_ticks(queues[0]) < ticks:
                    await anyio.lowlevel.checkpoint()
        with anyio.fail_after(10):
            for queue in queues:
                # A queue whose last look found another queue's job running learns
                # that it ended at its next poll (SQLite sends no notifications):
                # let the virtual clock reach it (polls every second, ticks 60 s apart).
                while not queue.statistics().idle:
                    await clock.advance(1.0)
                    await anyio.lowlevel.checkpoint()
                await queue.join()
        assert await count_ticks(queues[0]) == 4
    finally:
        for queue in queues:
            await queue.close()


async def test_ticks_missed_while_no_queue_ran_run_once_when_one_starts(
    durable: Kind, system: ActorSystem
) -> None:  # the durable counterpart of the virtual-clock test below
    wall = FakeClock()
    wall.time = utc("2026-01-01 12:00:30")
    async with JobQueue(system, store=durable.store(wall)) as queue:
        await queue.periodic(RAN.append, 1.0, cron="*/5 * * * *", name="five")
        await queue.join()
        assert await count_ticks(queue) == 1
    wall.advance(3600)  # twelve ticks pass with no queue running
    async with JobQueue(system, store=durable.store(wall)) as queue:
        await queue.periodic(RAN.append, 1.0, cron="*/5 * * * *", name="five")
        await queue.join()
        assert await count_ticks(queue) == 2


# ---------------------------------------------------------------- the cron parser


@pytest.mark.parametrize(
    ("expression", "now", "latest", "following"),
    [
        ("*/5 * * * *", "2026-03-01 10:07:30", "2026-03-01 10:05", "2026-03-01 10:10"),
        ("*/5 * * * *", "2026-03-01 10:05:00", "2026-03-01 10:05", "2026-03-01 10:10"),
        ("0 3 * * *", "2026-03-01 02:59:59", "2026-02-28 03:00", "2026-03-01 03:00"),
        ("30 9 * * 1-5", "2026-03-07 12:00:00", "2026-03-06 09:30", "2026-03-09 09:30"),
        ("0 0 1,15 * *", "2026-03-10 00:00:00", "2026-03-01 00:00", "2026-03-15 00:00"),
        ("0 0 29 2 *", "2026-03-01 00:00:00", "2024-02-29 00:00", "2028-02-29 00:00"),
        # Both day fields restricted: either matches (Vixie cron). 2026-03-13 is a Friday.
        ("0 12 13 * 5", "2026-03-12 00:00:00", "2026-03-06 12:00", "2026-03-13 12:00"),
        ("0 0 * * 7", "2026-03-02 00:00:00", "2026-03-01 00:00", "2026-03-08 00:00"),
        ("5-10/5 1 * 1-12/6 *", "2026-03-01 00:00:00", "2026-01-31 01:10", "2026-07-01 01:05"),
    ],
)
def test_cron_finds_the_latest_and_the_next_matching_minute(
    expression: str, now: str, latest: str, following: str
) -> None:
    cron = parse_cron(expression)
    assert cron.latest(utc(now)) == utc(latest)
    assert cron.next_after(utc(now)) == utc(following)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "cron must have 5 fields"),
        ("60 * * * *", r"cron minute field '60' .* must stay within 0-59"),
        ("* 5-2 * * *", r"cron hour field '5-2' .* ranges low-high"),
        ("* * * jan *", r"month field .jan. .* \(names, L, W, # and @-shortcuts are not"),
        ("*/0 * * * *", r"a step >= 1"),
        ("0 0 30 2 *", r"never fires: no month of its months has one of its days"),
    ],
)
def test_cron_refuses_what_it_does_not_read_and_says_what_to_write(
    expression: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cron(expression)


async def noop() -> None:
    pass


async def test_three_queues_on_one_postgresql_store_enqueue_each_tick_once_in_real_time(
    postgres_url: str,
) -> None:
    # Real time: a PostgreSQL store takes its time from the server, which no test clock moves.
    period = 0.25
    async with ActorSystem("jobs") as system:
        queues = [await JobQueue.start(system, store=postgres_url, name=f"q{n}") for n in range(3)]
        try:
            store = queues[0]._store
            first = math.floor(store.now() / period)
            for queue in queues:
                await queue.periodic(noop, every=period, name="quarter")
            await anyio.sleep(6 * period)
            for queue in queues:
                await queue.close()  # no tick is enqueued after this
            last = math.floor(store.now() / period)
        finally:
            for queue in queues:
                await queue.close()
        async with JobQueue(system, store=postgres_url, name="reader") as reader:
            ticks = await count_ticks(reader)
    # One job per tick from the first to the last (the last may have been missed
    # by every timer as the queues closed); three per tick would be 3x as many.
    assert last - first <= ticks <= last - first + 1
