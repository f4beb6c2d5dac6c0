"""Paths, names, lookup, refs (equality, hashing, pickling), children, tree() and statistics()."""

from __future__ import annotations

import pickle
import re

import anyio
import pytest

from actorlib import Actor, ActorRef, ActorStatistics, ActorSystem, SystemStatistics


class Boom(Exception):
    """A distinctive handler failure."""


class Node(Actor):
    """Spawns children, reports its context, blocks or fails on request."""

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", name):
                assert name is None or isinstance(name, str)
                return await self.context.spawn(Node, name=name)
            case "children":
                return self.context.children
            case "parent":
                return self.context.parent
            case "self":
                return (self.context.self, self.ref)
            case "system":
                return self.context.system
            case ("block", anyio.Event() as entered, anyio.Event() as gate):
                entered.set()
                await gate.wait()
            case "fail":
                raise Boom("restart")
        return None


@pytest.mark.anyio
async def test_paths_and_names_follow_the_supervision_tree() -> None:
    async with ActorSystem("tree") as system:
        bank = await system.spawn(Node, name="bank")
        account = await bank.ask(("spawn", "account-1"))
        assert bank.path == "/user/bank"
        assert bank.name == "bank"
        assert account.path == "/user/bank/account-1"
        assert account.name == "account-1"


@pytest.mark.anyio
async def test_generated_names_are_unique_and_valid() -> None:
    async with ActorSystem("tree") as system:
        refs = [await system.spawn(Node) for _ in range(20)]
        parent = refs[0]
        refs += [await parent.ask(("spawn", None)) for _ in range(5)]
        names = [ref.name for ref in refs]
        assert len(set(names)) == len(names)
        for ref in refs:
            assert re.fullmatch(r"[A-Za-z0-9_.\-$]+", ref.name)
            assert system.lookup(ref.path) == ref


@pytest.mark.anyio
async def test_lookup_finds_live_actors_by_absolute_or_relative_path() -> None:
    async with ActorSystem("tree") as system:
        bank = await system.spawn(Node, name="bank")
        account = await bank.ask(("spawn", "acct"))
        assert system.lookup("/user/bank") == bank
        assert system.lookup("/user/bank/acct") == account
        assert system.lookup("bank") == bank
        assert system.lookup("bank/acct") == account
        assert system.lookup("/user/nobody") is None
        assert system.lookup("bank/nobody") is None


@pytest.mark.anyio
async def test_lookup_returns_none_once_the_actor_stopped() -> None:
    async with ActorSystem("tree") as system:
        bank = await system.spawn(Node, name="bank")
        account = await bank.ask(("spawn", "acct"))
        await system.stop(bank)
        assert system.lookup("/user/bank") is None
        assert system.lookup(account.path) is None


@pytest.mark.anyio
async def test_refs_are_hashable_and_equal_for_the_same_incarnation_only() -> None:
    async with ActorSystem("tree") as system:
        first = await system.spawn(Node, name="same-name")
        found = system.lookup("same-name")
        assert found == first
        assert hash(found) == hash(first)
        assert len({first, found}) == 1
        await system.stop(first)
        second = await system.spawn(Node, name="same-name")
        assert second != first
        assert len({first, second}) == 2
        assert second.path == first.path


@pytest.mark.anyio
async def test_a_ref_stays_the_same_across_restarts() -> None:
    async with ActorSystem("tree") as system:
        ref = await system.spawn(Node, name="flaky")
        self_refs = await ref.ask("self")
        with pytest.raises(Boom):
            await ref.ask("fail")
        assert await ref.ask("self") == self_refs
        assert system.lookup("flaky") == ref


@pytest.mark.anyio
async def test_a_pickled_ref_still_reaches_its_actor() -> None:
    async with ActorSystem("tree") as system:
        ref = await system.spawn(Node, name="portable")
        copy = pickle.loads(pickle.dumps(ref))
        assert isinstance(copy, ActorRef)
        assert copy == ref
        assert copy.path == "/user/portable"
        assert await copy.ask("self") == (ref, ref)


