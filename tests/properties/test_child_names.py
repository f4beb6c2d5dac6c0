"""Children by name: however spawns and stops of reused names interleave, a parent's children
are the live ones, in start order, and each name is taken at most once."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given

from actorlib import Actor, ActorRef, ActorSystem, NameTaken
from tests.properties.strategies import BACKENDS, ChildStep, child_steps


class Child(Actor):
    """Answers with its name; keeps Actor.on_stop, so an idle one stops in the caller's task."""

    async def receive(self, message: object) -> object:
        return message


class Parent(Actor):
    """Spawns, stops and replaces children by name, as the steps say."""

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", str(name)):
                try:
                    return await self.context.spawn(Child, name=name)
                except NameTaken:
                    return None
            case ("replace", ActorRef() as child):
                await self.context.system.stop(child)
                return await self.context.spawn(Child, name=child.name)
            case "children":
                return [ref.name for ref in self.context.children]
        return None


async def run_steps(steps: list[ChildStep]) -> tuple[list[str], list[str]]:
    """Apply *steps*; return the parent's children and the model's, by name in start order."""
    model: dict[str, ActorRef[object]] = {}
    async with ActorSystem("names") as system:
        parent = await system.spawn(Parent)
        for action, name in steps:
            live = model.get(name)
            if action == "spawn":
                ref = await parent.ask(("spawn", name))
                assert (ref is None) == (live is not None)  # NameTaken exactly when live
                if ref is not None:
                    model[name] = ref
            elif live is not None and action == "stop":
                await system.stop(live)
                del model[name]
            elif live is not None:  # replace
                assert await live.ask("ready") == "ready"  # idle, started
                del model[name]
                model[name] = await parent.ask(("replace", live))
        with anyio.fail_after(5):
            children = await parent.ask("children")
    return children, list(model)


@pytest.mark.parametrize("backend", BACKENDS)
@given(steps=child_steps())
def test_children_are_the_live_ones_in_start_order_whatever_the_reuse_of_names(
    backend: str, steps: list[ChildStep]
) -> None:
    children, expected = anyio.run(run_steps, steps, backend=backend)
    assert children == expected
