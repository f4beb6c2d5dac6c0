"""SystemPortal: a hypothesis RuleBasedStateMachine drives a counter actor through sync rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actorlib import Actor, ActorSystem
from actorlib.testing import SimulatedSystem, SystemPortal

BACKENDS = ("asyncio", "trio")


class Counter(Actor):
    """Adds, subtracts and resets a number; records its stop in a shared list."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.value = 0

    async def receive(self, message: object) -> object:
        match message:
            case ("add", int(amount)):
                self.value += amount
            case "reset":
                self.value = 0
            case "get":
                return self.value
        return None

    async def on_stop(self) -> None:
        self.stops.append(self.ref.path)


class SaturatingCounter(Counter):
    """A buggy counter: it never goes below zero."""

    async def receive(self, message: object) -> object:
        result = await super().receive(message)
        self.value = max(self.value, 0)
        return result


class Record:
    """What the machines of one test run did: the portals they opened, the actors stopped."""

    def __init__(self) -> None:
        self.portals: list[SystemPortal] = []
        self.stops: list[str] = []


def counter_machine(
    backend: str,
    counter_class: type[Counter],
    record: Record,
    factory: Callable[[], ActorSystem] = lambda: ActorSystem("model"),
) -> type[RuleBasedStateMachine]:
    class CounterMachine(RuleBasedStateMachine):
        """The counter actor against a plain int."""

        def __init__(self) -> None:
            super().__init__()
            self.portal = SystemPortal(factory, backend=backend).start()
            record.portals.append(self.portal)
            self.counter = self.portal.spawn(counter_class, record.stops, name="counter")
            self.model = 0

        @rule(amount=st.integers(-5, 5))
        def add(self, amount: int) -> None:
            self.portal.tell(self.counter, ("add", amount))
            self.model += amount

        @rule()
        def reset(self) -> None:
            self.portal.tell(self.counter, "reset")
            self.model = 0

        @rule()
        def get(self) -> None:
            assert self.portal.ask(self.counter, "get") == self.model

        @invariant()
        def the_actor_matches_the_model(self) -> None:
            # An ask travels behind every tell of this thread: it sees all of them.
            value = self.portal.ask(self.counter, "get", timeout=5)
            assert value == self.model, f"counter says {value}, model says {self.model}"

        def teardown(self) -> None:
            self.portal.close()

    CounterMachine.TestCase.settings = settings(
        max_examples=8, stateful_step_count=10, deadline=None, database=None
    )
    return CounterMachine


def assert_all_closed(record: Record) -> None:
    assert record.portals
    for portal in record.portals:
        with pytest.raises(RuntimeError, match=r"^the SystemPortal is not started"):
            portal.system  # noqa: B018 - the property raises once closed
    # Closing shut each system down: every counter's on_stop ran.
    assert record.stops == ["/user/counter"] * len(record.portals)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_counter_actor_follows_its_model_under_random_rules(backend: str) -> None:
    record = Record()
    machine = counter_machine(backend, Counter, record)
    machine.TestCase().runTest()
    assert_all_closed(record)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_state_machine_catches_a_counter_that_departs_from_its_model(backend: str) -> None:
    record = Record()
    machine = counter_machine(backend, SaturatingCounter, record)
    machine.TestCase.settings = settings(
        machine.TestCase.settings, max_examples=50, stateful_step_count=20
    )
    with pytest.raises(AssertionError, match=r"counter says 0, model says -\d+"):
        machine.TestCase().runTest()
    assert_all_closed(record)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_machine_on_a_simulated_system_reports_its_delivery_trace(backend: str) -> None:
    record = Record()
    machine = counter_machine(
        backend, SaturatingCounter, record, lambda: SimulatedSystem("model", ask_timeout=None)
    )
    machine.TestCase.settings = settings(
        machine.TestCase.settings, max_examples=50, stateful_step_count=20
    )
    with pytest.raises(AssertionError, match=r"counter says 0, model says -\d+") as caught:
        machine.TestCase().runTest()
    notes = "\n".join(caught.value.__notes__)
    assert "delivery trace of 'model' (" in notes
    assert "test -> /user/counter: tell ('add', -" in notes
    assert_all_closed(record)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_portal_settles_a_simulated_system_from_sync_code(backend: str) -> None:
    stops: list[str] = []
    with SystemPortal(lambda: SimulatedSystem("sim"), backend=backend) as portal:
        counter = portal.spawn(Counter, stops, name="counter")
        portal.tell(counter, ("add", 2))
        portal.tell(counter, ("add", 3))
        portal.settle()
        system: Any = portal.system
        assert [str(step) for step in system.trace] == [
            "  1. test -> /user/counter: tell ('add', 2)",
            "  2. test -> /user/counter: tell ('add', 3)",
        ]
        assert portal.ask(counter, "get") == 5
        assert portal.call(lambda: system.virtual_clock.now()) == 0.0
    assert stops == ["/user/counter"]


def test_settle_needs_a_simulated_system() -> None:
    with (
        SystemPortal(ActorSystem) as portal,
        pytest.raises(TypeError, match=r"^settle\(\) needs a SimulatedSystem"),
    ):
        portal.settle()


def test_a_portal_refuses_use_before_start_and_a_second_start() -> None:
    portal = SystemPortal()
    with pytest.raises(RuntimeError, match=r"^the SystemPortal is not started; call start\(\)"):
        portal.call(lambda: None)
    with portal, pytest.raises(RuntimeError, match=r"^this SystemPortal is already started$"):
        portal.start()


def test_a_portal_refuses_a_factory_that_makes_no_actor_system() -> None:
    with pytest.raises(TypeError, match=r"^factory must be a callable returning an ActorSystem"):
        SystemPortal("system")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^factory must return an ActorSystem, got 42$"):
        SystemPortal(lambda: 42).start()  # type: ignore[arg-type, return-value]
