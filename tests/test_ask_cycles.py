"""Cycles of asks fail at once with AskCycleError naming the actors, never by their timeout.

Every system here has a one-minute ask timeout and every test a five-second
limit: an ask that waited for its timeout would fail the test, not pass it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio
import pytest

from actorlib import Actor, ActorRef, ActorSystem, AskCycleError, AskTimeout
from actorlib._cell import Cell
from actorlib.patterns import Pool

MINUTE = 60.0


class Boom(Exception):
    """A distinctive handler failure."""


@dataclass(frozen=True)
class Ask:
    """Ask *target* the *inner* message from the handler; answer with its reply."""

    target: ActorRef[Any]
    inner: object
    timeout: float | None = MINUTE


@dataclass(frozen=True)
class Try(Ask):
    """As `Ask`, but answer with the AskCycleError rather than raise it."""


@dataclass(frozen=True)
class GiveUpAfter:
    """Ask *target* the *inner* message, cancelling the ask after *seconds*."""

    target: ActorRef[Any]
    inner: object
    seconds: float


class Node(Actor):
    """Asks on request; answers "ping"; fails on "fail"; holds "hold" back until "release"."""

    def __init__(self, held: anyio.Event | None = None, busy: anyio.Event | None = None) -> None:
        self.held = held
        self.busy = busy
        self.released = False

    async def receive(self, message: object) -> object:
        match message:
            case Try(target, inner, timeout):
                try:
                    return await target.ask(inner, timeout=timeout)
                except AskCycleError as error:
                    return error
            case Ask(target, inner, timeout):
                return await target.ask(inner, timeout=timeout)
            case GiveUpAfter(target, inner, seconds):
                with anyio.move_on_after(seconds):
                    return await target.ask(inner)
                return "gave up"
            case "ping":
                return "pong"
            case "fail":
                raise Boom("failed on purpose")
            case "hold" if not self.released:
                self.context.stash()  # its asker now waits on this actor, idle or not
                if self.held is not None:
                    self.held.set()
            case "hold":
                return "held"
            case "release":
                self.released = True
                self.context.unstash_all()
            case "busy":
                assert self.busy is not None
                await self.busy.wait()  # busy, but waiting on no ask
                return "done"
        return None


@contextmanager
def at_once() -> Iterator[None]:
    """Fail the test if the block takes anywhere near an ask timeout."""
    with anyio.fail_after(5):
        yield


async def nodes(
    system: ActorSystem,
    names: str,
    held: anyio.Event | None = None,
    busy: anyio.Event | None = None,
) -> list[ActorRef[Any]]:
    return [await system.spawn(Node, held, busy, name=name) for name in names]


def waits(ref: ActorRef[Any]) -> list[object]:
    """The asks the actor's handler is recorded as awaiting (white box)."""
    return list(cast(Cell, ref._target).awaiting or ())


@pytest.mark.anyio
async def test_an_actor_asking_itself_from_its_handler_fails_at_once_naming_itself() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        (a,) = await nodes(system, "a")
        with at_once():
            error = await a.ask(Try(a, "ping"))
    assert isinstance(error, AskCycleError)
    assert error.cycle == ("/user/a",)
    assert str(error).startswith(
        "actor /user/a asks itself from its own handler: it cannot answer before that "
        "handler returns, so the ask would only end by its timeout; call the code directly"
    )


@pytest.mark.anyio
async def test_an_ask_refused_as_a_cycle_is_never_delivered() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        (a,) = await nodes(system, "a")
        with at_once():
            error = await a.ask(Try(a, "fail"))
        assert isinstance(error, AskCycleError)
        # Had "fail" been queued behind the refused ask, a would have restarted.
        assert await a.ask("ping") == "pong"
        assert cast(Cell, a._target).restart_count() == 0


@pytest.mark.anyio
async def test_two_actors_asking_each_other_fail_at_once_naming_both_in_order() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab")
        with (
            at_once(),
            pytest.raises(
                AskCycleError,
                match=r"^ask cycle: /user/b asks /user/a; /user/a asks /user/b; each waits for "
                r"the next, so none can answer and the ask would only end by its timeout; "
                r"answer one of them with a tell instead, or ask from outside the cycle",
            ) as caught,
        ):
            # a asks b, whose handler asks a back: b's ask closes the cycle,
            # b's handler raises, and a's ask re-raises that error.
            await a.ask(Ask(b, Ask(a, "ping")))
        assert caught.value.cycle == ("/user/b", "/user/a")
        assert "raised by actor /user/b" in caught.value.__notes__[0]


@pytest.mark.anyio
async def test_the_closing_asker_may_catch_the_cycle_and_answer_the_others() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab")
        with at_once():
            error = await a.ask(Ask(b, Try(a, "ping")))
        assert isinstance(error, AskCycleError)
        assert error.cycle == ("/user/b", "/user/a")
        assert waits(a) == waits(b) == []


@pytest.mark.anyio
async def test_a_ring_of_five_fails_at_once_in_the_asker_that_closes_it_naming_all_five() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b, c, d, e = await nodes(system, "abcde")
        with (
            at_once(),
            pytest.raises(
                AskCycleError,
                match=r"^ask cycle: /user/e asks /user/a; /user/a asks /user/b; /user/b asks "
                r"/user/c; /user/c asks /user/d; /user/d asks /user/e; each waits",
            ) as caught,
        ):
            await a.ask(Ask(b, Ask(c, Ask(d, Ask(e, Ask(a, "ping"))))))
        assert caught.value.cycle == ("/user/e", "/user/a", "/user/b", "/user/c", "/user/d")


