"""Worker processes: actors in other processes, supervised across the process boundary.

Real processes: each test starts worker processes through the system and the
system stops them when it shuts down.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorSystem,
    Directive,
    OneForOne,
    Terminated,
)
from actorlib.remote import NodeLost, SocketTransport, WorkerNode
from tests.helpers import Probe

pytestmark = pytest.mark.anyio


class Worker(Actor):
    """Counts; tells its pid; fails on "boom"; hangs on "hang"."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    async def receive(self, message: object) -> object:
        match message:
            case "pid":
                return os.getpid()
            case "incr":
                self.count += 1
                return self.count
            case "boom":
                raise ValueError("boom on purpose")
            case "hang":
                await anyio.sleep_forever()
        return None


class Parent(Actor):
    """Spawns one child on a worker node, reports its failures and Terminated."""

    def __init__(self, node: WorkerNode, probe: Probe, directive: Directive) -> None:
        self.node, self.probe, self.directive = node, probe, directive
        self.child: ActorRef[Any] | None = None

    async def on_start(self) -> None:
        directive, probe = self.directive, self.probe

        def decide(error: BaseException) -> Directive:
            probe.put(("failed", type(error).__name__))
            return directive

        self.child = await self.context.spawn(
            Worker, 10, name="child", node=self.node, supervisor=OneForOne(decider=decide)
        )
        self.context.watch(self.child)

    async def receive(self, message: object) -> object:
        if isinstance(message, Terminated):
            self.probe.put(("terminated", type(message.error).__name__))
            return None
        return self.child  # "child": its ref, for the test to talk to


@pytest.fixture
async def workers() -> AsyncIterator[tuple[ActorSystem, list[WorkerNode]]]:
    async with ActorSystem("origin", transport=SocketTransport()) as system:
        nodes = await system.start_nodes(1)
        yield system, list(nodes)  # type: ignore[arg-type]


async def test_an_actor_on_a_worker_runs_in_another_process_behind_a_plain_ref(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    worker = await system.spawn(Worker, 41, node=node, name="w")
    assert await worker.ask("pid") == node.pid != os.getpid()
    worker.tell("incr")
    assert await worker.ask("incr") == 43
    assert worker.path == "/user/w"


async def test_classes_and_closures_travel_by_value(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    offset = 1000

    class Local(Actor):  # defined here: cloudpickle sends it by value
        async def receive(self, message: object) -> object:
            assert isinstance(message, int)
            return message + offset

    ref = await system.spawn(Local, node=node)
    assert await ref.ask(1) == 1001


async def test_a_remote_childs_failure_goes_to_its_parents_strategy(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    probe = Probe()
    parent = await system.spawn(Parent, node, probe, Directive.RESTART)
    child = await parent.ask("child")
    assert await child.ask("incr") == 11
    with pytest.raises(ValueError, match="boom on purpose"):
        await child.ask("boom")
    await probe.wait_for(lambda items: ("failed", "ValueError") in items)
    assert await child.ask("incr") == 11  # a fresh instance from the same arguments
    assert ("terminated", "ValueError") not in probe.items


async def test_a_remote_child_stopped_by_its_strategy_is_terminated_to_its_parent(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    probe = Probe()
    parent = await system.spawn(Parent, node, probe, Directive.STOP)
    child = await parent.ask("child")
    with pytest.raises(ValueError, match="boom on purpose"):
        await child.ask("boom")
    await probe.wait_for(lambda items: ("terminated", "ValueError") in items)


async def test_a_killed_worker_is_restarted_and_its_actors_recreated_there(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    probe = Probe()
    parent = await system.spawn(Parent, node, probe, Directive.RESTART)
    child = await parent.ask("child")
    old_pid = await child.ask("pid")
    os.kill(old_pid, signal.SIGKILL)
    # Detected from the link's end of stream at once (the promise is within 1 s);
    # the bound here is only against a hang.
    await probe.wait_for(lambda items: ("failed", "NodeLost") in items)
    new_pid = await child.ask("pid", timeout=30)
    assert new_pid not in (old_pid, os.getpid())
    assert new_pid == node.pid
    assert await child.ask("incr") == 11
    assert not probe.events("terminated")


async def test_killing_a_worker_mid_ask_fails_the_ask_with_a_clear_error(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    worker = await system.spawn(Worker, node=node, supervisor=OneForOne(max_restarts=0))
    pid = await worker.ask("pid")
    errors: list[BaseException] = []

    async def ask_hanging() -> None:
        try:
            await worker.ask("hang", timeout=None)  # no timeout: only the kill ends it
        except NodeLost as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        group.start_soon(ask_hanging)
        await anyio.lowlevel.checkpoint()
        os.kill(pid, signal.SIGKILL)
    assert len(errors) == 1
    assert "was lost (its process died or its link dropped)" in str(errors[0])


class Unbuildable(Actor):
    def __init__(self, size: int) -> None:
        raise ValueError(f"size {size} is too big")

    async def receive(self, message: object) -> None:
        return None


async def test_spawn_on_a_worker_raises_what_the_remote_init_raised(
    workers: tuple[ActorSystem, list[WorkerNode]],
) -> None:
    system, (node,) = workers
    with pytest.raises(ValueError, match="size 7 is too big"):
        await system.spawn(Unbuildable, 7, node=node, name="nope")
    assert system.lookup("nope") is None
    assert await (await system.spawn(Worker, node=node, name="nope")).ask("incr") == 1
