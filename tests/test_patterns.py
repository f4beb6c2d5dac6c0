"""Routers: Pool and Group, their routing strategies, resize, supervision; context.forward."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import cast

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorlib import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    OneForOne,
    SupervisorStrategy,
    Terminated,
)
from actorlib.patterns import (
    Broadcast,
    ConsistentHashing,
    GetRoutees,
    Group,
    Pool,
    Random,
    Resize,
    RoundRobin,
    SmallestMailbox,
    resize,
    routees,
)
from tests.helpers import Probe
from tests.properties.strategies import BACKENDS

_instances = itertools.count(1)


class Boom(Exception):
    """A distinctive handler failure."""


class Worker(Actor):
    """A routee that reports what it sees and answers every message with its own name.

    Reports ("start"|"stop", name, instance), ("restart", name, instance, error) and
    ("got", name, message, sender).
    """

    def __init__(self, probe: Probe, label: str = "", *, extra: int = 0) -> None:
        self.probe = probe
        self.label = label
        self.extra = extra
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.probe.put(("start", self.ref.name, self.instance))

    async def on_stop(self) -> None:
        self.probe.put(("stop", self.ref.name, self.instance))

    async def on_restart(self, error: BaseException) -> None:
        self.probe.put(("restart", self.ref.name, self.instance, error))

    async def receive(self, message: object) -> object:
        name = self.ref.name
        sender = self.context.sender
        self.probe.put(("got", name, message, sender))
        match message:
            case "instance":
                return self.instance
            case "config":
                return (self.label, self.extra)
            case ("fail", str(detail)):
                raise Boom(detail)
            case ("block", anyio.Event() as entered, anyio.Event() as gate):
                entered.set()
                await gate.wait()
            case ("reply_to_sender", text) if sender is not None:
                sender.tell(("reply", name, text))
        return name


class Client(Actor):
    """Tells or asks a target on request; reports the other messages it receives."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        match message:
            case ("tell", ActorRef() as target, payload):
                target.tell(payload)
            case ("ask", ActorRef() as target, payload):
                return await target.ask(payload)
            case _:
                self.probe.put(("client got", message, self.context.sender))
        return None


class Watcher(Actor):
    """Watches `target` and reports ("terminated", Terminated)."""

    def __init__(self, target: ActorRef[object], probe: Probe) -> None:
        self.probe = probe
        self.context.watch(target)

    async def receive(self, message: object) -> object:
        self.probe.put(("terminated", message))
        return None


class Forwarder(Actor):
    """Forwards every message to `target`; tries forward() outside handling and twice."""

    def __init__(self, target: ActorRef[object], probe: Probe) -> None:
        self.target = target
        self.probe = probe

    async def on_start(self) -> None:
        try:
            self.context.forward(self.target)
        except RuntimeError as error:
            self.probe.put(("outside", error))

    async def receive(self, message: object) -> object:
        self.context.forward(self.target)
        if message == "twice":
            try:
                self.context.forward(self.target)
            except RuntimeError as error:
                self.probe.put(("twice", error))
        return "the forwarder's own return value"


def got(probe: Probe, name: str) -> list[object]:
    """The messages worker *name* received, in order."""
    return [event[2] for event in probe.events("got") if event[1] == name]


def instance_of(probe: Probe, name: str) -> object:
    """The instance number of worker *name*'s first start."""
    return next(event[2] for event in probe.events("start") if event[1] == name)


def names(refs: tuple[ActorRef[object], ...]) -> list[str]:
    return [ref.name for ref in refs]


async def terminated_of(probe: Probe, ref: ActorRef[object]) -> Terminated:
    """Wait until the Watcher reporting to *probe* has seen *ref* terminate."""

    def seen(items: list[object]) -> list[Terminated]:
        return [
            notice
            for _, notice in probe.events("terminated")
            if isinstance(notice, Terminated) and notice.ref == ref
        ]

    await probe.wait_for(lambda items: bool(seen(items)))
    return seen(probe.items)[0]


async def block(ref: ActorRef[object], gate: anyio.Event) -> None:
    """Make *ref* busy in a handler until *gate* is set."""
    entered = anyio.Event()
    ref.tell(("block", entered, gate))
    with anyio.fail_after(5):
        await entered.wait()


# ------------------------------------------------------------------ pools and their workers


