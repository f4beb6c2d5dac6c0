"""Supervision: restart, resume, stop, escalate; OneForOne, OneForAll, RestForOne."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import anyio
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    Directive,
    OneForAll,
    OneForOne,
    RestForOne,
    SupervisorStrategy,
    Terminated,
)
from tests.helpers import Probe

_instances = itertools.count(1)


class Boom(Exception):
    """A distinctive handler failure."""


def mentions(record: logging.LogRecord, text: str) -> bool:
    """Whether a log record's message or its exception mentions *text*."""
    error = record.exc_info[1] if record.exc_info else None
    return text in record.getMessage() or (error is not None and text in str(error))


def always(directive: Directive) -> Callable[[BaseException], Directive]:
    def decide(error: BaseException) -> Directive:
        return directive

    return decide


class Worker(Actor):
    """A counter that reports its lifecycle as ("start"|"stop"|"restart"|"got", tag, instance)."""

    def __init__(self, tag: str, probe: Probe, start: int = 0) -> None:
        self.tag = tag
        self.probe = probe
        self.start = start
        self.count = start
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.probe.put(("start", self.tag, self.instance, self.start))

    async def on_stop(self) -> None:
        self.probe.put(("stop", self.tag, self.instance))

    async def on_restart(self, error: BaseException) -> None:
        self.probe.put(("restart", self.tag, self.instance, error))

    async def receive(self, message: object) -> object:
        self.probe.put(("got", self.tag, self.instance, message))
        match message:
            case "incr":
                self.count += 1
            case "get":
                return self.count
            case "instance":
                return self.instance
            case ("fail", detail):
                raise Boom(detail)
            case ("fail_when", anyio.Event() as entered, anyio.Event() as gate):
                entered.set()
                await gate.wait()
                raise Boom("released")
        return None


class Parent(Actor):
    """Spawns Worker children on request and reports the `Terminated` it receives."""

    def __init__(self, tag: str, probe: Probe) -> None:
        self.tag = tag
        self.probe = probe
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.probe.put(("start", self.tag, self.instance))

    async def on_stop(self) -> None:
        self.probe.put(("stop", self.tag, self.instance))

    async def on_restart(self, error: BaseException) -> None:
        self.probe.put(("restart", self.tag, self.instance, error))

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", str(tag)):
                return await self.context.spawn(Worker, tag, self.probe, name=tag)
            case ("spawn_with", type() as cls, str(tag), supervisor):
                assert supervisor is None or isinstance(supervisor, SupervisorStrategy)
                return await self.context.spawn(
                    cls, tag, self.probe, name=tag, supervisor=supervisor
                )
            case Terminated():
                self.probe.put(("terminated", self.tag, message))
            case "get":
                return self.instance
            case ("fail", detail):
                raise Boom(detail)
        return None


class Watcher(Actor):
    """Watches `target` and reports ("terminated", "watcher", Terminated)."""

    def __init__(self, target: ActorRef[object], probe: Probe) -> None:
        self.target = target
        self.probe = probe

    async def on_start(self) -> None:
        self.context.watch(self.target)

    async def receive(self, message: object) -> object:
        self.probe.put(("terminated", "watcher", message))
        return None


@pytest.mark.anyio
async def test_restart_creates_a_fresh_instance_from_the_same_arguments() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(Worker, "w", probe, start=10)
        ref.tell("incr")
        assert await ref.ask("get") == 11
        first = await ref.ask("instance")
        with pytest.raises(Boom):
            await ref.ask(("fail", "x"))
        assert await ref.ask("get") == 10
        second = await ref.ask("instance")
        assert second != first
        starts = probe.events("start")
        assert [(s[2], s[3]) for s in starts] == [(first, 10), (second, 10)]


@pytest.mark.anyio
async def test_restart_does_not_retry_the_failing_message() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(Worker, "w", probe)
        ref.tell(("fail", "once"))
        assert await ref.ask("get") == 0
        failing = [g for g in probe.events("got") if g[3] == ("fail", "once")]
        assert len(failing) == 1


