"""What the dashboard tests share: actors to show, job functions, and a dead-letter sync."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from actorlib import Actor, ActorRef, ActorSystem
from actorlib.jobs import report_progress


class Boom(Exception):
    """A handler failure the tests provoke."""


class Parent(Actor):
    """Spawns children on request, fails on request, answers anything else with itself."""

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", str(name)):
                return await self.context.spawn(Parent, name=name)
            case "fail":
                raise Boom("asked to fail")
        return message


def listener_of(system: ActorSystem) -> ActorRef[Any]:
    """The dashboard's dead-letter listener (an actor named dashboard-...)."""
    [path] = [a.path for a in system.actor_statistics() if a.name.startswith("dashboard-")]
    ref = system.lookup(path)
    assert ref is not None
    return ref


async def dead_letters_seen(system: ActorSystem) -> None:
    """Return once the dashboard has logged every dead letter published so far.

    The listener handles its mailbox in order: once it answers an ask sent
    after the dead letters, it has handled them.
    """
    await listener_of(system).ask("sync")


async def csrf_of(client: httpx.AsyncClient, url: str) -> str:
    """The dashboard's CSRF token, as its page reads it."""
    answer = await client.get(url + "api/session")
    answer.raise_for_status()
    return str(answer.json()["csrf"])


#: Steps of `stepping` jobs by test: module state, so the job finds its test's gate.
STEPS: dict[str, list[anyio.Event]] = {}
#: Set by each `stepping` job once it has reported its first step.
REPORTED: dict[str, anyio.Event] = {}


async def stepping(gate: str, steps: int) -> int:
    """Report progress step by step, each step once the test sets its event."""
    events = STEPS[gate]
    for step in range(steps):
        report_progress(step, steps, note=f"step {step}")
        if step == 0 and gate in REPORTED:
            REPORTED[gate].set()
        await events[step].wait()
    return steps