@pytest.mark.anyio
async def test_pool_spawns_named_workers_from_the_given_arguments() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 3, probe, "L", name="workers", extra=5)
        workers = await routees(pool)
        assert names(workers) == ["worker-1", "worker-2", "worker-3"]
        assert [w.path for w in workers] == [f"/user/workers/worker-{n}" for n in (1, 2, 3)]
        assert await pool.ask(GetRoutees()) == workers
        for worker in workers:
            assert await worker.ask("config") == ("L", 5)


@pytest.mark.anyio
async def test_round_robin_visits_the_workers_in_order() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 3, Probe(), strategy=RoundRobin())
        answers = [await pool.ask("who") for _ in range(7)]
        assert answers == ["worker-1", "worker-2", "worker-3"] * 2 + ["worker-1"]


@pytest.mark.anyio
async def test_round_robin_is_the_default_strategy() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 2, Probe())
        assert [await pool.ask("who") for _ in range(4)] == ["worker-1", "worker-2"] * 2


@pytest.mark.anyio
async def test_ask_through_a_pool_reraises_the_workers_exception_itself() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 1, Probe(), name="pool")
        with pytest.raises(Boom, match="bad input") as caught:
            await pool.ask(("fail", "bad input"))
        notes = getattr(caught.value, "__notes__", [])
        assert any("/user/pool/worker-1" in note for note in notes), notes


@pytest.mark.anyio
async def test_a_worker_sees_the_original_sender_and_can_reply_to_it() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 2, probe)
        client = await system.spawn(Client, probe, name="client")
        client.tell(("tell", pool, ("reply_to_sender", "hi")))
        await probe.wait_for(lambda items: bool(probe.events("client got")))
        [(_, reply, replier)] = probe.events("client got")
        assert reply == ("reply", "worker-1", "hi")
        assert replier in await routees(pool)
        assert await client.ask(("ask", pool, "who")) == "worker-2"
        senders = [event[3] for event in probe.events("got")]
        assert senders == [client, client]


@pytest.mark.anyio
async def test_pool_forwards_asks_without_extra_replies_becoming_dead_letters() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 2, Probe())
        for _ in range(4):
            await pool.ask("who")
        assert system.statistics().dead_letters == 0


# ------------------------------------------------------------------ strategies


async def random_choices(seed: int, count: int) -> list[str]:
    async with ActorSystem("patterns", random_seed=seed) as system:
        pool = await system.spawn(Pool, Worker, 4, Probe(), strategy=Random())
        return [await pool.ask("who") for _ in range(count)]


@pytest.mark.anyio
async def test_random_repeats_with_the_same_seed_and_uses_every_worker() -> None:
    first = await random_choices(7, 100)
    second = await random_choices(7, 100)
    assert first == second
    assert set(first) == {"worker-1", "worker-2", "worker-3", "worker-4"}
    assert first[:8] != ["worker-1", "worker-2", "worker-3", "worker-4"] * 2, "not random"


@pytest.mark.anyio
async def test_smallest_mailbox_prefers_an_idle_worker_to_a_busy_one() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 2, Probe(), strategy=SmallestMailbox())
        first, _ = await routees(pool)
        gate = anyio.Event()
        await block(first, gate)  # busy, with nothing queued
        assert [await pool.ask("who") for _ in range(5)] == ["worker-2"] * 5
        gate.set()


@pytest.mark.anyio
async def test_smallest_mailbox_picks_the_worker_with_the_fewest_queued_messages() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 3, probe, strategy=SmallestMailbox())
        workers = await routees(pool)
        gate = anyio.Event()
        for worker in workers:
            await block(worker, gate)
        for worker, queued in zip(workers, (2, 0, 1), strict=True):
            for n in range(queued):
                worker.tell(("queued", n))
        pool.tell("routed")
        await routees(pool)  # the pool has routed "routed" by now
        gate.set()
        for worker in workers:
            await worker.ask("sync")
        assert [
            name for name in ("worker-1", "worker-2", "worker-3") if "routed" in got(probe, name)
        ] == ["worker-2"]


def second_item(message: tuple[object, object]) -> object:
    """The consistent-hashing key of a ("hashed", key) message."""
    return message[1]


async def hashed_routes(pool: ActorRef[object], keys: range) -> dict[int, str]:
    return {key: await pool.ask(("hashed", key)) for key in keys}


@pytest.mark.anyio
async def test_consistent_hashing_keeps_a_key_on_one_worker_and_spreads_keys() -> None:
    async with ActorSystem("patterns") as system:
        strategy = ConsistentHashing(key=second_item, virtual_nodes=16)
        pool = await system.spawn(Pool, Worker, 4, Probe(), strategy=strategy)
        first = await hashed_routes(pool, range(40))
        for _ in range(2):
            assert await hashed_routes(pool, range(40)) == first
        assert len(set(first.values())) >= 3, Counter(first.values())


