"""Three classic distributed-protocol bugs, seeded in small protocols, found and shrunk.

Each protocol comes in a buggy and a fixed version; each holds in the natural
order, so only exploring schedules (and, for one, crashes) shows the bug:

- **a lease without fencing**: a writer whose write is still in flight when its
  lease expires overwrites the write of the next lease holder; storage that
  refuses tokens older than the newest it has seen (fencing) keeps order;
- **membership that trusts a stale heartbeat**: a node's heartbeat relayed by
  gossip arrives after the node said it left, and the monitor counts it alive
  again for ever; a monitor that keeps each node's highest sequence number
  ignores the stale news;
- **an acknowledgement sent before persisting**: a replica that acknowledges a
  write and flushes it to disk a little later loses an acknowledged write when
  it crashes in between; one that persists first loses none.

For each, hypothesis finds the failure, shrinks it to a short trace with few
deviations from the natural order, and the printed one-line replay repeats it
exactly on asyncio and trio; the fixed version passes the same exploration.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorlib import Actor, ActorRef
from actorlib.testing import Crash, Delay, Fault, Schedule, SimulatedSystem, faults, schedules

BACKENDS = ("asyncio", "trio")
# Virtual seconds each scenario runs for: past every lease, retry, goodbye and flush.
RUN_FOR = 5.0
REPLAY = re.compile(
    r"SimulatedSystem\(schedule=Schedule\.(?:replay\((\[[\d, ]*\])\)|fifo\(\))(.*)\)$", re.M
)

# ---------------------------------------------------------------- a lease without fencing

LEASE = 0.5  # virtual seconds a granted lease lasts
RETRY = 0.6  # virtual seconds a refused writer waits before it asks again


class LeaseService(Actor):
    """Grants one holder at a time a lease of LEASE seconds, each grant with a larger token."""

    def __init__(self) -> None:
        self.until = -math.inf
        self.token = 0

    async def receive(self, message: object) -> object:
        match message:
            case "acquire":
                now = self.context.system.clock.now()
                if now < self.until:
                    return None  # held by someone, and not expired
                self.until, self.token = now + LEASE, self.token + 1
                return self.token
        return None


class Storage(Actor):
    """Keeps the writes it applies, in order.

    The seeded bug: it applies every write, so a write from a holder whose
    lease expired lands after its successor's (`FencedStorage` is the fix).
    """

    fenced = False

    def __init__(self) -> None:
        self.newest = 0
        self.applied: list[tuple[str, int]] = []

    async def receive(self, message: object) -> object:
        match message:
            case ("write", str(value), int(token)):
                if self.fenced and token < self.newest:
                    return None  # a stale holder's write: refused
                self.newest = max(self.newest, token)
                self.applied.append((value, token))
            case "applied":
                return list(self.applied)
        return None


class FencedStorage(Storage):
    """Refuses a write whose token is older than the newest it has seen."""

    fenced = True


class Writer(Actor):
    """Takes the lease (asking again every RETRY seconds until granted), then writes its name."""

    def __init__(self, lease: ActorRef[Any], storage: ActorRef[Any]) -> None:
        self.lease = lease
        self.storage = storage

    async def receive(self, message: object) -> object:
        match message:
            case "go" | "retry":
                token = await self.lease.ask("acquire")
                if token is None:
                    self.context.timers.start_single("retry", "retry", RETRY)
                else:
                    self.storage.tell(("write", self.ref.name, token))
        return None


async def two_writers(schedule: Schedule, faults: list[Fault], fenced: bool) -> tuple[bool, str]:
    """Two writers race for the lease; whether the applied tokens never went backwards."""
    async with SimulatedSystem("lease", schedule=schedule, faults=faults) as system:
        lease = await system.spawn(LeaseService, name="lease")
        storage = await system.spawn(FencedStorage if fenced else Storage, name="storage")
        for name in ("a", "b"):
            (await system.spawn(Writer, lease, storage, name=name)).tell("go")
        await system.virtual_clock.advance(RUN_FOR)
        tokens = [token for _, token in await storage.ask("applied")]
        return tokens == sorted(tokens), system.report()


# ---------------------------------------------------------------- a stale heartbeat


class Monitor(Actor):
    """Tells which nodes are up, from their heartbeats and their goodbyes.

    The seeded bug: any heartbeat marks its node up, so a heartbeat that
    arrives (through gossip) after the goodbye revives a node that left
    (`OrderedMonitor` is the fix).
    """

    ordered = False

    def __init__(self) -> None:
        self.up: dict[str, bool] = {}
        self.newest: dict[str, int] = {}

    async def receive(self, message: object) -> object:
        match message:
            case (("heartbeat" | "goodbye") as kind, str(node), int(seq)):
                if self.ordered and seq <= self.newest.get(node, 0):
                    return None  # stale news
                self.newest[node] = max(seq, self.newest.get(node, 0))
                self.up[node] = kind == "heartbeat"
            case "up":
                return sorted(node for node, up in self.up.items() if up)
        return None


class OrderedMonitor(Monitor):
    """Ignores news older than the newest it has from the same node."""

    ordered = True


class Gossip(Actor):
    """Passes on every heartbeat it hears to the monitor (hearsay, on a path of its own)."""

    def __init__(self, monitor: ActorRef[Any]) -> None:
        self.monitor = monitor

    async def receive(self, message: object) -> object:
        self.monitor.tell(message)
        return None


class Node(Actor):
    """Sends a numbered heartbeat to the monitor and to gossip; one that leaves says
    goodbye LEAVE_AFTER seconds later."""

    leaves = False

    def __init__(self, monitor: ActorRef[Any], gossip: ActorRef[Any]) -> None:
        self.monitor = monitor
        self.gossip = gossip
        self.seq = 0

    async def receive(self, message: object) -> object:
        self.seq += 1
        match message:
            case "beat":
                beat = ("heartbeat", self.ref.name, self.seq)
                self.monitor.tell(beat)
                self.gossip.tell(beat)
                if self.leaves:
                    self.context.timers.start_single("leave", "leave", LEAVE_AFTER)
            case "leave":
                self.monitor.tell(("goodbye", self.ref.name, self.seq))
        return None


class LeavingNode(Node):
    """A node that leaves."""

    leaves = True


LEAVE_AFTER = 1.0


async def one_leaves(schedule: Schedule, faults: list[Fault], ordered: bool) -> tuple[bool, str]:
    """Two nodes beat, one leaves a second later; whether only the other is up at the end."""
    async with SimulatedSystem("members", schedule=schedule, faults=faults) as system:
        monitor = await system.spawn(OrderedMonitor if ordered else Monitor, name="monitor")
        gossip = await system.spawn(Gossip, monitor, name="gossip")
        for name in ("stays", "leaves"):
            kind = LeavingNode if name == "leaves" else Node
            node = await system.spawn(kind, monitor, gossip, name=name)
            node.tell("beat")
        await system.virtual_clock.advance(RUN_FOR)
        return await monitor.ask("up") == ["stays"], system.report()


# ---------------------------------------------------------------- an ack before persisting

FLUSH = 0.1  # virtual seconds a write waits for the replica's next flush


class Replica(Actor):
    """Stores writes on a disk (a dict that outlives the actor) and acknowledges them.

    The seeded bug: it acknowledges a write at once and flushes to disk a
    little later, so a crash in between loses an acknowledged write
    (`DurableReplica` is the fix).
    """

    durable_ack = False

    def __init__(self, disk: dict[str, str]) -> None:
        self.disk = disk
        self.pending: dict[str, str] = {}

    async def receive(self, message: object) -> object:
        match message:
            case ("put", str(key), str(value)):
                if self.durable_ack:
                    self.disk[key] = value
                else:
                    self.pending[key] = value
                    self.context.timers.start_single("flush", "flush", FLUSH)
                return "ok"
            case "flush":
                self.disk.update(self.pending)
                self.pending.clear()
        return None


class DurableReplica(Replica):
    """Persists a write before it acknowledges it."""

    durable_ack = True


class Client(Actor):
    """Puts its keys one at a time; remembers which were acknowledged."""

    def __init__(self, replica: ActorRef[Any], keys: list[str]) -> None:
        self.replica = replica
        self.keys = keys
        self.acked: list[str] = []

    async def receive(self, message: object) -> object:
        match message:
            case "go":
                for key in self.keys:
                    try:
                        if await self.replica.ask(("put", key, "v")) == "ok":
                            self.acked.append(key)
                    except Exception:
                        pass  # not acknowledged: the client may not count on it
            case "acked":
                return list(self.acked)
        return None


async def three_puts(
    schedule: Schedule, faults: list[Fault], durable_ack: bool
) -> tuple[bool, str]:
    """Three puts; whether every acknowledged one is on disk at the end."""
    disk: dict[str, str] = {}
    async with SimulatedSystem("replica", schedule=schedule, faults=faults) as system:
        kind = DurableReplica if durable_ack else Replica
        replica = await system.spawn(kind, disk, name="replica")
        client = await system.spawn(Client, replica, ["k1", "k2", "k3"], name="client")
        client.tell("go")
        await system.virtual_clock.advance(RUN_FOR)
        acked = await client.ask("acked")
        return set(acked) <= set(disk), system.report()


# ---------------------------------------------------------------- exploring them

Scenario = Callable[[Schedule, list[Fault], bool], Awaitable[tuple[bool, str]]]
# Each scenario, the faults hypothesis may add to it, and what its failure says.
SCENARIOS: dict[str, tuple[Scenario, Any, str]] = {
    "lease-without-fencing": (
        two_writers,
        # A slow network (or a paused writer): a write may take a while to land.
        faults(["storage"], kinds=(Delay,), max_faults=1, max_nth=2, max_delay=2.0),
        "a stale lease holder's write landed",
    ),
    "stale-heartbeat": (one_leaves, st.just([]), "a node that left is up again"),
    "ack-before-persist": (
        three_puts,
        faults(["replica"], kinds=(Crash,), max_faults=1, max_nth=4),
        "an acknowledged write was lost",
    ),
}


def explore(name: str, backend: str, *, fixed: bool) -> Callable[[], None]:
    """A hypothesis test of scenario *name* (the buggy version unless *fixed*)."""
    scenario, fault_lists, failure = SCENARIOS[name]

    @settings(database=None, deadline=None, max_examples=200)
    @given(schedule=schedules(max_steps=24), injected=fault_lists)
    def prop(schedule: Schedule, injected: list[Fault]) -> None:
        holds, _ = anyio.run(scenario, schedule, injected, fixed, backend=backend)
        assert holds, failure

    return prop


def shrunk(prop: Callable[[], None], failure: str) -> tuple[list[int], str, str]:
    """Run *prop*, which must fail: the shrunk replay's choices, its faults, and its trace."""
    with pytest.raises(AssertionError, match=f"^{re.escape(failure)}") as caught:
        prop()
    notes = "\n".join(caught.value.__notes__)
    replays = REPLAY.findall(notes)
    assert replays, notes
    choices, faults_part = replays[-1]
    trace = [note for note in caught.value.__notes__ if note.startswith("delivery trace")][-1]
    return ast.literal_eval(choices or "[]"), faults_part, trace


