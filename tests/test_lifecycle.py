"""Lifecycle: hooks, stop, PoisonPill, self-stop, watch/Terminated, shutdown."""

from __future__ import annotations

import itertools
import logging

import anyio
import anyio.lowlevel
import pytest

from actorlib import (
    Actor,
    ActorError,
    ActorRef,
    ActorStopped,
    ActorSystem,
    DeadLetter,
    PoisonPill,
    SystemClosedError,
    Terminated,
)
from tests.helpers import Probe

_instances = itertools.count(1)


class Boom(Exception):
    """A distinctive handler failure."""


class Node(Actor):
    """Reports its hooks as (hook, tag); can spawn children, block, fail and stop itself."""

    def __init__(self, tag: str, probe: Probe) -> None:
        self.tag = tag
        self.probe = probe
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.probe.put(("start", self.tag, self.ref.path))

    async def on_stop(self) -> None:
        self.probe.put(("stop", self.tag))

    async def on_restart(self, error: BaseException) -> None:
        self.probe.put(("restart", self.tag, error))

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", str(tag)):
                return await self.context.spawn(Node, tag, self.probe, name=tag)
            case ("block", anyio.Event() as entered, anyio.Event() as gate):
                entered.set()
                await gate.wait()
            case ("block_then_unwatch", anyio.Event() as entered, anyio.Event() as gate, other):
                entered.set()
                await gate.wait()
                assert isinstance(other, ActorRef)
                self.context.unwatch(other)
            case ("stop_self_and_reply", value):
                self.context.stop()
                await anyio.lowlevel.checkpoint()
                self.probe.put(("after self-stop", self.tag))
                return value
            case ("stop_child", ActorRef() as child):
                self.context.stop(child)
            case ("stop_other", ActorRef() as other):
                self.context.stop(other)
            case ("watch", ActorRef() as other):
                self.context.watch(other)
            case ("unwatch", ActorRef() as other):
                self.context.unwatch(other)
            case Terminated():
                self.probe.put(("terminated", self.tag, message))
            case "children":
                return self.context.children
            case "parent":
                return self.context.parent
            case "fail":
                raise Boom(self.tag)
            case _:
                self.probe.put(("got", self.tag, message))
        return None


async def dead_letter_probe(system: ActorSystem) -> Probe:
    probe = Probe()
    listener = await system.spawn(Node, "dead-letters", probe)
    system.events.subscribe(listener, DeadLetter)
    await probe.wait_for(lambda items: bool(probe.events("start")))
    probe.items.clear()
    return probe


def dead_messages(probe: Probe) -> list[object]:
    return [g[2].message for g in probe.events("got") if isinstance(g[2], DeadLetter)]


@pytest.mark.anyio
async def test_on_start_runs_before_the_first_message_with_ref_and_context_set() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        ref = await system.spawn(Node, "a", probe, name="a")
        ref.tell("hello")
        await probe.wait_for(lambda items: len(items) == 2)
        assert probe.items == [("start", "a", "/user/a"), ("got", "a", "hello")]


@pytest.mark.anyio
async def test_stop_returns_after_on_stop_ran_exactly_once() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        ref = await system.spawn(Node, "a", probe)
        await system.stop(ref)
        assert probe.tags("stop") == ["a"]
        await system.stop(ref)  # no-op when already stopped
    assert probe.tags("stop") == ["a"]


@pytest.mark.anyio
async def test_stop_stops_children_first_depth_first() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        root = await system.spawn(Node, "root", probe)
        left = await root.ask(("spawn", "left"))
        await left.ask(("spawn", "left-leaf"))
        right = await root.ask(("spawn", "right"))
        await right.ask(("spawn", "right-leaf"))
        await system.stop(root)
        stops = probe.tags("stop")
        assert sorted(stops) == ["left", "left-leaf", "right", "right-leaf", "root"]
        assert stops.index("left-leaf") < stops.index("left")
        assert stops.index("right-leaf") < stops.index("right")
        assert stops[-1] == "root"
        assert system.lookup(left.path) is None