@pytest.mark.anyio
async def test_restart_keeps_queued_messages_for_the_new_instance() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(Worker, "w", probe)
        old = await ref.ask("instance")
        entered, gate = anyio.Event(), anyio.Event()
        ref.tell(("fail_when", entered, gate))
        with anyio.fail_after(5):
            await entered.wait()
        ref.tell("incr")
        ref.tell("incr")
        gate.set()
        assert await ref.ask("get") == 2
        handled = [(g[2], g[3]) for g in probe.events("got") if g[3] in ("incr", "get")]
        new = handled[0][0]
        assert new != old
        assert handled == [(new, "incr"), (new, "incr"), (new, "get")]


@pytest.mark.anyio
async def test_restart_runs_on_stop_of_the_old_and_on_restart_then_on_start_of_the_new() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(Worker, "w", probe)
        old = await ref.ask("instance")
        with pytest.raises(Boom):
            await ref.ask(("fail", "cause"))
        new = await ref.ask("instance")
        lifecycle = [i for i in probe.items if isinstance(i, tuple) and i[0] != "got"]
        assert lifecycle[0] == ("start", "w", old, 0)
        assert lifecycle[1] == ("stop", "w", old)
        kind, tag, instance, error = lifecycle[2]
        assert (kind, tag, instance) == ("restart", "w", new)
        assert isinstance(error, Boom)
        assert str(error) == "cause"
        assert lifecycle[3] == ("start", "w", new, 0)
        assert len(lifecycle) == 4


@pytest.mark.anyio
async def test_resume_keeps_the_instance_and_its_state() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(
            Worker, "w", probe, supervisor=OneForOne(decider=always(Directive.RESUME))
        )
        ref.tell("incr")
        ref.tell("incr")
        first = await ref.ask("instance")
        with pytest.raises(Boom):
            await ref.ask(("fail", "x"))
        ref.tell("incr")
        assert await ref.ask("get") == 3
        assert await ref.ask("instance") == first
        assert len(probe.events("start")) == 1
        assert probe.events("restart") == []
        assert probe.events("stop") == []


@pytest.mark.anyio
async def test_stop_directive_stops_the_actor_and_watchers_get_the_error() -> None:
    async with ActorSystem("sup", ask_timeout=60.0) as system:
        probe = Probe()
        ref = await system.spawn(
            Worker, "w", probe, supervisor=OneForOne(decider=always(Directive.STOP))
        )
        await system.spawn(Watcher, ref, probe)
        ref.tell(("fail", "fatal"))
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, _, terminated)] = probe.events("terminated")
        assert isinstance(terminated, Terminated)
        assert terminated.ref == ref
        assert isinstance(terminated.error, Boom)
        assert str(terminated.error) == "fatal"
        assert len(probe.events("stop")) == 1
        with anyio.fail_after(1), pytest.raises(ActorStopped):
            await ref.ask("get")


@pytest.mark.anyio
async def test_a_failing_actor_does_not_disturb_its_siblings_or_the_system() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        flaky = await system.spawn(Worker, "flaky", probe)
        steady = await system.spawn(Worker, "steady", probe)
        steady.tell("incr")
        for _ in range(3):
            flaky.tell(("fail", "again"))
        steady.tell("incr")
        assert await steady.ask("get") == 2
        assert await flaky.ask("get") == 0
        assert len([s for s in probe.events("start") if s[1] == "steady"]) == 1


@pytest.mark.anyio
async def test_restart_stops_the_children_of_the_old_instance_first() -> None:
    class Spawner(Parent):
        async def on_start(self) -> None:
            await super().on_start()
            await self.context.spawn(Worker, "kid", self.probe, name="kid")

    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(Spawner, "parent", probe)
        old = await ref.ask("get")
        with pytest.raises(Boom):
            await ref.ask(("fail", "x"))
        new = await ref.ask("get")
        await probe.wait_for(lambda items: len(probe.events("start")) == 4)
        order = [(i[0], i[1]) for i in probe.items if isinstance(i, tuple) and i[0] != "got"]
        # The old kid stops before the old parent; the new parent starts a new kid.
        assert order.index(("stop", "kid")) < order.index(("stop", "parent"))
        assert order.index(("stop", "parent")) < order.index(("restart", "parent"))
        assert new != old
        assert system.lookup(f"{ref.path}/kid") is not None


