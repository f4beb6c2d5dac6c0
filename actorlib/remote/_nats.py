"""The NATS transport: nodes on many machines linked through a NATS server.

Each node subscribes to its own subjects (``<prefix>.accept.<node>`` to be
linked with, ``<prefix>.lookup`` to answer for its named actors). A link is
a pair of subjects private to two nodes, carrying the same authenticated,
numbered, batched frames as a socket; NATS keeps per-publisher order, and
heartbeats turn a silent node into `NodeLost`. Every other message (link
requests, lookups, group messages and their answers) is sealed: encrypted,
authenticated, fresh and accepted once (`_nats_sealed`). nats-py runs on asyncio only.

The accepting side of link requests is `_nats_accept`, lookups are `_nats_lookup`.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef

from ._base import NodeTransport
from ._framing import DEFAULT_MAX_FRAME, FrameChannel
from ._group_target import GroupTarget
from ._groups import Groups
from ._nats_accept import NODE_ID, LinkRequests
from ._nats_connect import connect_client, connect_options, on_asyncio, wait_subscribed
from ._nats_frames import NatsFrames
from ._nats_inbox import MAX_REQUEST, Inbox, answer
from ._nats_lookup import Lookups
from ._nats_sealed import FRESHNESS, RefusalLog, Sealer, check_freshness
from ._sealed import SEAL_OVERHEAD
from ._serializer import Serializer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.remote")

#: Seconds between frames on an idle link (four missed lose it): a killed node is
#: lost within about a second, and a pause longer than 0.8 s loses a live one.
DEFAULT_HEARTBEAT = 0.2


class NatsTransport(NodeTransport):
    """Nodes on many machines, linked through a NATS server (``pip install "actorlib[nats]"``).

    Args:
        url: the NATS server, e.g. ``"nats://127.0.0.1:4222"``.
        secret: the cluster's shared secret (links are authenticated end to
            end, whatever the server lets through).
        serializer: `PickleSerializer()` (default) or a `RestrictedSerializer`.
        max_frame: the largest frame, in bytes (capped by the server's max_payload).
        node_id: this node's id (default: the system's name and a random suffix).
        prefix: the first token of every subject, to share a server between clusters.
        heartbeat: seconds between frames on an idle link; a link silent for
            four of them is lost (its watchers get `Terminated` with `NodeLost`).
        lookup_timeout: how long `lookup` waits for the node that has the actor.
        freshness: how far, in seconds, the timestamp of a NATS message
            (a link request, a lookup, a group message) may be from this
            machine's wall clock: the clock margin between machines, plus
            transit. Older (or later) messages are refused as replays.
        wall: this node's wall clock, seconds since the epoch (default
            `time.time`): what its sealed messages are stamped with, what
            their freshness is checked against, and when it joined a
            cluster. Heartbeats and timeouts read the system's Clock seam
            instead. A simulation gives one node a skewed clock here.
        user, password: NATS user/password authentication.
        token: NATS token authentication.
        nkeys_seed: the path of an NKEY seed file.
        user_credentials: the path of a ``.creds`` file (JWT and NKEY).
        tls: an `ssl.SSLContext` for a TLS connection to the server (with a
            ``tls://`` url, or a server that requires TLS).
        tls_hostname: the server name to check its certificate against.
        options: any other keyword arguments of ``nats.connect``.

    Everything this transport sends is authenticated and, outside the links'
    own frames, encrypted with keys derived from *secret*, whatever the
    server lets through; the server's own authentication and TLS (the
    arguments above) keep strangers off the server, and only they can stop
    a client of the server from dropping messages (by joining a queue group).

    Raises:
        ValueError: a bad prefix, heartbeat, timeout or freshness (see
            `NodeTransport` too).
        TypeError: a NATS option or wall clock of the wrong type.
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        secret: bytes | str | None = None,
        serializer: Serializer | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        node_id: str | None = None,
        prefix: str = "actorlib",
        heartbeat: float = DEFAULT_HEARTBEAT,
        lookup_timeout: float = 0.5,
        freshness: float = FRESHNESS,
        wall: Callable[[], float] | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        nkeys_seed: str | None = None,
        user_credentials: str | None = None,
        tls: ssl.SSLContext | None = None,
        tls_hostname: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            secret=secret, serializer=serializer, max_frame=max_frame, node_id=node_id, wall=wall
        )
        if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
            raise ValueError(f"url must be a NATS url like 'nats://127.0.0.1:4222', got {url!r}")
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in " .*>"):
            raise ValueError(
                f"prefix must be one NATS subject token like 'actorlib', got {prefix!r}"
            )
        for name, value in (("heartbeat", heartbeat), ("lookup_timeout", lookup_timeout)):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not 0 < value < math.inf:  # NaN fails this too
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
        self.url = url
        self.prefix = prefix
        self.heartbeat = float(heartbeat)
        self.lookup_timeout = float(lookup_timeout)
        self.freshness = check_freshness(freshness)
        self._options = connect_options(
            options,
            user=user,
            password=password,
            token=token,
            nkeys_seed=nkeys_seed,
            user_credentials=user_credentials,
            tls=tls,
            tls_hostname=tls_hostname,
        )
        self._client: Client | None = None
        self._system: ActorSystem | None = None
        self._groups: Groups | None = None
        self._inbox: Inbox | None = None
        self._links = Sealer(
            self.secret, prefix, "link request", freshness=self.freshness, wall=self.wall
        )
        self._requests = LinkRequests(self._links, freshness=self.freshness, channel=self._channel)
        self._lookups = Lookups(
            Sealer(self.secret, prefix, "lookup", freshness=self.freshness, wall=self.wall),
            f"{prefix}.lookup",
        )
        self._refusals = RefusalLog("?")

    def __repr__(self) -> str:
        return f"NatsTransport({self.url!r})"

    async def start(self, system: ActorSystem) -> None:
        """Transport protocol: connect to the server and subscribe to this node's subjects.

        Raises:
            RuntimeError: not on asyncio, or nats-py is not installed.
            OSError: the server cannot be reached.
        """
        self._system = system
        node_id = self._node_id or f"{system.name}-{secrets.token_hex(4)}"
        self._node_id = node_id
        client = await self._open_client(node_id)
        self._client = client
        # A sealed frame is bigger than its body: keep it within one NATS message.
        self.max_frame = min(self.max_frame, client.max_payload - SEAL_OVERHEAD)
        node = self._make_node(system, f"nats:{node_id}")
        node.heartbeat = self.heartbeat
        self._refusals = RefusalLog(node_id, clock=system.clock)
        self._inbox = inbox = Inbox(client, self._refusals, system.timer_queue)
        await inbox.start()
        await client.subscribe(self._accept_subject(node_id), cb=self._on_accept)
        await client.subscribe(f"{self.prefix}.lookup", cb=self._on_lookup)
        self._groups = Groups(
            node, client, self.prefix, inbox, freshness=self.freshness, wall=self.wall
        )
        await self._groups.start()
        await wait_subscribed(client, timers=system.timer_queue)  # reachable from now on

    async def _open_client(self, node_id: str) -> Client:
        """The connected client that `start` uses (nats-py's, on asyncio).

        A subclass may return another object with the same methods:
        actorlib.testing's simulated network does, on either backend.

        Raises:
            RuntimeError: not on asyncio, or nats-py is not installed.
            OSError: the server cannot be reached.
        """
        if not on_asyncio():
            raise RuntimeError(
                "NatsTransport needs the asyncio backend: nats-py runs on asyncio only; "
                "run the system with actorlib.run(main, backend='asyncio') (or use "
                "SocketTransport, which runs on trio too)"
            )
        try:
            from nats.aio.client import Client as NatsClient
        except ImportError:
            raise RuntimeError(
                'NatsTransport needs nats-py: pip install "actorlib[nats]"'
            ) from None
        return await self._connect(NatsClient(), node_id)

    def _accept_subject(self, node_id: str) -> str:
        return f"{self.prefix}.accept.{node_id}"

    async def _connect(self, client: Client, node_id: str) -> Client:
        return await connect_client(
            client,
            self.url,
            node_id,
            self._options,
            on_error=self._error,
            on_news=self._log,
        )

    async def _log(self, what: str) -> None:
        logger.warning("node %s %s NATS at %s", self._node_id, what, self.url)

    async def _error(self, error: Exception) -> None:
        logger.info("NATS client of node %s: %r", self._node_id, error)

    def _channel(self, link: str, inbound: str, outbound: str, peer: str) -> NatsFrames:
        assert self._client is not None
        base = f"{self.prefix}.link.{link}"
        return NatsFrames(
            self._client, f"{base}.{inbound}", f"{base}.{outbound}", peer, self.max_frame
        )

    async def _dial(self, address: str) -> FrameChannel:
        if not address.startswith("nats:") or self._client is None or self._inbox is None:
            raise OSError(f"NatsTransport reaches nodes at 'nats:<node id>', got {address!r}")
        peer = address[5:]
        if not NODE_ID.fullmatch(peer):
            raise OSError(f"NatsTransport reaches nodes at 'nats:<node id>', got {address!r}")
        link = secrets.token_hex(8)
        channel = self._channel(link, "d", "a", peer)
        hello = json.dumps({"link": link, "from": self.node_id}).encode()
        try:
            await channel.subscribe()
            try:
                # The same link id on every try (each sealed anew): the peer accepts it once.
                await self._inbox.request(
                    self._accept_subject(peer),
                    self._links,
                    "link request",
                    hello,
                    limit=16,
                    wait=2.0,
                    per_try=0.5,
                )
            except Exception as error:
                raise OSError(f"no node {peer} answers on NATS at {self.url}: {error!r}") from None
        except BaseException:  # cancelled too: the channel is this call's until it returns
            with anyio.CancelScope(shield=True):
                await channel.aclose()
            raise
        return channel

    async def _on_accept(self, msg: Msg) -> None:
        subject = self._accept_subject(self.node_id)
        opened = await self._requests.accept(msg, subject, self._refusals, self.node)
        if opened is None:
            return
        assert self._client is not None
        await answer(self._client, self._links, "link request", opened, msg.reply or "", b"ok")

    async def _on_lookup(self, msg: Msg) -> None:
        if self._system is None or self._client is None:
            return
        await self._lookups.reply(msg, self._client, self.node, self._refusals)

    async def lookup(self, path: str, *, timeout: float | None = None) -> ActorRef[Any] | None:
        """The ref of the live actor at *path* on any node of the cluster (this one first).

        Args:
            path: the actor's path, or its top-level name.
            timeout: seconds to wait for the node that has it (default:
                the transport's ``lookup_timeout``); a miss always waits it out.

        Raises:
            TypeError: *path* is not a str.
            ValueError: *timeout* is not a positive number, or *path* is too long.
        """
        if not isinstance(path, str):
            raise TypeError(f"lookup() expects a path string like '/user/name', got {path!r}")
        wait = self.lookup_timeout if timeout is None else float(timeout)
        if not wait > 0:
            raise ValueError(f"lookup() timeout must be a number of seconds > 0, got {timeout!r}")
        body = path.encode()
        if len(body) > MAX_REQUEST:
            raise ValueError(
                f"lookup() paths are at most {MAX_REQUEST} bytes in UTF-8, got {len(body)}"
            )
        assert self._inbox is not None
        return await self._lookups.ask(self._inbox, self.node, body, wait)

    def _group_name(self, name: object) -> str:
        if not isinstance(name, str) or not name or any(c in name for c in " .*>\t\r\n"):
            raise ValueError(
                f"a group name must be one NATS subject token like 'squares', got {name!r}"
            )
        if self._groups is None:
            raise RuntimeError("NatsTransport is not started: enter its ActorSystem first")
        return name

    async def join_group(self, name: str, member: ActorRef[Any]) -> None:
        """Make the local actor *member* a member of queue group *name*.

        Each message to the group goes to one of its members, on whichever
        node: a pool spread across machines.

        Raises:
            ValueError: *name* is not one subject token.
            TypeError: *member* is not a ref.
            RuntimeError: the transport is not started.
        """
        name = self._group_name(name)
        if not isinstance(member, ActorRef):
            raise TypeError(f"join_group() expects an ActorRef, got {member!r}")
        assert self._groups is not None
        await self._groups.join(name, member)

    def group(self, name: str) -> ActorRef[Any]:
        """A ref to queue group *name*: each tell or ask goes to one member.

        Raises:
            ValueError: *name* is not one subject token.
            RuntimeError: the transport is not started.
        """
        name = self._group_name(name)
        assert self._groups is not None
        return ActorRef(GroupTarget(self._groups, name))

    async def start_nodes(self, count: int) -> list[Any]:
        """Worker processes on this machine link by socket: use `SocketTransport` for them.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError(
            "NatsTransport does not start worker processes; start nodes on each machine "
            "(python -m actorlib.remote node ...), or use SocketTransport() for start_nodes()"
        )

    async def stop(self) -> None:
        """Transport protocol: close links, then the NATS connection."""
        await super().stop()
        await self._requests.close()
        if self._groups is not None:
            self._groups.close()
        client, self._client = self._client, None
        if client is not None and not client.is_closed:
            try:
                await client.drain()
            except Exception:  # closing anyway; the server may be gone
                logger.info(
                    "draining the NATS connection of %s failed", self._node_id, exc_info=True
                )