@pytest.mark.anyio
async def test_stop_turns_queued_messages_into_dead_letters() -> None:
    async with ActorSystem("life") as system:
        dead = await dead_letter_probe(system)
        probe = Probe()
        ref = await system.spawn(Node, "a", probe)
        entered, gate = anyio.Event(), anyio.Event()
        ref.tell(("block", entered, gate))
        with anyio.fail_after(5):
            await entered.wait()
        ref.tell("queued-1")
        ref.tell("queued-2")
        async with anyio.create_task_group() as tg:
            tg.start_soon(system.stop, ref)
            await anyio.wait_all_tasks_blocked()
            gate.set()
        await dead.wait_for(lambda items: len(dead_messages(dead)) == 2)
        assert dead_messages(dead) == ["queued-1", "queued-2"]
        assert probe.events("got") == []
        assert probe.tags("stop") == ["a"]


@pytest.mark.anyio
async def test_watchers_get_terminated_without_an_error_after_a_normal_stop() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        target = await system.spawn(Node, "target", probe)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", target))
        await system.stop(target)
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, tag, terminated)] = probe.events("terminated")
        assert tag == "watcher"
        assert terminated == Terminated(target, None)


@pytest.mark.anyio
async def test_watching_an_already_stopped_actor_delivers_terminated_at_once() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        target = await system.spawn(Node, "target", probe)
        await system.stop(target)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", target))
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, _, terminated)] = probe.events("terminated")
        assert isinstance(terminated, Terminated)
        assert terminated.ref == target


@pytest.mark.anyio
async def test_after_unwatch_no_terminated_arrives() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        unwatched = await system.spawn(Node, "unwatched", probe)
        watched = await system.spawn(Node, "watched", probe)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", unwatched))
        await watcher.ask(("watch", watched))
        await watcher.ask(("unwatch", unwatched))
        await system.stop(unwatched)
        await system.stop(watched)
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        await watcher.ask("sync")
        refs = [t[2].ref for t in probe.events("terminated") if isinstance(t[2], Terminated)]
        assert refs == [watched]


@pytest.mark.anyio
async def test_unwatch_drops_a_terminated_that_is_already_on_its_way() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        target = await system.spawn(Node, "target", probe)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", target))
        entered, gate = anyio.Event(), anyio.Event()
        watcher.tell(("block_then_unwatch", entered, gate, target))
        with anyio.fail_after(5):
            await entered.wait()
        # The target stops while the watcher is busy: its Terminated is already queued
        # for the watcher when the handler unwatches.
        await system.stop(target)
        gate.set()
        await watcher.ask("sync")
        assert probe.events("terminated") == []


@pytest.mark.anyio
async def test_the_parent_receives_terminated_when_a_child_stops_normally() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        parent = await system.spawn(Node, "parent", probe)
        child = await parent.ask(("spawn", "child"))
        await system.stop(child)
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, tag, terminated)] = probe.events("terminated")
        assert tag == "parent"
        assert terminated == Terminated(child, None)
        assert await parent.ask("children") == ()


@pytest.mark.anyio
async def test_poison_pill_stops_after_the_messages_before_it() -> None:
    async with ActorSystem("life") as system:
        dead = await dead_letter_probe(system)
        probe = Probe()
        ref = await system.spawn(Node, "a", probe)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", ref))
        ref.tell("before-1")
        ref.tell("before-2")
        ref.tell(PoisonPill())
        ref.tell("after")
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        got = [g[2] for g in probe.events("got") if g[1] == "a"]
        assert got == ["before-1", "before-2"]
        assert probe.tags("stop") == ["a"]
        await dead.wait_for(lambda items: "after" in dead_messages(dead))


@pytest.mark.anyio
async def test_self_stop_takes_effect_after_the_current_message() -> None:
    async with ActorSystem("life", ask_timeout=60.0) as system:
        probe = Probe()
        ref = await system.spawn(Node, "a", probe)
        assert await ref.ask(("stop_self_and_reply", "answered")) == "answered"
        await probe.wait_for(lambda items: bool(probe.events("stop")))
        assert probe.events("after self-stop") == [("after self-stop", "a")]
        with anyio.fail_after(1), pytest.raises(ActorStopped):
            await ref.ask("anything")