@pytest.mark.anyio
async def test_an_ask_with_an_explicit_timeout_in_a_cycle_still_fails_at_once() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab")
        with at_once(), pytest.raises(AskCycleError) as caught:
            await a.ask(Ask(b, Ask(a, "ping", timeout=30.0), timeout=30.0), timeout=30.0)
        assert caught.value.cycle == ("/user/b", "/user/a")


@pytest.mark.anyio
async def test_a_worker_asking_the_actor_that_waits_on_its_pool_fails_at_once() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        (a,) = await nodes(system, "a")
        pool = await system.spawn(Pool, Node, 1, name="pool")
        with (
            at_once(),
            pytest.raises(
                AskCycleError,
                match=r"^ask cycle: /user/pool/worker-1 asks /user/a; /user/a asks /user/pool; "
                r"/user/pool forwarded the ask to /user/pool/worker-1; each waits",
            ) as caught,
        ):
            await a.ask(Ask(pool, Ask(a, "ping")))
        assert caught.value.cycle == ("/user/pool/worker-1", "/user/a", "/user/pool")
        assert caught.value.forwarded == ("/user/pool",)


@pytest.mark.anyio
async def test_a_pool_forwarding_an_ask_to_a_worker_that_waits_on_the_asker_fails_it_at_once() -> (
    None
):
    async with ActorSystem(ask_timeout=MINUTE) as system:
        (a,) = await nodes(system, "a")
        pool = await system.spawn(Pool, Node, 1, name="pool")
        with at_once():
            # The worker asks a, whose handler asks the pool: the pool's
            # forward to the worker closes the cycle, so a's ask fails.
            error = await pool.ask(Ask(a, Try(pool, "ping")))
        assert isinstance(error, AskCycleError)
        assert error.cycle == ("/user/a", "/user/pool", "/user/pool/worker-1")
        assert str(error).startswith(
            "ask cycle: /user/a asks /user/pool; /user/pool forwarded the ask to "
            "/user/pool/worker-1; /user/pool/worker-1 asks /user/a; each waits"
        )
        assert await pool.ask("ping") == "pong"  # the worker never got the refused ask


@pytest.mark.anyio
async def test_a_chain_whose_last_actor_answers_is_no_cycle() -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b, c = await nodes(system, "abc")
        with at_once():
            assert await a.ask(Ask(b, Ask(c, "ping"))) == "pong"
            # The same actors, asked the other way round, are no cycle either.
            assert await c.ask(Ask(b, Ask(a, "ping"))) == "pong"


@pytest.mark.anyio
async def test_an_ask_to_an_actor_busy_without_waiting_on_the_asker_just_waits() -> None:
    busy = anyio.Event()
    replies: list[object] = []
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab", None, busy)
        c, d = await nodes(system, "cd")

        async def ask_the_chain() -> None:
            replies.append(await d.ask(Ask(c, Ask(a, Ask(b, "ping")))))

        with at_once():
            async with anyio.create_task_group() as group:
                group.start_soon(b.ask, "busy")
                group.start_soon(ask_the_chain)
                # b is busy with a message of its own; a waits on b, c on a,
                # d on c: a chain that b ends once it is free, not a cycle.
                while not (waits(a) and waits(c) and waits(d)):
                    await anyio.wait_all_tasks_blocked()
                busy.set()
        assert replies == ["pong"]


@pytest.mark.anyio
async def test_an_actor_holding_a_stashed_ask_that_asks_its_asker_is_a_cycle() -> None:
    held = anyio.Event()
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab", held)
        async with anyio.create_task_group() as group:
            group.start_soon(a.ask, Ask(b, "hold"))
            with at_once():
                await held.wait()
                # b is idle, but a waits on the ask b stashed: b cannot ask a.
                error = await b.ask(Try(a, "ping"))
            assert isinstance(error, AskCycleError)
            assert error.cycle == ("/user/b", "/user/a")
            b.tell("release")
        assert waits(a) == []


# How an ask of a's handler to b ends, and what a's asker then gets.
ENDINGS = [
    pytest.param(lambda b: Ask(b, "ping"), "pong", id="success"),
    pytest.param(lambda b: Ask(b, "fail"), Boom, id="failure"),
    pytest.param(lambda b: Ask(b, "hold", timeout=0.05), AskTimeout, id="timeout"),
    pytest.param(lambda b: GiveUpAfter(b, "hold", 0.05), "gave up", id="cancellation"),
]


@pytest.mark.parametrize(("request_to", "outcome"), ENDINGS)
@pytest.mark.anyio
async def test_once_an_ask_has_ended_its_target_may_ask_the_asker(
    request_to: Callable[[ActorRef[Any]], object], outcome: object
) -> None:
    async with ActorSystem(ask_timeout=MINUTE) as system:
        a, b = await nodes(system, "ab")
        with at_once():
            if isinstance(outcome, type):
                with pytest.raises(outcome):
                    await a.ask(request_to(b))
            else:
                assert await a.ask(request_to(b)) == outcome
            assert waits(a) == []  # the record went with the ask
            # b may still hold a's ask (stashed, after a timeout or a
            # cancellation): a gave up on it, so b asking a is no cycle.
            assert await b.ask(Ask(a, "ping")) == "pong"
