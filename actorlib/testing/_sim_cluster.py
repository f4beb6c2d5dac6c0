"""SimulatedCluster: the test's face of simulated nodes under one schedule; it delivers nothing.

It applies faults (when planned, and what the trace says of them); the
choosing is `_cluster_controller`'s, the nodes' running and stopping
`_node_lifecycle`'s, the packets `_network`'s.

Each node is a real `ActorSystem` (a `SimulatedSystem`) with a
`NatsTransport` whose client is a `SimulatedClient` of one
`SimulatedNetwork`, `Cluster.join`-ed to one cluster whose KV store is
one shared `MemoryKV` (the JetStream server), reached through the
network's partitions. The cluster and actorlib.remote run on it
unchanged: the simulation sits below the Transport seam.

**One chooser, one controller per system.** Each node keeps its own
`Controller` (the Delivery seam of its system, as in a `SimulatedSystem`:
its channels, faults, asks and deadlock detection stay per system, and a
lone `SimulatedSystem` keeps its code path and traces), but none of them
runs its own loop: the `ClusterController` does. Once every task of
every node is blocked, it lists the candidates of all the nodes and of
the network (held system messages first, then messages, replies and
network packets, each oldest first by one sequence shared by all of
them, then the next actor timer of the whole cluster), asks the one
`Schedule` to choose, and has the owner deliver it. One schedule and one
trace for the cluster; the node's own trace is still there
(``sim.node("n1").trace``). Composing rather than generalising keeps the
single system's hot path as it was (a shared controller would have to
tell every ref's system apart at every delivery).

**One timeline.** The cluster's `VirtualClock` is the shared time (the
JetStream server's: the KV's TTLs run on it). Each node reads it through
a `NodeClock`, which a `Skew` offsets; every deadline of every node is a
deadline of the shared clock, so time jumps in deadline order across nodes.

**Determinism.** On trio, the scheduler's order of tasks woken together
is randomised; while a cluster runs, it is made deterministic (the trio
hook hypothesis itself installs, seeded with 0), so a replay repeats
the run on trio as on asyncio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from ._cluster_controller import ClusterController, _ClusterWaiting
from ._cluster_faults import (
    KV,
    ClusterFault,
    CrashNode,
    Heal,
    Partition,
    RestartNode,
    Skew,
    split_faults,
)
from ._network import SimulatedNetwork
from ._node_lifecycle import NodeLifecycle, NodeSettings, Setup
from ._schedule import Schedule
from ._scheduled_run import ScheduledRun, schedule_or_fifo
from ._sim_node import SimulatedNode, deterministic_trio, restore_trio
from ._simulation import SimulatedSystem
from ._virtual_clock import VirtualClock

if TYPE_CHECKING:
    from actorlib.cluster import Cluster
    from actorlib.cluster._memory import MemoryKV

logger = logging.getLogger("actorlib.testing")


class SimulatedCluster(ScheduledRun):
    """Several nodes of one cluster in one process, under one schedule (see docs/testing.md).

    ``async with SimulatedCluster(nodes=3, setup=register) as sim:``
    starts nodes ``n1``, ``n2``, ``n3``: each a real `ActorSystem` on the
    shared virtual time, with a `NatsTransport` on a simulated NATS
    network, joined to the cluster (and *setup* run on its `Cluster`).
    Every delivery in the nodes and on the network is chosen by
    *schedule*; faults strike messages and nodes; the trace records it all.
    When the block raises, the trace and the exact replay are attached
    (noted for hypothesis in a hypothesis test).

    Args:
        nodes: how many nodes (named ``n1``...), or their names.
        name: the cluster's name.
        schedule: which delivery goes next (default `Schedule.fifo()`).
        faults: `NetworkDrop`, `NetworkDuplicate`, `NetworkDelay`,
            `Partition`, `Heal`, `CrashNode`, `RestartNode`, `Skew`.
        setup: awaited with each node's `Cluster` once it has joined (a
            restarted node's too): register the entity kinds here.
        down_after: the members' heartbeat TTL, in whole seconds.
        roles: each node's roles, by name.
        heartbeat: seconds between frames on an idle link (on the shared
            virtual time). Each heartbeat is a step of the trace: the
            default (an hour) keeps them out; a short one lets links notice
            a silent (crashed, cut off) peer.
        kv_lateness: how late (in seconds) the store expires a TTL.
        clock: the shared virtual clock (a new one at 0.0 by default).
        options: any other keyword argument of each node's `ActorSystem`.

    Raises:
        ValueError: no nodes, a repeated or malformed name, a fault naming no node.
        TypeError: a schedule that is not a `Schedule`.
    """

    KV = KV
    _noun = "cluster"
    controller: ClusterController

    def __init__(
        self,
        nodes: int | Sequence[str] = 3,
        *,
        name: str = "sim",
        schedule: Schedule | None = None,
        faults: Sequence[ClusterFault] = (),
        setup: Setup | None = None,
        down_after: float = 3.0,
        roles: dict[str, Iterable[str]] | None = None,
        heartbeat: float = 3600.0,
        kv_lateness: float = 0.0,
        clock: VirtualClock | None = None,
        secret: bytes = b"simulated cluster secret, 32 b!!",
        **options: Any,
    ) -> None:
        names = [f"n{i}" for i in range(1, nodes + 1)] if isinstance(nodes, int) else list(nodes)
        if not names:
            raise ValueError("a SimulatedCluster needs at least one node")
        for node in names:
            if not isinstance(node, str) or not node.replace("-", "").isalnum() or node == KV:
                raise ValueError(f"a node name is letters, digits and '-' (not 'kv'), got {node!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"node names must differ, got {names}")
        self.names = names
        self.name = name
        self._faults = list(faults)
        network_faults, self._plan = split_faults(self._faults, names)
        # The blocked-loop watchdog's thread posts to the loop in real time:
        # on trio that wakes a task at real-time moments, and the order of
        # the tasks the scheduler runs together would change between replays.
        options.setdefault("slow_callback", None)
        self.clock = clock if clock is not None else VirtualClock()
        self.network = SimulatedNetwork(self.clock, faults=network_faults)
        self.controller = ClusterController(schedule_or_fifo(schedule), self.clock, self.network)
        self.controller.before_step = self._strike
        settings = NodeSettings(name, setup, down_after, roles or {}, heartbeat, secret, options)
        self._lifecycle = NodeLifecycle(
            settings, clock=self.clock, network=self.network, controller=self.controller
        )
        self._kv_lateness = kv_lateness
        self.kv: MemoryKV | None = None
        self._group: Any = None
        self._started: int | None = None  # the steps made while the nodes started
        self._trio_state: tuple[bool, object] | None = None

    # ------------------------------------------------------------ reading

    @property
    def nodes(self) -> dict[str, SimulatedNode]:
        """The nodes by name (a crashed node stays until it restarts)."""
        return dict(self._lifecycle.nodes)

    def node(self, name: str) -> SimulatedSystem:
        """Node *name*'s actor system.

        Raises:
            KeyError: no such node.
        """
        return self._node(name).system

    def cluster(self, name: str) -> Cluster:
        """Node *name*'s member of the cluster.

        Raises:
            KeyError: no such node.
            RuntimeError: it has crashed (and not restarted yet).
        """
        node = self._node(name)
        if node.crashed or node.cluster is None:
            raise RuntimeError(f"node {name} has crashed; `await sim.restart({name!r})` first")
        return node.cluster

    def live(self) -> list[str]:
        """The names of the nodes that run (not crashed)."""
        return [name for name, node in self._lifecycle.nodes.items() if not node.crashed]

    def _node(self, name: str) -> SimulatedNode:
        try:
            return self._lifecycle.nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r} in this cluster (the nodes: {self.names})") from None

    def report(self) -> str:
        """The trace and the code that replays this run exactly."""
        steps = sum(1 for step in self.trace if step.candidates)
        faults = f", faults={self._faults!r}" if self._faults else ""
        return (
            f"simulation trace of cluster {self.name!r} ({steps} deliveries):\n{self.trace}\n"
            f"replay it with: SimulatedCluster(schedule={self.schedule.replay_code()}{faults})"
        )

    # ------------------------------------------------------------ running

    async def __aenter__(self) -> SimulatedCluster:
        from actorlib.cluster._memory import MemoryKV

        self._trio_state = deterministic_trio()
        self.kv = self._lifecycle.kv = MemoryKV(self.clock, lateness=self._kv_lateness)
        self.clock.quiesce = self.controller.settle
        self._group = self._lifecycle.group = anyio.create_task_group()
        await self._group.__aenter__()
        try:
            self._group.start_soon(self.controller.run)
            for name in self.names:
                await self._lifecycle.start(name)
            self._started = len(self.schedule.made)
        except BaseException as error:
            await self.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        report = self.report()
        noted = self._give_report(report, exc)
        failure = self.controller.failure
        self.controller.frozen = False  # teardown needs deliveries
        try:
            with anyio.CancelScope(shield=True):
                await self._lifecycle.stop_all()
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
        finally:
            restore_trio(self._trio_state)
            self._trio_state = None
        if exc is None and failure is not None:
            if not noted:
                failure.add_note(report)
            raise failure
        return None

    # ------------------------------------------------------------ faults

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the nodes into *groups* (the nodes not named form one more side).

        ``sim.partition({"n1"}, {"n2", "n3"})``: messages between sides are
        lost; a member on another side than the JetStream server (``"kv"``:
        with the group that names it, else the largest) cannot reach the
        cluster's store. A new partition replaces the one before.

        Raises:
            ValueError: an unknown node, or one in two groups.
        """
        shown = self.network.partition([sorted(group) for group in groups])
        self.controller.note("fault", "cluster", "partition", shown)
        self.controller.changed()

    def heal(self) -> None:
        """End the partition: every node reaches every other, and the store, again."""
        self.network.heal()
        self.controller.note("fault", "cluster", "heal", "every node reaches every other")
        self.controller.changed()

    def skew(self, name: str, seconds: float) -> None:
        """Make node *name*'s clock read *seconds* off the shared time (0: in step again).

        Raises:
            KeyError: no such node.
        """
        if name not in self.names:
            raise KeyError(f"no node {name!r} in this cluster (the nodes: {self.names})")
        self._lifecycle.skew(name, seconds)  # a node not started yet starts skewed
        self.controller.note("fault", name, "skew", f"{seconds:+g} s")
        self.controller.changed()

    async def crash(self, name: str) -> None:
        """Crash node *name*: cut it off at once, then stop its system (no clean leave).

        Raises:
            KeyError: no such node.
            RuntimeError: it has crashed already.
        """
        self._crash(name)
        await self._node(name).done.wait()

    def _crash(self, name: str) -> None:
        self._node(name)  # a KeyError that names the nodes
        lost = self._lifecycle.crash(name)
        if lost is None:
            return  # crashed already
        shown = f"(cut off: {lost} in flight to it lost)" if lost else "(cut off)"
        self.controller.note("fault", name, "crash", shown)
        self.controller.changed()

    async def restart(self, name: str) -> SimulatedNode:
        """Start crashed node *name* again: a fresh system with the same name, joined anew.

        Raises:
            KeyError: no such node.
            RuntimeError: it is running.
        """
        node = self._node(name)
        if not node.crashed:
            raise RuntimeError(f"node {name} runs: crash it before restarting it")
        await node.done.wait()
        self.controller.note("fault", name, "restart", "(a fresh system)")
        return await self._lifecycle.start(name)

    def _strike(self, number: int) -> None:
        """Apply the planned faults of step *number* (the controller calls it before each step).

        Steps count from the end of the start (every node joined): a
        fault's ``at`` is a step of the test's own run.
        """
        if self._started is None:
            return
        number -= self._started
        while self._plan and self._plan[0].at <= number:
            fault = self._plan.pop(0)
            if isinstance(fault, Partition):
                self.partition(*fault.groups)
            elif isinstance(fault, Heal):
                self.heal()
            elif isinstance(fault, Skew):
                self.skew(fault.node, fault.seconds)
            elif isinstance(fault, CrashNode):
                if fault.node in self._lifecycle.nodes:
                    self._crash(fault.node)
            elif isinstance(fault, RestartNode):
                node = self._lifecycle.nodes.get(fault.node)
                if node is not None and node.crashed:
                    self._group.start_soon(self._restart_quietly, fault.node)

    async def _restart_quietly(self, name: str) -> None:
        try:
            await self.restart(name)
        except Exception as error:
            if self._lifecycle.nodes[name].crashed:
                return  # crashed again while starting: its join failed, as it would
            logger.exception("restarting node %s failed: %r", name, error)

    # ------------------------------------------------------------ waiting

    async def advance(self, seconds: float) -> None:
        """Move the shared time *seconds* ahead, settling at each deadline on the way."""
        await self.clock.advance(seconds)
        self.controller.raise_failure()

    def waiting(self) -> _ClusterWaiting:
        """A context in which virtual time may jump while test code waits.

        Use it around an await that only time can end (a remote ask from
        test code that may be lost: its timeout is a deadline).
        """
        return _ClusterWaiting(self.controller)

    def always(self, predicate: Callable[[], object], *, name: str | None = None) -> None:
        """Check *predicate* after every step (false, or an AssertionError, fails the run).

        The failure freezes the cluster and is raised by the next `settle`
        or `eventually`, or when the ``async with`` block ends.
        """
        label = name or getattr(predicate, "__name__", repr(predicate))
        self.controller.invariants.append((f"always({label})", predicate))
