"""One node of a simulated cluster: its system, its transport and its view of the KV store.

It knows one node; the schedule and the faults are the cluster's.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._system import ActorSystem
from ._cluster_controller import ClusterController
from ._nats_client import SimulatedClient
from ._network import SimulatedNetwork
from ._simulation import SimulatedSystem
from ._virtual_clock import NodeClock

if TYPE_CHECKING:
    from actorlib.cluster import Cluster
    from actorlib.cluster._memory import MemoryKV
    from actorlib.cluster._store import Entry, Watcher


class _NodeSystem(SimulatedSystem):
    """A node of a simulated cluster: a SimulatedSystem whose controller the cluster drives."""

    def __init__(self, name: str, *, hub: ClusterController, clock: NodeClock, **options: Any):
        super().__init__(name, clock=clock, **options)
        hub.attach(name, self.controller, clock)

    async def _run_controller(self) -> None:
        return None  # the ClusterController delivers for every node

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        # The cluster reports once for all its nodes: no report of this node here.
        return await ActorSystem.__aexit__(self, exc_type, exc, tb)


class NodeKV:
    """One member's connection to the shared KV store, through the network's partitions.

    A member cut off from the JetStream server (``"kv"``) by a partition,
    or crashed, fails every call with `ClusterError`, as `JetStreamKV`
    does on a lost connection; its watchers miss what changes meanwhile,
    and `reconnects` counts each time it reaches the server again.
    """

    def __init__(self, store: MemoryKV, network: SimulatedNetwork, node: str) -> None:
        self.store = store
        self.network = network
        self.node = node

    def _check(self, what: str) -> None:
        if not self.network.reaches_kv(self.node):
            from actorlib.cluster._errors import ClusterError

            raise ClusterError(
                reason=f"{what} JetStream failed: node {self.node} cannot reach the "
                f"JetStream server (simulated partition or crash)"
            )

    async def read(self, key: str) -> Entry | None:
        """See `KeyValue.read`."""
        self._check(f"reading {key!r} from")
        return await self.store.read(key)

    async def write(
        self,
        key: str,
        value: bytes,
        *,
        expect: int | None = None,
        ttl: float | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int:
        """See `KeyValue.write`."""
        self._check(f"writing {key!r} to")
        return await self.store.write(key, value, expect=expect, ttl=ttl, fence=fence)

    async def delete(self, key: str, *, expect: int | None = None) -> int:
        """See `KeyValue.delete`."""
        self._check(f"deleting {key!r} in")
        return await self.store.delete(key, expect=expect)

    async def watch(self, prefix: str) -> Watcher:
        """See `KeyValue.watch`."""
        self._check(f"watching {prefix!r} in")
        return _NodeWatcher(await self.store.watch(prefix), self)

    def reconnects(self) -> int:
        """How often this member reached the server again after being cut off."""
        return self.network.kv_reconnects.get(self.node, 0)


class _NodeWatcher:
    """A watcher of the shared store that misses what changes while its member is cut off."""

    def __init__(self, inner: Watcher, kv: NodeKV) -> None:
        self._inner = inner
        self._kv = kv

    def __aiter__(self) -> _NodeWatcher:
        return self

    async def __anext__(self) -> Entry | None:
        while True:
            entry = await self._inner.__anext__()
            if self._kv.network.reaches_kv(self._kv.node):
                return entry

    async def stop(self) -> None:
        await self._inner.stop()


def _simulated_transport(network: SimulatedNetwork, **options: Any) -> Any:
    """A NatsTransport whose client is *network*'s (imported here: actorlib.remote is heavy)."""
    from actorlib.remote import NatsTransport

    class SimulatedNatsTransport(NatsTransport):
        async def _open_client(self, node_id: str) -> Any:
            system = self._system
            assert system is not None
            return network.connect(node_id, system._start_runtime_task)

        def __repr__(self) -> str:
            return f"SimulatedNatsTransport({self.node_id!r})"

    return SimulatedNatsTransport("nats://simulated:4222", **options)


@attrs.define(eq=False)
class SimulatedNode:
    """One incarnation of a node of a `SimulatedCluster` (a restart makes a new one).

    Attributes:
        name: the node's name (and node id).
        system: its actor system (a `SimulatedSystem`).
        cluster: its member of the cluster (set once joined).
        client: its connection to the simulated network.
    """

    name: str
    system: SimulatedSystem
    cluster: Cluster | None = None
    client: SimulatedClient | None = None
    crashed: bool = False
    stop: anyio.Event = attrs.Factory(anyio.Event)
    done: anyio.Event = attrs.Factory(anyio.Event)


def deterministic_trio() -> tuple[bool, object] | None:
    """Make trio's order of tasks woken together repeatable; the state to restore
    (None on asyncio, which runs ready tasks in order already)."""
    try:
        import asyncio

        asyncio.get_running_loop()
        return None
    except RuntimeError:
        pass
    import trio._core._run as trio_run

    state = (trio_run._ALLOW_DETERMINISTIC_SCHEDULING, trio_run._r.getstate())
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    trio_run._r.seed(0)
    return state


def restore_trio(state: tuple[bool, object] | None) -> None:
    """Undo `deterministic_trio`."""
    if state is None:
        return
    import trio._core._run as trio_run

    allowed, random_state = state
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = allowed  # type: ignore[misc]
    trio_run._r.setstate(random_state)  # type: ignore[arg-type]
