"""Races with system messages and timers, found and shrunk without a Delay fault.

Two seeded bugs that only a schedule of system messages and timer firings can show:

- a dispatcher hands the next job to a worker whose ``done`` arrived before its
  ``Terminated``: the worker had already retired, so the job is lost;
- a client retries when its timer fires, and the server applies the retry too:
  the timer fired before the acknowledgement arrived.

Each holds in the natural order; hypothesis finds the race, shrinks it to a short
trace, and the trace's replay repeats the failure exactly on asyncio and trio. Before
system messages and timers were scheduled, neither race could happen in a simulated
run (a ``Terminated`` overtook everything, a timer waited for every message), so
hypothesis found nothing and these tests failed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings

from actorlib import Actor, ActorRef, Terminated
from actorlib.testing import Schedule, SimulatedSystem, schedules

BACKENDS = ("asyncio", "trio")
TERMINATED = "/user/retiring -> /user/dispatcher: system Terminated(/user/retiring)"
REPLAY = re.compile(r"SimulatedSystem\(schedule=Schedule\.replay\((\[[\d, ]*\])\)\)")

# ---------------------------------------------------------------- Terminated vs a user message


class Retiring(Actor):
    """Does one job, reports it, and stops."""

    def __init__(self, dispatcher: ActorRef[Any]) -> None:
        self.dispatcher = dispatcher

    async def receive(self, message: object) -> object:
        match message:
            case ("job", int(job)):
                self.dispatcher.tell(("done", job, self.ref))
                self.context.stop()
        return None


class Steady(Actor):
    """Does every job it is given and reports it."""

    def __init__(self, dispatcher: ActorRef[Any]) -> None:
        self.dispatcher = dispatcher

    async def receive(self, message: object) -> object:
        match message:
            case ("job", int(job)):
                self.dispatcher.tell(("done", job, self.ref))
        return None


class Dispatcher(Actor):
    """Hands jobs to live workers; a worker that reports gets the next job.

    The seeded bug: a worker counts as live until its Terminated arrives, so a
    worker that reported and then retired gets a job that is lost with it.
    """

    def __init__(self, jobs: list[int]) -> None:
        self.jobs = list(jobs)
        self.live: list[ActorRef[Any]] = []
        self.done: list[int] = []

    async def receive(self, message: object) -> object:
        match message:
            case ("start", list(workers)):
                for worker in workers:
                    self.context.watch(worker)
                    self.live.append(worker)
                self.jobs.reverse()
                workers[0].tell(("job", self.jobs.pop()))
            case ("done", int(job), ActorRef() as worker):
                self.done.append(job)
                if self.jobs:
                    taker = worker if worker in self.live else self.live[0]
                    taker.tell(("job", self.jobs.pop()))
            case Terminated(ref=ref):
                self.live.remove(ref)
            case "done":
                return sorted(self.done)
        return None


async def dispatch(schedule: Schedule) -> tuple[list[int], str]:
    """Three jobs, a worker that retires after one and one that stays; the jobs done."""
    async with SimulatedSystem("jobs", schedule=schedule) as system:
        dispatcher = await system.spawn(Dispatcher, [1, 2, 3], name="dispatcher")
        retiring = await system.spawn(Retiring, dispatcher, name="retiring")
        steady = await system.spawn(Steady, dispatcher, name="steady")
        dispatcher.tell(("start", [retiring, steady]))
        await system.settle()
        done = await dispatcher.ask("done")
        return done, system.report()


def every_job_is_done(backend: str) -> Callable[[], None]:
    @settings(database=None, deadline=None)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        done, _ = anyio.run(dispatch, schedule, backend=backend)
        assert done == [1, 2, 3], f"jobs lost: only {done} done"

    return prop


# ---------------------------------------------------------------- a timer vs a message


class Counter(Actor):
    """Adds what it is told to add, and acknowledges it."""

    def __init__(self) -> None:
        self.total = 0

    async def receive(self, message: object) -> object:
        match message:
            case ("add", int(amount), ActorRef() as client):
                self.total += amount
                client.tell("ack")
            case "total":
                return self.total
        return None


class RetryingClient(Actor):
    """Asks the counter to add 1, and retries when no ack came within a second.

    The seeded bug: the retry is not idempotent, so if the timer fires before
    the ack arrives, the counter adds twice.
    """

    def __init__(self, counter: ActorRef[Any]) -> None:
        self.counter = counter

    async def receive(self, message: object) -> object:
        match message:
            case "bump" | "retry":
                self.counter.tell(("add", 1, self.ref))
                self.context.timers.start_single("retry", "retry", 1.0)
            case "ack":
                self.context.timers.cancel("retry")
        return None


async def bump_once(schedule: Schedule) -> tuple[int, str]:
    """One bump through the retrying client; the counter's total."""
    async with SimulatedSystem("retry", schedule=schedule) as system:
        counter = await system.spawn(Counter, name="counter")
        client = await system.spawn(RetryingClient, counter, name="client")
        client.tell("bump")
        await system.settle()
        total = await counter.ask("total")
        return total, system.report()