@pytest.mark.anyio
async def test_context_knows_self_parent_children_and_system() -> None:
    async with ActorSystem("tree") as system:
        parent = await system.spawn(Node, name="parent")
        kids = [await parent.ask(("spawn", f"kid-{i}")) for i in range(3)]
        assert await parent.ask("children") == tuple(kids)
        assert await parent.ask("self") == (parent, parent)
        assert await kids[0].ask("parent") == parent
        top_parent = await parent.ask("parent")
        assert isinstance(top_parent, ActorRef)
        assert top_parent.path == "/user"
        assert await parent.ask("system") is system
        await system.stop(kids[1])
        assert await parent.ask("children") == (kids[0], kids[2])


@pytest.mark.anyio
async def test_tree_shows_every_actor_below_its_parent() -> None:
    async with ActorSystem("tree") as system:
        bank = await system.spawn(Node, name="bank")
        await bank.ask(("spawn", "alpha"))
        beta = await bank.ask(("spawn", "beta"))
        await beta.ask(("spawn", "gamma"))
        await system.spawn(Node, name="audit")
        lines = system.tree().splitlines()

        def line_of(name: str) -> int:
            [index] = [i for i, line in enumerate(lines) if re.search(rf"\b{name}\b", line)]
            return index

        def indent(name: str) -> int:
            line = lines[line_of(name)]
            return len(line) - len(line.lstrip(" │├└─"))

        assert line_of("bank") < line_of("alpha") < line_of("beta") < line_of("gamma")
        assert indent("alpha") > indent("bank")
        assert indent("beta") == indent("alpha")
        assert indent("gamma") > indent("beta")
        assert indent("audit") == indent("bank")


@pytest.mark.anyio
async def test_tree_shows_mailbox_depth_and_restart_count() -> None:
    async with ActorSystem("tree") as system:
        busy = await system.spawn(Node, name="busy")
        flaky = await system.spawn(Node, name="flaky")

        def line_of(name: str) -> str:
            [line] = [line for line in system.tree().splitlines() if name in line]
            return line

        assert not re.search(r"\b1\b", line_of("flaky"))
        with pytest.raises(Boom):
            await flaky.ask("fail")
        assert re.search(r"\b1\b", line_of("flaky"))

        entered, gate = anyio.Event(), anyio.Event()
        busy.tell(("block", entered, gate))
        await entered.wait()
        for _ in range(3):
            busy.tell("waiting")
        assert re.search(r"\b3\b", line_of("busy"))
        gate.set()


@pytest.mark.anyio
async def test_statistics_count_live_actors() -> None:
    async with ActorSystem("tree") as system:
        base = system.statistics()
        assert isinstance(base, SystemStatistics)
        parent = await system.spawn(Node)
        await parent.ask(("spawn", "kid"))
        await system.spawn(Node)
        assert system.statistics().actors == base.actors + 3
        await system.stop(parent)
        assert system.statistics().actors == base.actors + 1
        with pytest.raises(AttributeError):
            system.statistics().actors = 0  # type: ignore[misc]


@pytest.mark.anyio
async def test_actor_statistics_list_each_actor_parents_first_with_its_counters() -> None:
    async with ActorSystem("tree") as system:
        assert system.actor_statistics() == ()
        parent = await system.spawn(Node, name="parent")
        with pytest.raises(Boom):
            await parent.ask("fail")  # a restart stops the children: fail first
        await parent.ask(("spawn", "kid"))
        for _ in range(3):
            await parent.ask("children")
        await system.spawn(Node, name="other")
        snapshot = system.actor_statistics()
        assert [s.path for s in snapshot] == ["/user/parent", "/user/parent/kid", "/user/other"]
        first = snapshot[0]
        assert isinstance(first, ActorStatistics)
        assert (first.name, first.actor_class, first.state) == ("parent", "Node", "running")
        assert (first.restarts, first.mailbox) == (1, 0)
        assert first.handled == 5  # the failing message, the spawn and three "children"
