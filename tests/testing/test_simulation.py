"""SimulatedSystem: schedules, the trace, settle, per-sender FIFO and test-code tells.

Every delivery of a simulated run is chosen by a Schedule; these tests pin which one is
chosen and that a run repeats exactly. Deadlocks and `eventually` are in test_liveness.py.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorlib import Actor, ActorRef
from actorlib.testing import (
    Schedule,
    SimulatedSystem,
    Step,
    Trace,
    schedules,
)

BACKENDS = ("asyncio", "trio")


class Recorder(Actor):
    """Appends every message to a shared log as (own name, message); answers "log"."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        if message == "log":
            return [m for name, m in self.log if name == self.ref.name]
        self.log.append((self.ref.name, message))
        return None


class Token:
    """A message whose default repr carries a memory address."""


class Auctioneer(Actor):
    """Takes bids; tells the previous leader it was outbid."""

    def __init__(self) -> None:
        self.leader: tuple[ActorRef[Any] | None, int] = (None, 0)
        self.history: list[tuple[str, int]] = []

    async def receive(self, message: object) -> object:
        match message:
            case ("open", list(bidders)):
                for bidder in bidders:
                    bidder.tell("call")
            case ("bid", int(amount)):
                sender = self.context.sender
                assert sender is not None
                self.history.append((sender.name, amount))
                if amount <= self.leader[1]:
                    return "outbid"
                previous, self.leader = self.leader[0], (sender, amount)
                if previous is not None and previous != sender:
                    previous.tell("outbid")
                return "leading"
            case "state":
                leader, amount = self.leader
                return (None if leader is None else leader.name, amount, tuple(self.history))
        return None


class Bidder(Actor):
    """Bids in steps up to a limit, again each time it learns it was outbid."""

    def __init__(self, auctioneer: ActorRef[Any], step: int, limit: int) -> None:
        self.auctioneer = auctioneer
        self.step = step
        self.limit = limit
        self.bid = 0

    async def receive(self, message: object) -> object:
        if message in ("call", "outbid"):
            while self.bid + self.step <= self.limit:
                self.bid += self.step
                if await self.auctioneer.ask(("bid", self.bid)) == "leading":
                    break
        elif message == "state":
            return self.bid
        return None


async def run_auction(schedule: Schedule) -> tuple[list[str], object, Schedule]:
    """Run the auction to the end; return the trace lines, the final state and the schedule."""
    async with SimulatedSystem("auction", schedule=schedule) as system:
        auctioneer = await system.spawn(Auctioneer, name="auctioneer")
        bidders = [
            await system.spawn(Bidder, auctioneer, step, limit, name=name)
            for name, step, limit in [("ann", 10, 50), ("bob", 15, 60), ("cy", 25, 75)]
        ]
        auctioneer.tell(("open", bidders))
        await system.settle()
        state = (
            await auctioneer.ask("state"),
            [await bidder.ask("state") for bidder in bidders],
        )
        return [str(step) for step in system.trace], state, system.schedule


@pytest.mark.anyio
async def test_a_simulated_system_is_used_like_an_actor_system() -> None:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem("sim") as system:
        recorder = await system.spawn(Recorder, log, name="rec")
        recorder.tell("one")
        recorder.tell("two")
        assert await recorder.ask("log") == ["one", "two"]
    assert repr(system) == "<ActorSystem 'sim' closed>"


@pytest.mark.anyio
async def test_settle_delivers_until_nothing_is_in_flight() -> None:
    async with SimulatedSystem() as system:
        auctioneer = await system.spawn(Auctioneer, name="auctioneer")
        bidders = [await system.spawn(Bidder, auctioneer, 10, 30, name=f"b{i}") for i in range(2)]
        auctioneer.tell(("open", bidders))
        await system.settle()
        assert system.controller.in_flight() == 0
        delivered = len(system.trace)
        # Everything happened during settle: the state is final and asking adds only the ask.
        assert await auctioneer.ask("state") == (
            "b0",
            30,
            (("b0", 10), ("b1", 10), ("b1", 20), ("b0", 20), ("b0", 30), ("b1", 30)),
        )
        assert len(system.trace) == delivered + 2


@pytest.mark.anyio
async def test_settle_does_not_run_a_periodic_timer_for_ever() -> None:
    class Periodic(Actor):
        async def on_start(self) -> None:
            self.context.timers.start_periodic("tick", "tick", 1.0)

        async def receive(self, message: object) -> object:
            return None

    async with SimulatedSystem() as system:
        await system.spawn(Periodic)
        with anyio.fail_after(10):
            await system.settle()
        assert system.virtual_clock.now() == 0.0


