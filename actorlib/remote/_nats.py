"""The NATS transport: nodes on many machines linked through a NATS server.

Each node subscribes to its own subjects (``<prefix>.accept.<node>`` to be
linked with, ``<prefix>.lookup`` to answer for its named actors). A link is
a pair of subjects private to two nodes, carrying the same authenticated,
numbered, batched frames as a socket; NATS keeps per-publisher order, and
heartbeats turn a silent node into `NodeLost`. nats-py runs on asyncio only.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef

from ._base import NodeTransport
from ._errors import AuthenticationError
from ._framing import DEFAULT_MAX_FRAME, FrameChannel
from ._groups import Groups, GroupTarget
from ._nats_frames import NatsFrames
from ._sealed import SEAL_OVERHEAD
from ._serializer import Serializer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.remote")


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

    Raises:
        ValueError: a bad prefix, heartbeat or timeout (see `NodeTransport` too).
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
        heartbeat: float = 0.2,
        lookup_timeout: float = 0.5,
    ) -> None:
        super().__init__(secret=secret, serializer=serializer, max_frame=max_frame, node_id=node_id)
        if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
            raise ValueError(f"url must be a NATS url like 'nats://127.0.0.1:4222', got {url!r}")
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in " .*>"):
            raise ValueError(
                f"prefix must be one NATS subject token like 'actorlib', got {prefix!r}"
            )
        for name, value in (("heartbeat", heartbeat), ("lookup_timeout", lookup_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.url = url
        self.prefix = prefix
        self.heartbeat = float(heartbeat)
        self.lookup_timeout = float(lookup_timeout)
        self._client: Client | None = None
        self._system: ActorSystem | None = None
        self._groups: Groups | None = None
        # Link ids accepted so far: a dialer that lost our answer asks again.
        self._accepted: set[str] = set()

    def __repr__(self) -> str:
        return f"NatsTransport({self.url!r})"

    async def start(self, system: ActorSystem) -> None:
        """Transport protocol: connect to the server and subscribe to this node's subjects.

        Raises:
            RuntimeError: not on asyncio, or nats-py is not installed.
            OSError: the server cannot be reached.
        """
        if not _on_asyncio():
            raise RuntimeError(
                "NatsTransport needs the asyncio backend: nats-py runs on asyncio only; "
                "run the system with actorlib.run(main, backend='asyncio') (or use "
                "SocketTransport, which runs on trio too)"
            )
        try:
            import nats
        except ImportError:
            raise RuntimeError(
                'NatsTransport needs nats-py: pip install "actorlib[nats]"'
            ) from None
        self._system = system
        node_id = self._node_id or f"{system.name}-{secrets.token_hex(4)}"
        self._node_id = node_id
        try:
            client = await nats.connect(
                self.url,
                name=node_id,
                reconnect_time_wait=0.1,
                max_reconnect_attempts=-1,
                connect_timeout=5,
                disconnected_cb=functools.partial(self._log, "disconnected from"),
                reconnected_cb=functools.partial(self._log, "reconnected to"),
                error_cb=self._error,
            )
        except Exception as error:
            raise OSError(f"cannot connect to NATS at {self.url}: {error}") from error
        self._client = client
        # A sealed frame is bigger than its body: keep it within one NATS message.
        self.max_frame = min(self.max_frame, client.max_payload - SEAL_OVERHEAD)
        node = self._make_node(system, f"nats:{node_id}")
        node.heartbeat = self.heartbeat
        await client.subscribe(f"{self.prefix}.accept.{node_id}", cb=self._on_accept)
        await client.subscribe(f"{self.prefix}.lookup", cb=self._on_lookup)
        await client.flush()
        self._groups = Groups(node, client, self.prefix)

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
        if not address.startswith("nats:") or self._client is None:
            raise OSError(f"NatsTransport reaches nodes at 'nats:<node id>', got {address!r}")
        peer = address[5:]
        link = secrets.token_hex(8)
        channel = self._channel(link, "d", "a", peer)
        await channel.subscribe()
        hello = json.dumps({"link": link, "from": self.node_id}).encode()
        try:
            # The same link id on every try: the peer accepts it once.
            await self._request(f"{self.prefix}.accept.{peer}", hello, wait=2.0, per_try=0.5)
        except Exception as error:
            await channel.aclose()
            raise OSError(f"no node {peer} answers on NATS at {self.url}: {error!r}") from None
        return channel

    async def _on_accept(self, msg: Msg) -> None:
        try:
            hello = json.loads(msg.data)
            link, peer = str(hello["link"]), str(hello["from"])
        except (ValueError, KeyError, TypeError):
            logger.warning("node %s ignored a malformed link request on NATS", self._node_id)
            return
        if not link.isalnum():
            return
        if link in self._accepted:  # a repeated request: the answer was lost
            await msg.respond(b"ok")
            return
        self._accepted.add(link)
        channel = self._channel(link, "a", "d", peer)
        await channel.subscribe()
        await msg.respond(b"ok")
        assert self._system is not None
        self._system.start_runtime_task(functools.partial(self._accept, channel))

    async def _accept(self, channel: NatsFrames) -> None:
        try:
            link = await self.node.attach(channel, initiator=False)
        except AuthenticationError as error:
            logger.warning("%s", error)
            return
        await link.run()

    async def _on_lookup(self, msg: Msg) -> None:
        if self._system is None or not msg.reply:
            return
        try:
            ref = self._system.lookup(msg.data.decode())
        except (TypeError, UnicodeDecodeError):
            return
        if ref is not None:  # nodes without it keep quiet: the first answer wins
            node, address, path, uid = self.node.encode_ref(ref)
            await msg.respond(json.dumps([node, address, path, uid]).encode())

    async def lookup(self, path: str, *, timeout: float | None = None) -> ActorRef[Any] | None:
        """The ref of the live actor at *path* on any node of the cluster (this one first).

        Args:
            path: the actor's path, or its top-level name.
            timeout: seconds to wait for the node that has it (default:
                the transport's ``lookup_timeout``); a miss always waits it out.

        Raises:
            TypeError: *path* is not a str.
            ValueError: *timeout* is not a positive number.
        """
        if not isinstance(path, str):
            raise TypeError(f"lookup() expects a path string like '/user/name', got {path!r}")
        wait = self.lookup_timeout if timeout is None else float(timeout)
        if not wait > 0:
            raise ValueError(f"lookup() timeout must be a number of seconds > 0, got {timeout!r}")
        assert self._client is not None
        try:
            answer = await self._request(
                f"{self.prefix}.lookup",
                path.encode(),
                wait=wait,
                per_try=min(wait, max(0.25, wait / 8)),
            )
        except Exception:
            return None  # nobody has it (a timeout), or NATS is gone
        node, address, actor_path, uid = json.loads(answer.data)
        return self.node.decode_ref((str(node), address, str(actor_path), int(uid)))

    async def _request(self, subject: str, payload: bytes, *, wait: float, per_try: float) -> Msg:
        """NATS request/reply, asked again when a try gets no answer, until *wait* runs out.

        Core NATS delivers at most once: a request (or its answer) can be
        lost. Only idempotent requests come here (lookups; link requests,
        which the peer accepts once per link id).

        Raises:
            TimeoutError: no answer within *wait*.
            Exception: what nats-py raised otherwise (no responders, closed).
        """
        assert self._client is not None
        deadline = anyio.current_time() + wait
        while True:
            remaining = deadline - anyio.current_time()
            try:
                return await self._client.request(
                    subject, payload, timeout=max(min(per_try, remaining), 0.01)
                )
            except TimeoutError:  # nats-py's timeout is a TimeoutError
                if remaining <= per_try:
                    raise

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


def _on_asyncio() -> bool:
    # The standard library's own test: anyio no longer depends on sniffio.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