def one_bump_adds_one(backend: str) -> Callable[[], None]:
    @settings(database=None, deadline=None)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        total, _ = anyio.run(bump_once, schedule, backend=backend)
        assert total == 1, f"one bump added {total}"

    return prop


# ---------------------------------------------------------------- the tests


def shrunk(prop: Callable[[], None], match: str) -> tuple[list[int], str]:
    """Run *prop*, which must fail; the shrunk replay choices and its reported trace."""
    with pytest.raises(AssertionError, match=match) as caught:
        prop()
    notes = "\n".join(caught.value.__notes__)
    replays = REPLAY.findall(notes)
    assert replays, notes
    (report,) = [note for note in caught.value.__notes__ if note.startswith("delivery trace")][-1:]
    return ast.literal_eval(replays[-1]), report


def steps_of(report: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in report.splitlines() if re.match(r"^ *\d+\. ", line)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_dispatcher_loses_no_job_in_the_natural_order(backend: str) -> None:
    done, report = anyio.run(dispatch, Schedule.fifo(), backend=backend)
    assert done == [1, 2, 3]
    steps = steps_of(report)
    # The natural order delivers the held Terminated before the retired worker's report.
    terminated = steps.index(TERMINATED)
    assert terminated < steps.index(
        "/user/retiring -> /user/dispatcher: tell ('done', 1, ActorRef('/user/retiring'))"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypothesis_finds_a_done_that_overtakes_its_terminated_and_shrinks_it(
    backend: str,
) -> None:
    choices, report = shrunk(every_job_is_done(backend), r"^jobs lost: only \[1\] done")
    steps = steps_of(report)
    assert len(steps) <= 16, report
    done = steps.index(
        "/user/retiring -> /user/dispatcher: tell ('done', 1, ActorRef('/user/retiring'))"
    )
    terminated = steps.index(TERMINATED)
    assert done < terminated, report
    # The job handed to the retired worker was a dead letter, and nobody reported again.
    assert not any("('job', 2)" in step for step in steps), report
    assert sum(1 for choice in choices if choice) <= 2, choices  # shrunk to few deviations


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_retrying_client_adds_once_in_the_natural_order(backend: str) -> None:
    total, report = anyio.run(bump_once, Schedule.fifo(), backend=backend)
    assert total == 1
    assert "timer" not in report.split("replay it with")[0].replace("delivery trace", "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypothesis_finds_a_timer_that_fires_before_the_ack_and_shrinks_it(backend: str) -> None:
    choices, report = shrunk(one_bump_adds_one(backend), r"^one bump added 2")
    steps = steps_of(report)
    assert len(steps) <= 8, report
    fired = steps.index("timer -> /user/client: timer 'retry'")
    assert fired < steps.index("/user/counter -> /user/client: tell 'ack'"), report
    assert sum(1 for choice in choices if choice) <= 2, choices  # shrunk to few deviations


@pytest.mark.parametrize(
    ("scenario", "prop", "match"),
    [
        (dispatch, every_job_is_done, r"^jobs lost"),
        (bump_once, one_bump_adds_one, r"^one bump added"),
    ],
    ids=["terminated-vs-message", "timer-vs-message"],
)
def test_the_shrunk_trace_replays_the_failure_exactly_on_both_backends(
    scenario: Callable[[Schedule], Any], prop: Callable[[str], Callable[[], None]], match: str
) -> None:
    choices, report = shrunk(prop("asyncio"), match)
    reports = {}
    for backend in BACKENDS:
        outcome, reports[backend] = anyio.run(scenario, Schedule.replay(choices), backend=backend)
        assert outcome not in ([1, 2, 3], 1), reports[backend]
    # The same deliveries, in the same order, as the failure hypothesis reported.
    assert steps_of(reports["asyncio"]) == steps_of(reports["trio"]) == steps_of(report)