def steps_of(report: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in report.splitlines() if re.match(r"^ *\d+\. ", line)]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_seeded_protocol_holds_in_the_natural_order(name: str, backend: str) -> None:
    scenario, _, _ = SCENARIOS[name]
    holds, report = anyio.run(scenario, Schedule.fifo(), [], False, backend=backend)
    assert holds, report


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lease_without_fencing_is_found_and_shrunk_to_a_write_held_past_its_lease(
    backend: str,
) -> None:
    choices, _, report = shrunk(explore("lease-without-fencing", backend, fixed=False), "a stale")
    steps = steps_of(report)
    assert len(steps) <= 24, report
    # b's granted write was delivered before a's older one, which was still in flight.
    b_writes = steps.index("/user/b -> /user/storage: tell ('write', 'b', 2)")
    assert b_writes < steps.index("/user/a -> /user/storage: tell ('write', 'a', 1)"), report
    assert "timer -> /user/b: timer 'retry'" in steps, report  # time passed: the lease expired
    assert sum(1 for choice in choices if choice) <= 3, choices


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_membership_that_trusts_a_stale_heartbeat_is_found_and_shrunk(backend: str) -> None:
    choices, _, report = shrunk(explore("stale-heartbeat", backend, fixed=False), "a node that")
    steps = steps_of(report)
    assert len(steps) <= 12, report
    goodbye = steps.index("/user/leaves -> /user/monitor: tell ('goodbye', 'leaves', 2)")
    relayed = steps.index("/user/gossip -> /user/monitor: tell ('heartbeat', 'leaves', 1)")
    assert goodbye < relayed, report  # the hearsay came after the goodbye
    assert sum(1 for choice in choices if choice) <= 2, choices


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_ack_before_persisting_is_found_and_shrunk_to_a_crash_before_the_flush(
    backend: str,
) -> None:
    _, faults_part, report = shrunk(explore("ack-before-persist", backend, fixed=False), "an ack")
    assert "Crash(actor='/user/replica'" in faults_part, faults_part
    steps = steps_of(report)
    assert len(steps) <= 12, report
    crashed = next(i for i, step in enumerate(steps) if ": crash ('put'" in step)
    assert crashed < steps.index("timer -> /user/replica: timer 'flush'"), report


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_fixed_protocols_pass_the_same_exploration(name: str, backend: str) -> None:
    explore(name, backend, fixed=True)()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shrunk_failure_replays_exactly_from_its_printed_line(name: str, backend: str) -> None:
    scenario, _, failure = SCENARIOS[name]
    choices, faults_part, report = shrunk(explore(name, backend, fixed=False), failure)
    injected: list[Fault] = eval(  # the printed line's own faults, as a user pastes them
        faults_part.removeprefix(", faults=") or "[]", {"Crash": Crash, "Delay": Delay}
    )
    holds, again = anyio.run(scenario, Schedule.replay(choices), injected, False, backend=backend)
    assert not holds
    assert steps_of(again) == steps_of(report)