@pytest.mark.anyio
async def test_consistent_hashing_moves_keys_only_to_a_new_worker_when_the_pool_grows() -> None:
    async with ActorSystem("patterns") as system:
        strategy = ConsistentHashing(key=second_item)
        pool = await system.spawn(Pool, Worker, 4, Probe(), strategy=strategy)
        before = await hashed_routes(pool, range(60))
        await resize(pool, 5)
        after = await hashed_routes(pool, range(60))
        moved = {key: after[key] for key in before if after[key] != before[key]}
        assert set(moved.values()) <= {"worker-5"}, moved
        assert moved, "the new worker got no keys"


@pytest.mark.anyio
async def test_broadcast_reaches_every_worker_and_answers_an_ask_once() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 3, probe, strategy=Broadcast())
        workers = await routees(pool)
        pool.tell("hello")
        assert await pool.ask("who") == "worker-1"
        for worker in workers:
            await worker.ask("sync")
        for name in ("worker-1", "worker-2", "worker-3"):
            assert got(probe, name)[:2] == ["hello", "who"]
        assert system.statistics().dead_letters == 0


# ------------------------------------------------------------------ supervision


@pytest.mark.anyio
@pytest.mark.parametrize(
    "worker_supervisor",
    [None, OneForOne(max_restarts=5, within=60.0)],
    ids=["default", "max_restarts=5"],
)
async def test_a_crashed_worker_is_restarted_and_the_pool_keeps_answering(
    worker_supervisor: SupervisorStrategy | None,
) -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 2, probe, worker_supervisor=worker_supervisor)
        workers = await routees(pool)
        before = [await worker.ask("instance") for worker in workers]
        for n in range(3):
            with pytest.raises(Boom, match=f"crash {n}"):
                await pool.ask(("fail", f"crash {n}"))
        after = [await worker.ask("instance") for worker in workers]
        assert all(a != b for a, b in zip(before, after, strict=True)), "both were restarted"
        assert len(probe.events("restart")) == 3
        assert await routees(pool) == workers
        assert {await pool.ask("who") for _ in range(4)} == {"worker-1", "worker-2"}


@pytest.mark.anyio
async def test_a_worker_stopped_for_good_is_dropped_from_the_routees() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        supervisor = OneForOne(max_restarts=1, within=60.0)
        pool = await system.spawn(Pool, Worker, 2, probe, worker_supervisor=supervisor)
        first, second = await routees(pool)
        await system.spawn(Watcher, first, probe)
        for n in range(2):  # one restart allowed; the second failure stops it
            with pytest.raises(Boom):
                await first.ask(("fail", f"{n}"))
        notice = await terminated_of(probe, first)
        assert isinstance(notice.error, Boom)
        assert await routees(pool) == (second,)
        assert [await pool.ask("who") for _ in range(3)] == ["worker-2"] * 3


@pytest.mark.anyio
async def test_a_pool_stops_itself_when_its_last_worker_is_gone() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(
            Pool,
            Worker,
            2,
            probe,
            strategy=Broadcast(),
            worker_supervisor=OneForOne(max_restarts=0),
        )
        await system.spawn(Watcher, pool, probe)
        pool.tell(("fail", "everyone"))
        await terminated_of(probe, pool)
        assert sorted(str(event[1]) for event in probe.events("stop")) == ["worker-1", "worker-2"]
        with pytest.raises(ActorStopped):
            await routees(pool)


@pytest.mark.anyio
async def test_stopping_a_pool_stops_each_worker_once() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 3, probe)
        workers = await routees(pool)
        await system.stop(pool)
        assert Counter(probe.tags("stop")) == Counter(names(workers))
        for worker in workers:
            with pytest.raises(ActorStopped):
                await worker.ask("who")


# ------------------------------------------------------------------ resize


@pytest.mark.anyio
async def test_resize_up_adds_workers_named_after_the_last_one() -> None:
    async with ActorSystem("patterns") as system:
        pool = await system.spawn(Pool, Worker, 2, Probe(), "L", extra=1)
        assert await resize(pool, 4) == 4
        workers = await routees(pool)
        assert names(workers) == ["worker-1", "worker-2", "worker-3", "worker-4"]
        assert await workers[3].ask("config") == ("L", 1)
        assert [await pool.ask("who") for _ in range(4)] == names(workers)
        assert await pool.ask(Resize(5)) == 5
        assert names(await routees(pool))[-1] == "worker-5"


