"""Starting, stopping and crashing the nodes of a simulated cluster; not the schedule or fault plan.

It runs each node (its system, transport, KV view and cluster member) in
a task of the cluster's task group, and cuts off or stops one on demand;
when a fault strikes, and what the trace says of it, is the cluster's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from ._cluster_controller import ClusterController
from ._network import SimulatedNetwork
from ._sim_node import NodeKV, SimulatedNode, _NodeSystem, _simulated_transport
from ._virtual_clock import NodeClock, VirtualClock

if TYPE_CHECKING:
    from actorlib.cluster import Cluster
    from actorlib.cluster._memory import MemoryKV

Setup = Callable[["Cluster"], Awaitable[None]]
# The wall clock's reading at virtual time 0 (2025-01-01), for what shows wall time.
WALL_EPOCH = 1_735_689_600.0


@attrs.frozen
class NodeSettings:
    """What every node of one simulated cluster is started with (see `SimulatedCluster`)."""

    cluster: str
    setup: Setup | None
    down_after: float
    roles: dict[str, Iterable[str]]
    heartbeat: float
    secret: bytes
    options: dict[str, Any]


class NodeLifecycle:
    """The running nodes of a simulated cluster, by name (a crashed one stays until restarted)."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        clock: VirtualClock,
        network: SimulatedNetwork,
        controller: ClusterController,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._network = network
        self._controller = controller
        self.nodes: dict[str, SimulatedNode] = {}
        # Each node's skew, kept for a node not started yet or restarted.
        self.offsets: dict[str, float] = {}
        self.kv: MemoryKV | None = None
        self.group: Any = None  # the cluster's task group, while it runs

    async def start(self, name: str) -> SimulatedNode:
        """Start node *name* (again) and return once it has joined the cluster."""
        node: SimulatedNode = await self.group.start(self._run, name)
        return node

    async def _run(self, name: str, *, task_status: Any) -> None:
        from actorlib.cluster._joining import Joining

        settings = self._settings
        clock = NodeClock(self._clock, self.offsets.get(name, 0.0))

        def wall() -> float:  # virtual wall time, skew included: the same on every replay
            return WALL_EPOCH + clock.now()

        transport = _simulated_transport(
            self._network,
            secret=settings.secret,
            node_id=name,
            heartbeat=settings.heartbeat,
            wall=wall,
        )
        system = _NodeSystem(
            name, hub=self._controller, clock=clock, transport=transport, **settings.options
        )
        node = SimulatedNode(name, system)
        self.nodes[name] = node
        try:
            async with system:
                node.client = self._network.clients[name]
                assert self.kv is not None
                store = NodeKV(self.kv, self._network, name)
                roles = tuple(settings.roles.get(name, ()))
                node.cluster = await Joining(
                    system, settings.cluster, roles, settings.down_after, store=store
                )
                if settings.setup is not None:
                    await settings.setup(node.cluster)
                task_status.started(node)
                await node.stop.wait()
        finally:
            self._controller.detach(name, system.controller)
            # Test code that asked through this node waits on a timeout of a
            # system that no longer runs: its asks end with the node.
            system.controller.fail_test_asks()
            node.done.set()

    def skew(self, name: str, seconds: float) -> None:
        """Set node *name*'s clock *seconds* off the shared time, now and when it (re)starts."""
        self.offsets[name] = float(seconds)
        node = self.nodes.get(name)
        if node is not None:
            clock = node.system.clock
            assert isinstance(clock, NodeClock)
            clock.set_offset(seconds)

    def crash(self, name: str) -> int | None:
        """Cut node *name* off and stop it; the packets to it lost (None: it had crashed before)."""
        node = self.nodes[name]
        if node.crashed:
            return None
        node.crashed = True
        lost = self._network.cut(name)
        node.stop.set()
        return lost

    async def stop_all(self) -> None:
        """Stop every node, the last started first, and wait until each has stopped."""
        for node in reversed(list(self.nodes.values())):
            node.stop.set()
            await node.done.wait()