@pytest.mark.anyio
async def test_context_stop_stops_a_child_and_rejects_an_actor_that_is_not_a_child() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        parent = await system.spawn(Node, "parent", probe)
        stranger = await system.spawn(Node, "stranger", probe)
        child = await parent.ask(("spawn", "child"))
        await parent.ask(("stop_child", child))
        await probe.wait_for(lambda items: "child" in probe.tags("stop"))
        with pytest.raises(ValueError, match=r"stranger|child"):
            await parent.ask(("stop_other", stranger))
        assert "stranger" not in probe.tags("stop")


@pytest.mark.anyio
async def test_on_stop_runs_once_per_started_instance_and_not_for_a_failed_start() -> None:
    starts: list[int] = []

    class FailsFirstStart(Node):
        async def on_start(self) -> None:
            starts.append(self.instance)
            if len(starts) == 1:
                raise Boom("first")
            await super().on_start()

    async with ActorSystem("life") as system:
        probe = Probe()
        ref = await system.spawn(FailsFirstStart, "a", probe)
        await ref.ask("sync")
        ref.tell("fail")
        await ref.ask("sync")
    # Instance 1 never started, 2 started and was replaced, 3 stopped at shutdown.
    assert len(starts) == 3
    assert probe.tags("stop") == ["a", "a"]
    assert len(probe.events("restart")) == 2


@pytest.mark.anyio
async def test_shutdown_runs_each_on_stop_once_children_before_parents() -> None:
    probe = Probe()
    async with ActorSystem("life") as system:
        a = await system.spawn(Node, "a", probe)
        b = await a.ask(("spawn", "b"))
        await b.ask(("spawn", "c"))
        await a.ask(("spawn", "d"))
        await system.spawn(Node, "e", probe)
    stops = probe.tags("stop")
    assert sorted(stops) == ["a", "b", "c", "d", "e"]
    assert stops.index("c") < stops.index("b") < stops.index("a")
    assert stops.index("d") < stops.index("a")


@pytest.mark.anyio
async def test_leaving_the_system_leaves_no_task_running() -> None:
    before = {task.id for task in anyio.get_running_tasks()}
    probe = Probe()
    async with ActorSystem("life") as system:
        parent = await system.spawn(Node, "parent", probe)
        for n in range(5):
            child = await parent.ask(("spawn", f"child-{n}"))
            child.tell("hello")
        entered, gate = anyio.Event(), anyio.Event()
        parent.tell(("block", entered, gate))
        await entered.wait()
        gate.set()
        await parent.ask("sync")
    after = {task.id for task in anyio.get_running_tasks()}
    assert after <= before
    assert len(probe.events("stop")) == 6


@pytest.mark.anyio
async def test_leaving_the_system_because_of_an_exception_stops_every_actor() -> None:
    probe = Probe()

    async def crash_inside_the_system() -> None:
        async with ActorSystem("life") as system:
            parent = await system.spawn(Node, "parent", probe)
            await parent.ask(("spawn", "child"))
            raise ZeroDivisionError

    # The body's exception propagates as itself, not wrapped in an ExceptionGroup.
    with pytest.raises(ZeroDivisionError):
        await crash_inside_the_system()
    assert probe.tags("stop") == ["child", "parent"]


@pytest.mark.anyio
async def test_leaving_the_system_because_of_a_cancellation_stops_every_actor() -> None:
    probe = Probe()
    started = anyio.current_time()
    with anyio.CancelScope() as scope:
        async with ActorSystem("life") as system:
            parent = await system.spawn(Node, "parent", probe)
            await parent.ask(("spawn", "child"))
            scope.cancel()
            await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert probe.tags("stop") == ["child", "parent"]
    assert anyio.current_time() - started < 5


@pytest.mark.anyio
async def test_concurrent_stops_of_one_actor_all_return_and_on_stop_runs_once() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        ref = await system.spawn(Node, "a", probe)
        await ref.ask(("spawn", "b"))
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(system.stop, ref)
        assert probe.tags("stop") == ["b", "a"]


@pytest.mark.anyio
async def test_shutdown_inside_async_with_then_leaving_is_fine() -> None:
    probe = Probe()
    async with ActorSystem("life") as system:
        await system.spawn(Node, "a", probe)
        await system.shutdown()
        assert probe.tags("stop") == ["a"]
        await system.shutdown()  # idempotent
    assert probe.tags("stop") == ["a"]


