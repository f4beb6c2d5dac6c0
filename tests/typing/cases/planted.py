"""The mistakes `mypy --strict` must report (issue 13): one per marked line."""

from __future__ import annotations

from actorlib import Actor, ActorSystem
from actorlib.patterns import Group, Pool

from .messages import Bare, Counter, Get, Incr, Name


async def wrong_messages(system: ActorSystem) -> None:
    counter = await system.spawn(Counter, 10)  # no annotation: typed by spawn
    counter.tell("oops")  # E: Argument 1 to "tell" of "ActorRef" has incompatible type "str"
    await counter.send(3)  # E: Argument 1 to "send" of "ActorRef" has incompatible type "int"
    await counter.ask("get")  # E: No overload variant of "ask" of "ActorRef"


async def misused_replies(system: ActorSystem) -> None:
    counter = await system.spawn(Counter, 10)
    text: str = await counter.ask(Get())  # E: Incompatible types in assignment
    count = await counter.ask(Get())
    count.upper()  # E: "int" has no attribute "upper"
    untyped = await system.spawn(Bare)
    label: bytes = await untyped.ask(Name())  # E: Incompatible types in assignment
    del text, label


async def wrong_constructor_arguments(system: ActorSystem) -> None:
    await system.spawn(Counter, "ten")  # E: No overload variant of "spawn"
    await system.spawn(Counter)  # E: No overload variant of "spawn"
    await system.spawn(Counter, 1, 2)  # E: No overload variant of "spawn"
    await system.spawn(Counter, "ten", name="counter")  # E: incompatible type "str"; expected "int"
    await system.spawn(Bare, 1)  # E: No overload variant of "spawn"


async def wrong_keyword_arguments(system: ActorSystem) -> None:
    await system.spawn(Counter, 10, stp=2)  # E: Unexpected keyword argument "stp"
    await system.spawn(Counter, 10, step="2")  # E: Argument "step" to "spawn"
    await system.spawn(Counter, 10, name=7)  # E: "spawn"


class Parent(Actor[Incr]):
    """Spawns from its context: typed the same way as from the system."""

    async def receive(self, message: Incr) -> object:
        child = await self.context.spawn(Counter, 0, name="child")
        child.tell(message)
        child.tell(Name())  # E: Argument 1 to "tell" of "ActorRef" has incompatible type "Name"
        await self.context.spawn(Counter, "zero")  # E: No overload variant of "spawn"
        self.ref.tell(Get())  # E: Argument 1 to "tell" of "ActorRef" has incompatible type "Get"
        return None


async def routers(system: ActorSystem) -> None:
    pool = await system.spawn(Pool, Counter, 4, 0)
    pool.tell("oops")  # E: Argument 1 to "tell" of "ActorRef" has incompatible type "str"
    await system.spawn(Pool, Counter, "four")  # E: No overload variant of "spawn"
    group = await system.spawn(Group, [pool])
    group.tell(Name())  # E: Argument 1 to "tell" of "ActorRef" has incompatible type "Name"