@pytest.mark.anyio
async def test_the_fifo_schedule_delivers_the_oldest_in_flight_message_first() -> None:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem(schedule=Schedule.fifo()) as system:
        a, b, c = [await system.spawn(Recorder, log, name=name) for name in "abc"]
        a.tell("a1")
        b.tell("b1")
        a.tell("a2")
        c.tell("c1")
        await system.settle()
    assert log == [("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1")]
    assert [step.choice for step in system.trace] == [0, 0, 0, 0]
    assert [step.candidates for step in system.trace] == [3, 3, 2, 1]


@pytest.mark.anyio
async def test_a_replayed_choice_picks_among_the_oldest_message_of_each_channel() -> None:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem(schedule=Schedule.replay([2, 1])) as system:
        a, b, c = [await system.spawn(Recorder, log, name=name) for name in "abc"]
        a.tell("a1")
        b.tell("b1")
        a.tell("a2")
        c.tell("c1")
        await system.settle()
    # Candidates are a1, b1, c1 (a2 waits behind a1): choice 2 is c1, then b1 of a1, b1.
    assert log == [("c", "c1"), ("b", "b1"), ("a", "a1"), ("a", "a2")]
    assert system.trace[0] == Step(1, "test", "/user/c", "tell", "'c1'", 2, 3)


@pytest.mark.anyio
async def test_tells_from_test_code_are_held_in_flight_until_the_schedule_picks_them() -> None:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem(schedule=Schedule.replay([1])) as system:
        first = await system.spawn(Recorder, log, name="first")
        second = await system.spawn(Recorder, log, name="second")
        first.tell("hello")
        second.tell("world")
        assert system.controller.in_flight() == 2
        assert system.trace == []
        await system.settle()
        assert system.controller.in_flight() == 0
    assert log == [("second", "world"), ("first", "hello")]
    assert str(system.trace) == (
        "  1. test -> /user/second: tell 'world'\n  2. test -> /user/first: tell 'hello'"
    )


@pytest.mark.anyio
async def test_a_random_schedule_is_reproducible_from_its_seed() -> None:
    runs = [await run_auction(Schedule.random(seed)) for seed in (7, 7, 8)]
    assert runs[0][:2] == runs[1][:2]
    assert runs[0][2].made == runs[1][2].made
    assert runs[0][2].made != runs[2][2].made


@pytest.mark.anyio
async def test_a_schedule_object_used_again_starts_over_from_its_first_step() -> None:
    schedule = Schedule.random(7)
    first = await run_auction(schedule)
    assert first[2] is schedule  # a fresh schedule is used as is: its choices are readable
    second = await run_auction(schedule)
    assert second[:2] == first[:2]
    assert second[2].made == schedule.made


@pytest.mark.anyio
async def test_replaying_the_choices_made_reproduces_a_run_exactly() -> None:
    trace, state, schedule = await run_auction(Schedule.random(3))
    assert any(schedule.made), "seed 3 must deviate from the natural order to prove anything"
    fifo_trace, _, _ = await run_auction(Schedule.fifo())
    assert trace != fifo_trace
    replayed_trace, replayed_state, _ = await run_auction(Schedule.replay(schedule.made))
    assert replayed_trace == trace
    assert replayed_state == state


@pytest.mark.anyio
async def test_the_same_schedule_replayed_100_times_gives_the_identical_trace_and_state() -> None:
    trace, state, schedule = await run_auction(Schedule.random(11))
    assert any(schedule.made)
    assert len(trace) > 10
    for _ in range(100):
        again_trace, again_state, _ = await run_auction(Schedule.replay(schedule.made))
        assert again_trace == trace
        assert again_state == state


def test_replay_choices_must_be_non_negative_ints() -> None:
    with pytest.raises(ValueError, match=r"^replay choices must be ints >= 0, got -1$"):
        Schedule.replay([0, -1])
    with pytest.raises(ValueError, match=r"^replay choices must be ints >= 0, got True$"):
        Schedule.replay([True])


def test_a_schedule_shows_the_code_that_rebuilds_it() -> None:
    assert repr(Schedule.fifo()) == "Schedule.fifo()"
    assert repr(Schedule.random(5)) == "Schedule.random(5)"
    assert repr(Schedule.replay([1, 0])) == "Schedule.replay([1, 0])"
    schedule = Schedule.replay([3, 0, 1])
    assert [schedule.choose(2), schedule.choose(4), schedule.choose(1), schedule.choose(5)] == [
        1,
        0,
        0,
        0,
    ]
    assert schedule.made == [1, 0, 0, 0]
    assert schedule.replay_code() == "Schedule.replay([1])"
    assert schedule.fresh().made == []


