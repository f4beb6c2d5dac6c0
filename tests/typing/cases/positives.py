"""What must type-check without annotations or ignores, with the types inferred."""

from __future__ import annotations

from typing import Any, assert_type

from actorlib import Actor, ActorRef, ActorSystem, Mailbox, OneForOne
from actorlib._transport import Placement
from actorlib.patterns import GetRoutees, Group, Pool, Resize, RoundRobin, resize, routees

from .messages import Bare, Counter, Echo, Get, Incr, Name


async def typed_refs(system: ActorSystem) -> None:
    counter = await system.spawn(Counter, 10)
    assert_type(counter, ActorRef[Incr | Get])
    counter.tell(Incr())
    await counter.send(Incr(by=2))
    assert_type(await counter.ask(Get()), int)
    assert_type(await counter.ask(Incr()), Any)  # not a Request: untyped reply
    count: int = await counter.ask(Get(), timeout=1.0)
    total: float = await counter.ask(Get())  # an int is a float
    del count, total


async def untyped_actors_accept_anything(system: ActorSystem) -> None:
    echo = await system.spawn(Echo)
    assert_type(echo, ActorRef[Any])
    echo.tell("anything")
    echo.tell(42)
    await echo.send(object())
    assert_type(await echo.ask("anything"), Any)
    assert_type(await echo.ask(Name()), str)  # a Request is typed on any ref


async def every_spawn_form_of_before(system: ActorSystem, node: Placement) -> None:
    assert_type(await system.spawn(Counter, 10, name="counter"), ActorRef[Incr | Get])
    assert_type(await system.spawn(Counter, start=10, step=2), ActorRef[Incr | Get])
    await system.spawn(Counter, 10, step=2)
    await system.spawn(Counter, 10, name="counter", step=2)  # step beside name: unchecked
    await system.spawn(Counter, 10, mailbox=Mailbox(capacity=8))
    await system.spawn(Counter, 10, supervisor=OneForOne(max_restarts=1))
    await system.spawn(Counter, 10, name=None, mailbox=None, supervisor=None, node=None)
    assert_type(await system.spawn(Counter, 10, node=node), ActorRef[Incr | Get])
    assert_type(await system.spawn(Bare), ActorRef[str])
    assert_type(await system.spawn(Bare, name="bare"), ActorRef[str])


async def refs_are_contravariant(system: ActorSystem) -> None:
    counter = await system.spawn(Counter, 0)
    # An actor that accepts Incr | Get can stand where one accepting Incr is expected.
    incrementer: ActorRef[Incr] = counter
    incrementer.tell(Incr())
    anything: ActorRef[Any] = counter
    anything.tell("unchecked through Any")


class Parent(Actor[Incr]):
    """Children are typed like top-level actors."""

    async def receive(self, message: Incr) -> object:
        child = await self.context.spawn(Counter, 0, name="child")
        assert_type(child, ActorRef[Incr | Get])
        assert_type(self.ref, ActorRef[Incr])
        child.tell(message)
        return await child.ask(Get())


async def routers_route_their_routees_messages(system: ActorSystem) -> None:
    pool = await system.spawn(Pool, Counter, 4, 0, name="pool", strategy=RoundRobin())
    assert_type(pool, ActorRef[Incr | Get])
    pool.tell(Incr())
    assert_type(await pool.ask(Get()), int)
    assert_type(await routees(pool), tuple[ActorRef[Any], ...])
    assert_type(await resize(pool, 2), int)
    assert_type(await pool.ask(Resize(3)), int)
    assert_type(await pool.ask(GetRoutees()), tuple[ActorRef[Any], ...])
    assert_type(await system.spawn(Pool, Counter, 2, start=0), ActorRef[Incr | Get])
    counters = [await system.spawn(Counter, n) for n in range(3)]
    group = await system.spawn(Group, counters)
    assert_type(group, ActorRef[Incr | Get])
    echoes = await system.spawn(Pool, Echo, 2)
    echoes.tell("a pool of untyped workers accepts anything")
