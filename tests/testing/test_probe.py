"""TestProbe: expectations by type, value and predicate, their failures, receive_n, fish_for, watch.

Expectations that must time out run in a SimulatedSystem, where the probe's wait lets
virtual time jump ahead: a timeout costs no real time.
"""

from __future__ import annotations

from typing import Any

import pytest

from actorlib import Actor, ActorRef, ActorSystem, Terminated
from actorlib.testing import SimulatedSystem, TestProbe


class Relay(Actor):
    """Forwards ("to", ref, message) to ref; ("later", ref, message, delay) after a timer."""

    async def receive(self, message: object) -> object:
        match message:
            case ("to", ActorRef() as ref, payload):
                ref.tell(payload)
            case ("each", ActorRef() as ref, list(payloads)):
                for payload in payloads:
                    ref.tell(payload)
            case ("later", ActorRef() as ref, payload, float(delay)):
                self.context.timers.start_single("later", ("to", ref, payload), delay)
            case "fail":
                raise ValueError("relay failed on purpose")
        return None


class Greeter(Actor):
    """Answers ("greet", name, reply_to) by telling reply_to a greeting."""

    async def receive(self, message: object) -> object:
        match message:
            case ("greet", str(name), ActorRef() as reply_to):
                reply_to.tell(f"hello, {name}")
        return None


class Echo(Actor):
    """Tells every message back to its sender."""

    async def receive(self, message: object) -> object:
        sender = self.context.sender
        if sender is not None:
            sender.tell(message)
        return None


def is_even(message: object) -> bool:
    return isinstance(message, int) and message % 2 == 0


async def relay_to(system: ActorSystem, probe: TestProbe, *payloads: object) -> ActorRef[Any]:
    relay = await system.spawn(Relay, name="relay")
    relay.tell(("each", probe.ref, list(payloads)))
    return relay


@pytest.mark.anyio
async def test_expect_with_a_type_returns_the_matching_message() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        await relay_to(system, probe, 42)
        assert await probe.expect(int, timeout=5) == 42


@pytest.mark.anyio
async def test_expect_with_a_value_compares_by_equality() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        await relay_to(system, probe, ("pong", 7))
        assert await probe.expect(("pong", 7), timeout=5) == ("pong", 7)


@pytest.mark.anyio
async def test_expect_with_a_predicate_returns_the_message_it_accepts() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        await relay_to(system, probe, 8)
        assert await probe.expect(is_even, timeout=5) == 8


@pytest.mark.anyio
async def test_the_probe_ref_serves_as_reply_to_and_records_the_sender() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="inbox")
        greeter = await system.spawn(Greeter, name="greeter")
        greeter.tell(("greet", "ada", probe.ref))
        assert await probe.expect(str, timeout=5) == "hello, ada"
        assert probe.last_sender == greeter
        assert probe.ref.path == "/user/inbox"


@pytest.mark.anyio
async def test_a_type_mismatch_says_what_arrived_and_what_was_expected() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, "forty-two")
        with pytest.raises(
            AssertionError, match=r"^/user/p expected a message of type int, got 'forty-two'$"
        ):
            await probe.expect(int, timeout=5)


@pytest.mark.anyio
async def test_a_value_mismatch_says_what_arrived_and_what_was_expected() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, ("pong", 8))
        with pytest.raises(AssertionError, match=r"expected \('pong', 7\), got \('pong', 8\)$"):
            await probe.expect(("pong", 7), timeout=5)


@pytest.mark.anyio
async def test_a_predicate_mismatch_names_the_predicate_and_the_message() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, 3)
        with pytest.raises(AssertionError, match=r"expected a message matching is_even, got 3$"):
            await probe.expect(is_even, timeout=5)


@pytest.mark.anyio
async def test_expect_times_out_in_virtual_time_naming_what_was_expected() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        with pytest.raises(
            AssertionError,
            match=r"^/user/p expected a message of type int within 30 s, but no message arrived$",
        ):
            await probe.expect(int, timeout=30)
        assert system.virtual_clock.now() == pytest.approx(30.0)


@pytest.mark.anyio
async def test_expect_waits_in_virtual_time_for_a_message_sent_by_a_timer() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        relay = await system.spawn(Relay)
        relay.tell(("later", probe.ref, "tick", 20.0))
        assert await probe.expect("tick", timeout=25) == "tick"
        assert system.virtual_clock.now() == pytest.approx(20.0)