def test_a_simulated_system_refuses_a_schedule_or_clock_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"^schedule must be a Schedule \(Schedule.fifo\(\)"):
        SimulatedSystem(schedule=[0, 1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^clock must be a VirtualClock, got 'now'$"):
        SimulatedSystem(clock="now")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_trace_prints_one_delivery_per_line_identically_between_runs() -> None:
    async def run() -> Trace:
        log: list[tuple[str, object]] = []
        async with SimulatedSystem() as system:
            recorder = await system.spawn(Recorder, log, name="rec")
            recorder.tell(Token())
            await recorder.ask("log")
        return system.trace

    first, second = await run(), await run()
    expected = (
        f"  1. test -> /user/rec: tell <{__name__}.Token object>\n"
        f"  2. test -> /user/rec: ask 'log'\n"
        f"  3. /user/rec -> test: reply [<{__name__}.Token object>]"
    )
    assert str(first) == expected
    assert [str(step) for step in first] == [str(step) for step in second]
    assert str(Trace()) == "(no deliveries)"


async def fail_after_two_deliveries() -> None:
    async with SimulatedSystem("noted", schedule=Schedule.replay([1])) as system:
        a = await system.spawn(Recorder, [], name="a")
        b = await system.spawn(Recorder, [], name="b")
        a.tell("x")
        b.tell("y")
        await system.settle()
        raise RuntimeError("the test failed")


@pytest.mark.anyio
async def test_an_error_in_the_block_carries_the_trace_and_the_replay() -> None:
    with pytest.raises(RuntimeError, match=r"^the test failed") as caught:
        await fail_after_two_deliveries()
    assert caught.value.__notes__ == [
        "delivery trace of 'noted' (2 deliveries):\n"
        "  1. test -> /user/b: tell 'y'\n"
        "  2. test -> /user/a: tell 'x'\n"
        "replay it with: SimulatedSystem(schedule=Schedule.replay([1]))"
    ]


class Emitter(Actor):
    """On "go", sends its numbered messages to the target, by tell or by ask."""

    def __init__(self, target: ActorRef[Any], count: int, asks: frozenset[int]) -> None:
        self.target = target
        self.count = count
        self.asks = asks

    async def receive(self, message: object) -> object:
        if message == "go":
            for seq in range(self.count):
                if seq in self.asks:
                    await self.target.ask((self.ref.name, seq))
                else:
                    self.target.tell((self.ref.name, seq))
        return None


async def run_emitters(schedule: Schedule, counts: list[int], asks: frozenset[int]) -> list[object]:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem(schedule=schedule) as system:
        sink = await system.spawn(Recorder, log, name="sink")
        emitters = [
            await system.spawn(Emitter, sink, count, asks, name=f"e{index}")
            for index, count in enumerate(counts)
        ]
        for emitter in emitters:
            emitter.tell("go")
        for seq in range(3):
            sink.tell(("test", seq))
        await system.settle()
    return [message for _, message in log]


def per_sender(log: list[object]) -> dict[object, list[object]]:
    by_sender: dict[object, list[object]] = {}
    for entry in log:
        assert isinstance(entry, tuple)
        sender, seq = entry
        by_sender.setdefault(sender, []).append(seq)
    return by_sender


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None, database=None)
@given(
    schedule=schedules(),
    counts=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    asks=st.frozensets(st.integers(0, 4), max_size=2),
)
def test_each_sender_s_messages_arrive_in_order_under_any_schedule(
    backend: str, schedule: Schedule, counts: list[int], asks: frozenset[int]
) -> None:
    log = anyio.run(run_emitters, schedule, counts, asks, backend=backend)
    expected = {f"e{index}": list(range(count)) for index, count in enumerate(counts)}
    expected["test"] = [0, 1, 2]
    assert per_sender(log) == expected


@pytest.mark.anyio
async def test_only_the_interleaving_of_different_senders_varies_between_schedules() -> None:
    counts, asks = [3, 3, 2], frozenset({1})
    natural = await run_emitters(Schedule.fifo(), counts, asks)
    others = [await run_emitters(Schedule.random(seed), counts, asks) for seed in range(8)]
    assert any(log != natural for log in others)
    assert all(per_sender(log) == per_sender(natural) for log in others)


@pytest.mark.anyio
async def test_two_simulated_systems_can_run_in_the_same_event_loop() -> None:
    # Each controller waits until every other task is blocked; they must not wait on each other.
    log: list[tuple[str, object]] = []
    with anyio.fail_after(2):
        async with SimulatedSystem("outer") as outer, SimulatedSystem("inner") as inner:
            for system in (outer, inner):
                recorder = await system.spawn(Recorder, log, name="rec")
                assert await recorder.ask("log") == []
