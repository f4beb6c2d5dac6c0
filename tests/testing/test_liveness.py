"""SimulatedSystem liveness: deadlocks named as such, ask timeouts in virtual time, eventually.

A cycle of asks is reported as a `Deadlock` naming the actors (never as an ask timeout),
and `eventually` lets virtual time pass until a property holds, or says that it never did.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actorlib import Actor, ActorRef, AskTimeout
from actorlib.testing import Deadlock, SimulatedSystem, TestProbe, VirtualClock, eventually


class Peer(Actor):
    """On "go", asks the next peer (with a timeout) and records how the ask ended."""

    def __init__(self, outcomes: list[tuple[str, str]]) -> None:
        self.outcomes = outcomes
        self.next: ActorRef[Any] | None = None

    async def receive(self, message: object) -> object:
        match message:
            case ("next", ActorRef() as ref):
                self.next = ref
            case "go":
                assert self.next is not None
                try:
                    await self.next.ask("ping", timeout=1)
                except Exception as error:
                    self.outcomes.append((self.ref.name, type(error).__name__))
                    raise
            case "ping":
                return "pong"
        return None


async def ring(system: SimulatedSystem, names: str, outcomes: list[tuple[str, str]]) -> list[Any]:
    peers = [await system.spawn(Peer, outcomes, name=name) for name in names]
    for peer, following in zip(peers, peers[1:] + peers[:1], strict=True):
        peer.tell(("next", following))
    return peers


@pytest.mark.anyio
async def test_a_asking_b_while_b_asks_a_is_a_deadlock_naming_the_cycle_not_a_timeout() -> None:
    outcomes: list[tuple[str, str]] = []
    with anyio.fail_after(10):
        async with SimulatedSystem() as system:
            a, b = await ring(system, "ab", outcomes)
            a.tell("go")
            b.tell("go")
            with pytest.raises(
                Deadlock,
                match=r"^deadlock: /user/a asks /user/b; /user/b asks /user/a; nothing in flight",
            ) as caught:
                await system.settle()
            assert caught.value.cycle == ("/user/a", "/user/b")
            assert system.virtual_clock.now() == 0.0  # the 1 s ask timeouts never fired
    # Shutdown broke the cycle: each ask failed with the Deadlock, neither timed out.
    assert sorted(outcomes) == [("a", "Deadlock"), ("b", "Deadlock")]


async def start_ring_and_settle(names: str, outcomes: list[tuple[str, str]]) -> None:
    async with SimulatedSystem() as system:
        for peer in await ring(system, names, outcomes):
            peer.tell("go")
        await system.settle()


@pytest.mark.anyio
async def test_a_deadlock_of_three_actors_names_all_three() -> None:
    outcomes: list[tuple[str, str]] = []
    with pytest.raises(
        Deadlock,
        match=r"^deadlock: /user/a asks /user/b; /user/b asks /user/c; /user/c asks /user/a;",
    ) as caught:
        await start_ring_and_settle("abc", outcomes)
    assert "delivery trace of 'sim'" in caught.value.__notes__[0]
    assert ("a", "AskTimeout") not in outcomes


@pytest.mark.anyio
async def test_an_ask_from_test_code_into_a_deadlock_fails_with_the_deadlock() -> None:
    async with SimulatedSystem() as system:
        a, b = await ring(system, "ab", [])
        b.tell("go")
        with pytest.raises(Deadlock, match=r"/user/a asks /user/b; /user/b asks /user/a"):
            await a.ask("go", timeout=1)


@pytest.mark.anyio
async def test_a_probe_waiting_on_a_deadlocked_system_gets_the_deadlock() -> None:
    async with SimulatedSystem() as system:
        probe = await TestProbe.spawn(system)
        a, b = await ring(system, "ab", [])
        a.tell("go")
        b.tell("go")
        # A deadlock, not a hang: time no longer moves once it is declared.
        with anyio.fail_after(1), pytest.raises(Deadlock, match=r"/user/a asks /user/b"):
            await probe.expect("never sent", timeout=5)


@pytest.mark.anyio
async def test_an_ask_nobody_answers_still_times_out_in_virtual_time() -> None:
    class Silent(Actor):
        async def receive(self, message: object) -> object:
            self.context.stash()
            return None

    async with SimulatedSystem() as system:
        silent = await system.spawn(Silent, name="silent")
        with pytest.raises(AskTimeout, match="silent"):
            await silent.ask("hello?", timeout=30)
        assert system.virtual_clock.now() == 30.0


class Counter(Actor):
    """Counts the ticks of a periodic timer every 10 virtual seconds."""

    def __init__(self, seen: list[float], clock: VirtualClock) -> None:
        self.seen = seen
        self.clock = clock

    async def on_start(self) -> None:
        self.context.timers.start_periodic("tick", "tick", 10.0)

    async def receive(self, message: object) -> object:
        if message == "count":
            return len(self.seen)
        self.seen.append(self.clock.now())
        return None


@pytest.mark.anyio
async def test_eventually_lets_virtual_time_pass_until_a_timer_makes_the_property_hold() -> None:
    seen: list[float] = []
    async with SimulatedSystem() as system:
        await system.spawn(Counter, seen, system.virtual_clock)

        def five_ticks() -> bool:
            return len(seen) >= 5

        await eventually(system, five_ticks)
        assert seen[:5] == [10.0, 20.0, 30.0, 40.0, 50.0]


@pytest.mark.anyio
async def test_eventually_returns_at_the_virtual_time_the_property_first_holds() -> None:
    seen: list[float] = []
    async with SimulatedSystem() as system:
        await system.spawn(Counter, seen, system.virtual_clock)

        def five_ticks() -> bool:
            return len(seen) >= 5

        await eventually(system, five_ticks)
        # It held at t=50, after the fifth tick; time must not run on to the next tick.
        assert system.virtual_clock.now() == 50.0


@pytest.mark.anyio
async def test_a_timer_s_message_is_traced_as_the_actor_s_own_timer() -> None:
    seen: list[float] = []
    async with SimulatedSystem() as system:
        await system.spawn(Counter, seen, system.virtual_clock, name="counter")

        def two_ticks() -> bool:
            return len(seen) >= 2

        await eventually(system, two_ticks)
    assert str(system.trace) == (
        "  1. timer -> /user/counter: timer 'tick'\n  2. timer -> /user/counter: timer 'tick'"
    )


@pytest.mark.anyio
async def test_eventually_raises_the_deadlock_when_the_system_deadlocks_first() -> None:
    async with SimulatedSystem() as system:
        a, b = await ring(system, "ab", [])
        a.tell("go")
        b.tell("go")

        def never() -> bool:
            return False

        with anyio.fail_after(10), pytest.raises(Deadlock, match=r"/user/a asks /user/b"):
            await eventually(system, never)


@pytest.mark.anyio
async def test_eventually_accepts_an_async_predicate() -> None:
    async with SimulatedSystem() as system:
        counter = await system.spawn(Counter, [], system.virtual_clock)

        async def three_ticks() -> bool:
            return bool(await counter.ask("count") >= 3)

        await system.eventually(three_ticks, within=100)
        assert system.virtual_clock.now() == 30.0


@pytest.mark.anyio
async def test_eventually_fails_when_the_property_never_holds_within_the_limit() -> None:
    seen: list[float] = []
    async with SimulatedSystem() as system:
        await system.spawn(Counter, seen, system.virtual_clock)

        def a_thousand_ticks() -> bool:
            return len(seen) >= 1000

        with pytest.raises(
            AssertionError,
            match=r"^eventually\(a_thousand_ticks\) did not hold within 100 virtual seconds",
        ):
            await eventually(system, a_thousand_ticks, within=100)
        assert len(seen) <= 10


@pytest.mark.anyio
async def test_eventually_fails_at_once_when_the_system_settles_with_nothing_due() -> None:
    async with SimulatedSystem() as system:

        def never() -> bool:
            return False

        with anyio.fail_after(10):
            with pytest.raises(AssertionError, match=r"the system settled at t=0(\n|$)"):
                await eventually(system, never)