@pytest.mark.anyio
async def test_expect_no_message_passes_when_nothing_arrives_within_the_window() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        relay = await system.spawn(Relay)
        relay.tell(("later", probe.ref, "too late", 5.0))
        await probe.expect_no_message(within=4)
        assert await probe.expect("too late", timeout=2) == "too late"


@pytest.mark.anyio
async def test_expect_no_message_fails_naming_the_message_that_arrived_in_the_window() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        relay = await system.spawn(Relay)
        relay.tell(("later", probe.ref, "early", 3.0))
        with pytest.raises(
            AssertionError, match=r"^/user/p expected no message within 4 s, got 'early'$"
        ):
            await probe.expect_no_message(within=4)
        assert system.virtual_clock.now() == pytest.approx(3.0)


@pytest.mark.anyio
async def test_expect_no_message_fails_on_a_message_already_waiting_and_leaves_it() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, "waiting")
        await system.settle()
        with pytest.raises(
            AssertionError, match=r"expected no message within 0.1 s, got 'waiting'"
        ):
            await probe.expect_no_message()
        assert probe.pending == ["waiting"]
        assert await probe.expect("waiting") == "waiting"


@pytest.mark.anyio
async def test_expect_no_message_leaves_a_message_that_arrives_in_the_window() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        relay = await system.spawn(Relay)
        relay.tell(("later", probe.ref, "early", 1.0))
        with pytest.raises(AssertionError, match=r"got 'early'"):
            await probe.expect_no_message(within=2)
        assert probe.pending == ["early"]


@pytest.mark.anyio
async def test_a_message_told_through_the_probe_has_the_probe_as_its_sender() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        echo = await system.spawn(Echo, name="echo")
        probe.tell(echo, "marco")
        assert await probe.expect("marco", timeout=5) == "marco"
        assert probe.last_sender == echo


@pytest.mark.anyio
async def test_receive_n_returns_the_next_n_messages_in_order() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        await relay_to(system, probe, "a", "b", "c", "d")
        assert await probe.receive_n(3, timeout=5) == ["a", "b", "c"]
        assert await probe.expect("d", timeout=5) == "d"


@pytest.mark.anyio
async def test_receive_n_fails_when_fewer_arrive_and_shows_what_came() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, "a", "b")
        with pytest.raises(
            AssertionError, match=r"^/user/p expected 3 messages within 10 s, got 2: \['a', 'b'\]$"
        ):
            await probe.receive_n(3, timeout=10)
        assert system.virtual_clock.now() == 10.0


@pytest.mark.anyio
async def test_receive_n_rejects_a_negative_count() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        with pytest.raises(ValueError, match=r"^n must be an int >= 0, got -1$"):
            await probe.receive_n(-1)


@pytest.mark.anyio
async def test_fish_for_skips_messages_until_one_matches() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        await relay_to(system, probe, 1, 3, 4, 5)
        assert await probe.fish_for(is_even, timeout=5) == 4
        assert await probe.expect(5, timeout=5) == 5


@pytest.mark.anyio
async def test_fish_for_fails_listing_the_messages_it_skipped() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system, name="p")
        await relay_to(system, probe, 1, 3)
        with pytest.raises(
            AssertionError,
            match=r"^/user/p expected a message matching is_even within 10 s; skipped 2: \[1, 3\]$",
        ):
            await probe.fish_for(is_even, timeout=10)


@pytest.mark.anyio
async def test_a_watching_probe_receives_terminated_when_the_actor_stops() -> None:
    async with ActorSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        relay = await system.spawn(Relay, name="relay")
        probe.watch(relay)
        await system.stop(relay)
        terminated = await probe.expect(Terminated, timeout=5)
        assert terminated == Terminated(relay, None)


@pytest.mark.anyio
async def test_a_watching_probe_receives_terminated_in_a_simulated_system() -> None:
    async with SimulatedSystem("probe") as system:
        probe = await TestProbe.spawn(system)
        relay = await system.spawn(Relay, name="relay")
        probe.watch(relay)
        await system.settle()
        await system.stop(relay)
        terminated = await probe.expect(Terminated, timeout=5)
        assert terminated.ref == relay


@pytest.mark.anyio
async def test_spawning_a_probe_outside_a_system_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^TestProbe.spawn\(\) expects a running ActorSystem"):
        await TestProbe.spawn("not a system")  # type: ignore[arg-type]