@pytest.mark.anyio
async def test_resize_down_removes_the_youngest_after_their_queued_messages() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 3, probe)
        first, second, third = await routees(pool)
        for worker in (second, third):
            await system.spawn(Watcher, worker, probe)
        gate = anyio.Event()
        await block(third, gate)
        third.tell(("job", 1))
        third.tell(("job", 2))
        assert await resize(pool, 1) == 1
        assert await routees(pool) == (first,)
        gate.set()
        for worker in (second, third):
            await terminated_of(probe, worker)
        assert got(probe, "worker-3")[1:] == [("job", 1), ("job", 2)]
        last_job = probe.items.index(("got", "worker-3", ("job", 2), None))
        third_stop = probe.items.index(("stop", "worker-3", instance_of(probe, "worker-3")))
        assert last_job < third_stop
        assert [await pool.ask("who") for _ in range(3)] == ["worker-1"] * 3
        await system.stop(pool)
        assert Counter(probe.tags("stop")) == Counter(["worker-1", "worker-2", "worker-3"])
        assert system.statistics().dead_letters == 0


@pytest.mark.anyio
async def test_resize_down_does_not_route_a_removed_workers_terminated_to_the_others() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 2, probe)
        _, second = await routees(pool)
        await system.spawn(Watcher, second, probe)
        assert await resize(pool, 1) == 1
        await terminated_of(probe, second)
        # The pool's own notice was posted with the watcher's: it is handled before this ask.
        assert await pool.ask("who") == "worker-1"
        assert got(probe, "worker-1") == ["who"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError), ("3", TypeError)]
)
async def test_resize_rejects_a_size_that_is_not_a_positive_int(
    size: object, error: type[Exception]
) -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 2, probe)
        with pytest.raises(error, match=f"got {re.escape(repr(size))}"):
            await resize(pool, cast("int", size))
        # Asked directly (past the helper's own check), the pool refuses it too.
        with pytest.raises(error, match=f"got {re.escape(repr(size))}") as refused:
            await pool.ask(Resize(cast("int", size)))
        assert any("refused by actor /user/" in n for n in refused.value.__notes__)
        assert len(await routees(pool)) == 2
        assert probe.events("stop") == [], "the pool was not disturbed"


@pytest.mark.anyio
async def test_a_key_function_that_raises_refuses_that_message_and_the_pool_keeps_serving() -> None:
    def key(message: object) -> str:
        if not isinstance(message, tuple):
            raise LookupError(f"no key in {message!r}")
        return str(message[1])

    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, 2, probe, strategy=ConsistentHashing(key=key))
        before = await routees(pool)
        with pytest.raises(LookupError, match="no key in 'plain'"):
            await pool.ask("plain")
        pool.tell("plain again")  # no asker: logged, and a dead letter
        assert await pool.ask(("who", "k")) in ("worker-1", "worker-2")
        assert await routees(pool) == before, "not restarted"
        assert probe.events("stop") == []


# ------------------------------------------------------------------ groups


@pytest.mark.anyio
async def test_group_routes_to_existing_actors_with_the_original_sender() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        refs = tuple([await system.spawn(Worker, probe, name=n) for n in ("a", "b", "c")])
        group = await system.spawn(Group, list(refs), strategy=RoundRobin())
        assert await routees(group) == refs
        client = await system.spawn(Client, probe)
        answers = [await client.ask(("ask", group, "who")) for _ in range(4)]
        assert answers == ["a", "b", "c", "a"]
        assert {event[3] for event in probe.events("got")} == {client}
        with pytest.raises(Boom, match="group"):
            await group.ask(("fail", "group"))


@pytest.mark.anyio
async def test_group_drops_a_routee_that_terminates_and_stops_after_the_last() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        a, b = [await system.spawn(Worker, probe, name=n) for n in ("a", "b")]
        group = await system.spawn(Group, [a, b], strategy=RoundRobin())
        await system.spawn(Watcher, group, probe)
        await routees(group)  # the group has started and watches its routees
        await system.stop(a)
        assert await routees(group) == (b,)
        assert [await group.ask("who") for _ in range(3)] == ["b"] * 3
        await system.stop(b)
        await terminated_of(probe, group)