@pytest.mark.anyio
async def test_one_for_all_restarts_every_sibling_when_one_fails() -> None:
    class AllParent(Parent):
        supervisor_strategy = OneForAll()

    async with ActorSystem("sup") as system:
        probe = Probe()
        parent = await system.spawn(AllParent, "parent", probe)
        kids = [await parent.ask(("spawn", tag)) for tag in ("a", "b", "c")]
        for kid in kids:
            kid.tell("incr")
            assert await kid.ask("get") == 1
        kids[1].tell(("fail", "b broke"))
        await probe.wait_for(lambda items: len(probe.events("start")) == 1 + 6)
        for kid in kids:
            assert await kid.ask("get") == 0  # every sibling is a fresh instance
        assert sorted(str(r[1]) for r in probe.events("restart")) == ["a", "b", "c"]
        assert sorted(str(s[1]) for s in probe.events("stop")) == ["a", "b", "c"]
        assert probe.events("terminated") == []  # restarted, not stopped


@pytest.mark.anyio
async def test_rest_for_one_restarts_the_failed_child_and_younger_ones_in_start_order() -> None:
    class RestParent(Parent):
        supervisor_strategy = RestForOne()

    async with ActorSystem("sup") as system:
        probe = Probe()
        parent = await system.spawn(RestParent, "parent", probe)
        kids = [await parent.ask(("spawn", tag)) for tag in ("a", "b", "c", "d")]
        for kid in kids:
            kid.tell("incr")
            assert await kid.ask("get") == 1
        kids[1].tell(("fail", "b broke"))
        await probe.wait_for(lambda items: len(probe.events("start")) == 1 + 4 + 3)
        assert [await kid.ask("get") for kid in kids] == [1, 0, 0, 0]
        assert [s[1] for s in probe.events("start") if s[1] != "parent"][4:] == ["b", "c", "d"]
        assert [r[1] for r in probe.events("restart")] == ["b", "c", "d"]
        assert "a" not in [s[1] for s in probe.events("stop")]


@pytest.mark.anyio
async def test_escalate_fails_the_parent_and_lets_the_grandparent_strategy_decide() -> None:
    seen: list[BaseException] = []

    def grandparent_decides(error: BaseException) -> Directive:
        seen.append(error)
        return Directive.STOP

    class Grandparent(Parent):
        supervisor_strategy = OneForOne(decider=grandparent_decides)

    class Escalating(Parent):
        supervisor_strategy = OneForOne(decider=always(Directive.ESCALATE))

    async with ActorSystem("sup") as system:
        probe = Probe()
        grandparent = await system.spawn(Grandparent, "grandparent", probe)
        middle = await grandparent.ask(("spawn_with", Escalating, "middle", None))
        kid = await middle.ask(("spawn", "kid"))
        kid.tell(("fail", "kid broke"))
        await probe.wait_for(
            lambda items: any(t[1] == "grandparent" for t in probe.events("terminated"))
        )
        [error] = seen
        assert isinstance(error, Boom)
        assert str(error) == "kid broke"
        [terminated] = [t[2] for t in probe.events("terminated") if t[1] == "grandparent"][-1:]
        assert isinstance(terminated, Terminated)
        assert terminated.ref == middle
        assert isinstance(terminated.error, Boom)
        # The kid was stopped with its parent, and nobody restarted.
        assert ("stop", "kid") in [(s[0], s[1]) for s in probe.events("stop")]
        assert probe.events("restart") == []


@pytest.mark.anyio
async def test_escalation_from_a_top_level_actor_stops_it_and_logs_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib")
    escalate = OneForOne(decider=always(Directive.ESCALATE))
    async with ActorSystem("sup", supervisor=escalate) as system:
        probe = Probe()
        doomed = await system.spawn(Worker, "doomed", probe, name="doomed")
        bystander = await system.spawn(Worker, "bystander", probe)
        await system.spawn(Watcher, doomed, probe)
        doomed.tell(("fail", "kaboom"))
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, _, terminated)] = probe.events("terminated")
        assert isinstance(terminated, Terminated)
        assert isinstance(terminated.error, Boom)
        assert system.lookup("/user/doomed") is None
        assert await bystander.ask("get") == 0
    assert any(
        r.levelno >= logging.WARNING and (mentions(r, "/user/doomed") or mentions(r, "kaboom"))
        for r in caplog.records
        if r.name.startswith("actorlib")
    )