@pytest.mark.anyio
async def test_using_a_system_after_shutdown_raises_system_closed_error() -> None:
    probe = Probe()
    async with ActorSystem("life") as system:
        ref = await system.spawn(Node, "a", probe)
        await system.shutdown()
        with pytest.raises(SystemClosedError):
            await system.spawn(Node, "b", probe)
    with pytest.raises(SystemClosedError) as excinfo:
        await system.spawn(Node, "c", probe)
    assert isinstance(excinfo.value, RuntimeError)
    assert isinstance(excinfo.value, ActorError)
    ref.tell("to a closed system")  # a tell never raises: the message is a dead letter
    with anyio.fail_after(1), pytest.raises(ActorStopped):
        await ref.ask("anything", timeout=None)


@pytest.mark.anyio
async def test_entering_a_system_twice_raises_runtime_error() -> None:
    system = ActorSystem("life")
    async with system:
        with pytest.raises(RuntimeError):
            async with system:
                pass


@pytest.mark.anyio
async def test_a_restart_does_not_notify_watchers() -> None:
    async with ActorSystem("life") as system:
        probe = Probe()
        target = await system.spawn(Node, "target", probe)
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", target))
        with pytest.raises(Boom):
            await target.ask("fail")
        await target.ask("sync")
        await system.stop(target)
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        await watcher.ask("sync")
        assert [t[2] for t in probe.events("terminated")] == [Terminated(target, None)]


@pytest.mark.anyio
async def test_a_failing_on_stop_is_logged_and_the_stop_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadStop(Node):
        async def on_stop(self) -> None:
            await super().on_stop()
            raise Boom("on_stop broke")

    caplog.set_level(logging.DEBUG, logger="actorlib")
    async with ActorSystem("life") as system:
        probe = Probe()
        parent = await system.spawn(BadStop, "parent", probe)
        await parent.ask(("spawn", "child"))
        watcher = await system.spawn(Node, "watcher", probe)
        await watcher.ask(("watch", parent))
        with anyio.fail_after(5):
            await system.stop(parent)
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        assert probe.tags("stop") == ["child", "parent"]
        assert system.lookup(parent.path) is None
    assert any(
        record.exc_info is not None and "on_stop broke" in str(record.exc_info[1])
        for record in caplog.records
        if record.name.startswith("actorlib")
    )


class Plain(Actor):
    """Keeps Actor.on_stop: an idle one is stopped in the task that calls stop()."""

    async def receive(self, message: object) -> object:
        return message


class Family(Actor):
    """Spawns the children it is told to; on "replace", stops one and spawns its namesake."""

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", str(name)):
                return await self.context.spawn(Plain, name=name)
            case ("replace", ActorRef() as child):
                await self.context.system.stop(child)
                # The parent runs this handler: it has not yet been told.
                return await self.context.spawn(Plain, name=child.name)
            case "children":
                return self.context.children
        return None


@pytest.mark.anyio
async def test_stop_of_an_idle_actor_without_on_stop_keeps_every_promise_of_stop() -> None:
    async with ActorSystem("life") as system:
        dead = await dead_letter_probe(system)
        probe = Probe()
        watcher = await system.spawn(Node, "watcher", probe)
        ref = await system.spawn(Plain, name="idle")
        await watcher.ask(("watch", ref))
        assert await ref.ask("ready") == "ready"  # started and idle
        await system.stop(ref)
        assert system.lookup("/user/idle") is None
        with pytest.raises(ActorStopped, match="idle"):
            await ref.ask("late")
        ref.tell("later")
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        assert probe.events("terminated") == [("terminated", "watcher", Terminated(ref, None))]
        await dead.wait_for(lambda items: "later" in dead_messages(dead))


@pytest.mark.anyio
async def test_a_stopped_childs_name_is_free_before_its_parent_was_told() -> None:
    async with ActorSystem("life") as system:
        parent = await system.spawn(Family)
        first = await parent.ask(("spawn", "a"))
        middle = await parent.ask(("spawn", "b"))
        last = await parent.ask(("spawn", "c"))
        assert await middle.ask("ready") == "ready"
        again = await parent.ask(("replace", middle))
        assert again != middle
        assert again.path == middle.path
        assert await again.ask("here") == "here"
        # Still in start order: the new "b" started last.
        assert await parent.ask("children") == (first, last, again)