@pytest.mark.anyio
async def test_stopping_a_group_leaves_its_routees_running() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        a, b = [await system.spawn(Worker, probe, name=n) for n in ("a", "b")]
        group = await system.spawn(Group, [a, b])
        assert await group.ask("who") == "a"
        await system.stop(group)
        assert [await a.ask("who"), await b.ask("who")] == ["a", "b"]
        assert probe.events("stop") == []


# ------------------------------------------------------------------ context.forward


@pytest.mark.anyio
async def test_forward_keeps_the_ask_so_the_asker_gets_the_targets_reply() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        target = await system.spawn(Worker, probe, name="target")
        forwarder = await system.spawn(Forwarder, target, probe)
        assert await forwarder.ask("question") == "target"
        with pytest.raises(Boom, match="forwarded failure"):
            await forwarder.ask(("fail", "forwarded failure"))
        assert system.statistics().dead_letters == 0


@pytest.mark.anyio
async def test_forward_keeps_the_original_sender() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        target = await system.spawn(Worker, probe, name="target")
        forwarder = await system.spawn(Forwarder, target, probe)
        client = await system.spawn(Client, probe)
        client.tell(("tell", forwarder, ("reply_to_sender", "hi")))
        await probe.wait_for(lambda items: bool(probe.events("client got")))
        assert probe.events("client got") == [("client got", ("reply", "target", "hi"), target)]
        assert probe.events("got") == [("got", "target", ("reply_to_sender", "hi"), client)]


@pytest.mark.anyio
async def test_forward_outside_message_handling_or_twice_raises_runtime_error() -> None:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        target = await system.spawn(Worker, probe, name="target")
        forwarder = await system.spawn(Forwarder, target, probe)
        assert await forwarder.ask("twice") == "target"
        await target.ask("sync")
        [(_, outside)] = probe.events("outside")
        assert isinstance(outside, RuntimeError)
        assert re.search("outside of message handling", str(outside))
        [(_, twice)] = probe.events("twice")
        assert isinstance(twice, RuntimeError)
        assert got(probe, "target") == ["twice", "sync"]


@pytest.mark.anyio
async def test_forward_rejects_something_that_is_not_a_ref() -> None:
    class BadForwarder(Actor):
        async def receive(self, message: object) -> object:
            self.context.forward(cast("ActorRef[object]", "not a ref"))
            return None

    async with ActorSystem("patterns") as system:
        ref = await system.spawn(BadForwarder)
        with pytest.raises(TypeError, match="not a ref"):
            await ref.ask("x")


# ------------------------------------------------------------------ properties


async def round_robin_deliveries(count: int, size: int) -> dict[str, list[int]]:
    async with ActorSystem("patterns") as system:
        probe = Probe()
        pool = await system.spawn(Pool, Worker, size, probe, strategy=RoundRobin())
        for n in range(count):
            pool.tell(n)
        workers = await routees(pool)  # every message has been routed by now
        for worker in workers:
            await worker.ask("sync")
        return {
            name: [m for m in got(probe, name) if isinstance(m, int)] for name in names(workers)
        }


@pytest.mark.parametrize("backend", BACKENDS)
@given(count=st.integers(min_value=0, max_value=40), size=st.integers(min_value=1, max_value=5))
def test_round_robin_gives_each_worker_its_share_in_order(
    backend: str, count: int, size: int
) -> None:
    deliveries = anyio.run(round_robin_deliveries, count, size, backend=backend)
    assert len(deliveries) == size
    for received in deliveries.values():
        assert len(received) in {count // size, -(-count // size)}
        assert received == sorted(received)
    assert sorted(itertools.chain.from_iterable(deliveries.values())) == list(range(count))


async def consistent_routes(keys: list[int | str], size: int) -> list[tuple[int | str, str]]:
    async with ActorSystem("patterns") as system:
        strategy = ConsistentHashing(key=second_item)
        pool = await system.spawn(Pool, Worker, size, Probe(), strategy=strategy)
        return [(key, await pool.ask(("hashed", key))) for key in keys]


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    keys=st.lists(
        st.one_of(st.integers(min_value=-5, max_value=5), st.text(max_size=3)),
        max_size=30,
    ),
    size=st.integers(min_value=1, max_value=5),
)
def test_consistent_hashing_sends_equal_keys_to_the_same_worker(
    backend: str, keys: list[int | str], size: int
) -> None:
    routes = anyio.run(consistent_routes, keys, size, backend=backend)
    chosen: dict[int | str, set[str]] = {}
    for key, worker in routes:
        chosen.setdefault(key, set()).add(worker)
    assert all(len(workers) == 1 for workers in chosen.values()), chosen