@pytest.mark.anyio
async def test_handler_failures_are_logged_to_the_actorlib_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib")
    async with ActorSystem("sup") as system:
        ref = await system.spawn(Worker, "w", Probe())
        with pytest.raises(Boom):
            await ref.ask(("fail", "visible-in-the-log"))
        assert await ref.ask("get") == 0
    assert any(
        mentions(r, "visible-in-the-log") for r in caplog.records if r.name.startswith("actorlib")
    )


@pytest.mark.anyio
async def test_on_start_failure_counts_as_a_failure_and_the_actor_is_restarted() -> None:
    attempts: list[int] = []

    class FlakyStart(Worker):
        async def on_start(self) -> None:
            attempts.append(self.instance)
            if len(attempts) == 1:
                raise Boom("first start fails")
            await super().on_start()

    async with ActorSystem("sup") as system:
        probe = Probe()
        ref = await system.spawn(FlakyStart, "flaky", probe)
        assert await ref.ask("get") == 0
        assert len(attempts) == 2
        [restart] = probe.events("restart")
        assert isinstance(restart[3], Boom)
        # on_stop runs only for instances whose on_start completed.
        assert probe.events("stop") == []


@pytest.mark.anyio
async def test_on_start_that_always_fails_stops_the_actor_once_restarts_run_out() -> None:
    attempts: list[int] = []

    class BadStart(Worker):
        async def on_start(self) -> None:
            attempts.append(self.instance)
            raise Boom("never starts")

    async with ActorSystem("sup") as system:
        probe = Probe()
        parent = await system.spawn(Parent, "parent", probe)
        ref = await parent.ask(("spawn_with", BadStart, "bad", OneForOne(max_restarts=2)))
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, _, terminated)] = probe.events("terminated")
        assert isinstance(terminated, Terminated)
        assert terminated.ref == ref
        assert isinstance(terminated.error, Boom)
        assert len(attempts) == 3


@pytest.mark.anyio
async def test_the_decider_receives_the_exception_object() -> None:
    seen: list[BaseException] = []

    def decide(error: BaseException) -> Directive:
        seen.append(error)
        return Directive.RESUME

    async with ActorSystem("sup") as system:
        ref = await system.spawn(Worker, "w", Probe(), supervisor=OneForOne(decider=decide))
        with pytest.raises(Boom) as excinfo:
            await ref.ask(("fail", "inspect me"))
        assert await ref.ask("get") == 0
        assert len(seen) == 1
        assert seen[0] is excinfo.value


@pytest.mark.anyio
async def test_spawn_supervisor_argument_overrides_the_parents_class_strategy() -> None:
    async with ActorSystem("sup") as system:
        probe = Probe()
        parent = await system.spawn(Parent, "parent", probe)
        resume = OneForOne(decider=always(Directive.RESUME))
        kid = await parent.ask(("spawn_with", Worker, "kid", resume))
        kid.tell("incr")
        kid.tell(("fail", "resume me"))
        assert await kid.ask("get") == 1
        assert probe.events("restart") == []


@pytest.mark.anyio
async def test_the_system_supervisor_applies_to_top_level_actors() -> None:
    resume = OneForOne(decider=always(Directive.RESUME))
    async with ActorSystem("sup", supervisor=resume) as system:
        probe = Probe()
        ref = await system.spawn(Worker, "w", probe)
        ref.tell("incr")
        ref.tell(("fail", "resume me"))
        assert await ref.ask("get") == 1
        assert probe.events("restart") == []


@pytest.mark.anyio
async def test_the_parent_receives_terminated_with_the_error_when_a_child_is_stopped() -> None:
    class StoppingParent(Parent):
        supervisor_strategy = OneForOne(decider=always(Directive.STOP))

    async with ActorSystem("sup") as system:
        probe = Probe()
        parent = await system.spawn(StoppingParent, "parent", probe)
        kid = await parent.ask(("spawn", "kid"))
        kid.tell(("fail", "for good"))
        await probe.wait_for(lambda items: bool(probe.events("terminated")))
        [(_, tag, terminated)] = probe.events("terminated")
        assert tag == "parent"
        assert isinstance(terminated, Terminated)
        assert terminated.ref == kid
        assert isinstance(terminated.error, Boom)
        assert str(terminated.error) == "for good"
