"""The embedded socket transport: nodes listen on a Unix socket or TCP (TLS optional)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import shutil
import ssl
import tempfile
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from ._base import NodeTransport
from ._errors import AuthenticationError
from ._framing import DEFAULT_MAX_FRAME, FrameChannel, StreamFrames
from ._serializer import Serializer

if TYPE_CHECKING:
    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.remote")


def parse_address(address: object) -> tuple[str, str, int]:
    """``unix:/path`` -> ("unix", path, 0); ``tcp://host:port`` -> ("tcp", host, port).

    Raises:
        ValueError: any other form.
    """
    if isinstance(address, str):
        if address.startswith("unix:") and len(address) > 5:
            return "unix", address[5:], 0
        if address.startswith("tcp://"):
            host, sep, port = address[6:].rpartition(":")
            host = host.strip("[]")
            if sep and host and port.isdigit() and int(port) < 65536:
                return "tcp", host, int(port)
    raise ValueError(
        f"address must be 'unix:/path/to/socket' or 'tcp://host:port', got {address!r}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SocketTransport(NodeTransport):
    """Nodes linked by sockets, with no server: a Unix socket or TCP, TLS optional.

    Args:
        listen: where this node listens: ``"unix:/path"``, ``"tcp://127.0.0.1:7000"``
            (port 0 picks a free one), or None for a private Unix socket in a
            temporary directory. Only a loopback host unless *public* is set.
        secret: the cluster's shared secret (see `NodeTransport`).
        serializer: `PickleSerializer()` (default) or a `RestrictedSerializer`.
        max_frame: the largest frame accepted or sent, in bytes.
        tls: a server-side SSL context for a TCP listener.
        tls_client: the SSL context used to dial TCP peers.
        public: allow listening on a non-loopback TCP address.
        node_id: this node's id.
        heartbeat: seconds between frames on an idle link; a link silent for
            four of them is lost. Default: 5 s when listening on TCP (a
            machine that dies sends no end of stream), none on a Unix socket
            (a process that dies closes its socket, seen at once).

    Raises:
        ValueError: a malformed address, or a public one without ``public=True``.
        TypeError: a secret or serializer of the wrong type.
    """

    def __init__(
        self,
        listen: str | None = None,
        *,
        secret: bytes | str | None = None,
        serializer: Serializer | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        tls: ssl.SSLContext | None = None,
        tls_client: ssl.SSLContext | None = None,
        public: bool = False,
        node_id: str | None = None,
        heartbeat: float | None = None,
    ) -> None:
        super().__init__(secret=secret, serializer=serializer, max_frame=max_frame, node_id=node_id)
        if listen is not None:
            kind, host, _ = parse_address(listen)
            if kind == "tcp" and not public and not _is_loopback(host):
                raise ValueError(
                    f"listen={listen!r} is not a loopback address; pass public=True to accept "
                    f"connections from other machines (and use tls= and a strong secret)"
                )
            if kind == "unix" and tls is not None:
                raise ValueError("tls applies to TCP listeners, not to a Unix socket")
        if heartbeat is not None and (
            isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or heartbeat <= 0
        ):
            raise ValueError(
                f"heartbeat must be a number of seconds > 0 or None, got {heartbeat!r}"
            )
        if heartbeat is None and listen is not None and listen.startswith("tcp://"):
            heartbeat = 5.0
        self.heartbeat = heartbeat
        self.listen = listen
        self.tls = tls
        self.tls_client = tls_client
        self._listener: anyio.abc.Listener[anyio.abc.ByteStream] | None = None
        self._tempdir: str | None = None
        self._serving: anyio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"SocketTransport(listen={self.listen!r})"

    async def start(self, system: ActorSystem) -> None:
        """Transport protocol: listen, and serve peers in the system's runtime.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        listen = self.listen
        if listen is None:
            self._tempdir = tempfile.mkdtemp(prefix="actorlib-")
            listen = f"unix:{os.path.join(self._tempdir, 'node.sock')}"
        kind, host, port = parse_address(listen)
        listener: anyio.abc.Listener[anyio.abc.ByteStream]
        if kind == "unix":
            listener = await anyio.create_unix_listener(host)
            address = listen
        else:
            tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
            bound = tcp.extra(SocketAttribute.local_address)
            address = f"tcp://{host}:{bound[1]}"
            listener = TLSListener(tcp, self.tls) if self.tls is not None else tcp
        self._listener = listener
        node = self._make_node(system, address)
        node.heartbeat = self.heartbeat
        system.start_runtime_task(functools.partial(self._serve, listener))
        logger.info("node %s listens on %s", node.node_id, address)

    async def _serve(self, listener: anyio.abc.Listener[anyio.abc.ByteStream]) -> None:
        # Stopped by cancelling this scope, and the listener closed here: closing
        # it from another task while it waits in accept() upsets asyncio.
        with anyio.CancelScope() as self._serving:
            try:
                await listener.serve(self._accept)
            except* (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                logger.exception("node %s stopped listening", self.node_id)
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.aclose()

    async def _accept(self, stream: anyio.abc.ByteStream) -> None:
        peer = _describe(stream)
        channel = StreamFrames(stream, peer, self.max_frame)
        try:
            link = await self.node.attach(channel, initiator=False)
        except AuthenticationError as error:
            logger.warning("%s", error)
            return
        except Exception:
            logger.exception("failed to accept a link from %s", peer)
            return
        await link.run()

    async def _dial(self, address: str) -> FrameChannel:
        kind, host, port = parse_address(address)
        stream: anyio.abc.ByteStream
        if kind == "unix":
            stream = await anyio.connect_unix(host)
        elif self.tls_client is not None:
            stream = await anyio.connect_tcp(host, port, ssl_context=self.tls_client)
        else:
            stream = await anyio.connect_tcp(host, port)
        return StreamFrames(stream, address, self.max_frame)

    async def stop(self) -> None:
        """Transport protocol: stop workers, close links and the listener."""
        await super().stop()
        if self._serving is not None:
            self._serving.cancel()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def _describe(stream: anyio.abc.ByteStream) -> str:
    try:
        remote = stream.extra(SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return "a peer"
    if isinstance(remote, tuple):
        return f"tcp://{remote[0]}:{remote[1]}"
    return f"unix:{remote}" if remote else "a local peer"
