"""What every transport of actorlib.remote shares: its node, its peers, its workers."""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from ._auth import check_secret
from ._framing import DEFAULT_MAX_FRAME, FrameChannel, check_max_frame
from ._hosts import Peer
from ._node import Node, new_node_id
from ._serializer import PickleSerializer, Serializer
from ._traffic import LinkStatistics, RoundTripSink
from ._workers import WorkerNode, WorkerPool

if TYPE_CHECKING:
    from actorlib import ActorSystem

_NODE_ID = re.compile(r"[A-Za-z0-9_.\-]+")


def check_node_id(node_id: object) -> str | None:
    """Validate a node id (letters, digits, '-', '_', '.'); None picks one.

    Raises:
        ValueError: any other character, or not a str.
    """
    if node_id is None:
        return None
    if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
        raise ValueError(
            f"node_id must be a non-empty string of ASCII letters, digits, '-', '_' and '.', "
            f"got {node_id!r}"
        )
    return node_id


def check_heartbeat(heartbeat: object) -> float | None:
    """Validate a link heartbeat interval in seconds (None: no heartbeats).

    Raises:
        ValueError: not a finite number of seconds > 0, nor None.
    """
    if heartbeat is None:
        return None
    if (
        isinstance(heartbeat, bool)
        or not isinstance(heartbeat, int | float)
        or not 0 < heartbeat < math.inf  # NaN fails this too
    ):
        raise ValueError(
            f"heartbeat must be a finite number of seconds > 0 or None, got {heartbeat!r}"
        )
    return float(heartbeat)


def check_wall(wall: object) -> Callable[[], float]:
    """Validate a wall clock (a callable returning seconds since the epoch); None: `time.time`.

    Raises:
        TypeError: not callable.
    """
    if wall is None:
        return time.time
    if not callable(wall):
        raise TypeError(
            f"wall must be a callable returning seconds since the epoch, like time.time, "
            f"got {wall!r}"
        )
    return cast("Callable[[], float]", wall)


class NodeTransport:
    """The shared part of transports: the node, peers by address, worker processes.

    Args:
        secret: the cluster's shared secret (16 bytes or more); every node that
            links with this one must have it. Default: a random one, enough for
            worker processes this system starts itself.
        serializer: `PickleSerializer()` (default) or a `RestrictedSerializer`.
        max_frame: the largest frame accepted or sent, in bytes.
        node_id: this node's id (default: the system's name and a random suffix).
        wall: this node's wall clock, seconds since the epoch (default
            `time.time`): what its NATS messages are stamped with and checked
            against (freshness), and when a cluster member joined. The
            monotonic timing (heartbeats, timeouts) reads the system's Clock
            seam instead. A simulation gives one node a skewed one.

    Raises:
        TypeError: a secret, serializer or wall clock of the wrong type.
        ValueError: a short secret, a bad frame limit or node id.
    """

    def __init__(
        self,
        *,
        secret: bytes | str | None = None,
        serializer: Serializer | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        node_id: str | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.secret = secrets.token_bytes(32) if secret is None else check_secret(secret)
        # Wall-clock time (across machines); never the monotonic Clock seam.
        self.wall: Callable[[], float] = check_wall(wall)
        if serializer is not None and not (
            callable(getattr(serializer, "dumps", None))
            and callable(getattr(serializer, "loads", None))
        ):
            raise TypeError(
                f"serializer must have dumps() and loads(), such as PickleSerializer(), "
                f"got {serializer!r}"
            )
        self.serializer: Serializer = serializer or PickleSerializer()
        self.max_frame = check_max_frame(max_frame)
        self._node_id = check_node_id(node_id)
        self._node: Node | None = None
        self._round_trip_sinks: list[RoundTripSink] = []
        self._workers: WorkerPool | None = None

    @property
    def node(self) -> Node:
        """This system's node (once the system has started).

        Raises:
            RuntimeError: the system has not started yet.
        """
        if self._node is None:
            raise RuntimeError(
                f"{type(self).__name__} is not started: pass it to "
                f"ActorSystem(..., transport=...) and enter the system first"
            )
        return self._node

    def link_statistics(self) -> list[LinkStatistics]:
        """The traffic with each peer node so far: frames, bytes, links (reconnects).

        One `LinkStatistics` per peer this node has linked with, sorted by
        peer; an empty list before the system has started. Safe to call from
        another thread (a metrics exporter's).
        """
        return [] if self._node is None else self._node.link_statistics()

    def add_round_trip_sink(self, sink: Callable[[str, float], None]) -> None:
        """Also pass each round-trip time measured on a link to *sink*.

        *sink* is called with the peer's node id and the time in seconds, in
        the link's reader task: it must return at once (an OpenTelemetry
        histogram's ``record``). `LinkStatistics` keeps a histogram anyway.
        """
        self._round_trip_sinks.append(sink)

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.node.node_id

    @property
    def address(self) -> str | None:
        """Where this node listens (None if it does not)."""
        return self.node.address

    def _make_node(self, system: ActorSystem, address: str | None) -> Node:
        self._node = Node(
            system,
            node_id=self._node_id or new_node_id(system.name),
            address=address,
            secret=self.secret,
            serializer=self.serializer,
            max_frame=self.max_frame,
            dial=self._dial,
        )
        self._node.round_trip_sinks = self._round_trip_sinks
        return self._node

    async def start(self, system: ActorSystem) -> None:
        """Transport protocol: called once the system runs."""
        raise NotImplementedError

    async def _dial(self, address: str) -> FrameChannel:
        raise NotImplementedError

    async def connect(self, address: str) -> Peer:
        """Link with the node listening at *address*; spawn there with ``node=peer``.

        Raises:
            OSError: nothing listens there.
            AuthenticationError: it does not share this node's secret.
            ValueError: a malformed address.
        """
        node = self.node
        link = await node.connect(await self._dial(address))
        return Peer(node, link.peer, address)

    async def start_nodes(self, count: int) -> Sequence[WorkerNode]:
        """Transport protocol: start *count* worker processes (see `ActorSystem.start_nodes`).

        Raises:
            RuntimeError: this transport cannot start worker processes.
        """
        if self._workers is None:
            self._workers = WorkerPool(self.node, self._worker_address())
        return await self._workers.start(count)

    def _worker_address(self) -> str:
        address = self.node.address
        if address is None:
            raise RuntimeError(f"{type(self).__name__} does not listen: it cannot start workers")
        return address

    async def stop(self) -> None:
        """Transport protocol: stop worker processes, close links."""
        if self._node is not None:
            self._node.closing = True  # links closing from now on are expected
        if self._workers is not None:
            await self._workers.stop()
        if self._node is not None:
            await self._node.aclose()
