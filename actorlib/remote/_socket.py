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
import attrs
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from actorlib._clock import fail_after

from ._base import NodeTransport, check_heartbeat
from ._errors import AuthenticationError, RemoteError
from ._framing import DEFAULT_MAX_FRAME, FrameChannel, StreamFrames
from ._gate import REFUSALS_LOGGED_PER_SECOND, Throttle, accept_all
from ._link import Link
from ._logsafe import loggable
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


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


@attrs.define
class _Handshake:
    """One connection between accept() and an authenticated link."""

    scope: anyio.CancelScope
    evicted: bool = False


class SocketTransport(NodeTransport):
    """Nodes linked by sockets, with no server: a Unix socket or TCP, TLS optional.

    Hostile connections cost a listening node little: accept() failing for
    want of descriptors (a flood) makes it wait and retry, never stop
    listening; at most *max_handshakes* connections are authenticating at
    once (one more closes the oldest of them: a real peer authenticates in
    milliseconds, an idle one holds its slot until then); each has
    *handshake_timeout* seconds, TLS included; refusals are logged one line
    each, escaped, at most `REFUSALS_LOGGED_PER_SECOND` lines a second.

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
        max_handshakes: how many accepted connections may be authenticating
            at once (default 64).
        handshake_timeout: seconds from accept (or from dialing) to an
            authenticated link, TLS handshake included (default 5; the
            handshake itself never waits longer than 5 s).

    Raises:
        ValueError: a malformed address, or a public one without ``public=True``;
            a heartbeat, handshake timeout or handshake limit that is not positive.
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
        max_handshakes: int = 64,
        handshake_timeout: float = 5.0,
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
        heartbeat = check_heartbeat(heartbeat)
        if isinstance(max_handshakes, bool) or not isinstance(max_handshakes, int):
            raise ValueError(f"max_handshakes must be an int >= 1, got {max_handshakes!r}")
        if max_handshakes < 1:
            raise ValueError(f"max_handshakes must be an int >= 1, got {max_handshakes!r}")
        if heartbeat is None and listen is not None and listen.startswith("tcp://"):
            heartbeat = 5.0
        self.heartbeat = heartbeat
        self.listen = listen
        self.tls = tls
        self.tls_client = tls_client
        self.max_handshakes = max_handshakes
        self.handshake_timeout = _check_seconds("handshake_timeout", handshake_timeout)
        self._listener: anyio.abc.Listener[anyio.abc.ByteStream] | None = None
        self._tempdir: str | None = None
        self._serving: anyio.CancelScope | None = None
        # Connections accepted and not yet authenticated, oldest first.
        # Invariant: at most max_handshakes entries.
        self._handshakes: dict[int, _Handshake] = {}
        self._accepted = 0
        self._refusals = Throttle(REFUSALS_LOGGED_PER_SECOND)

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
            # TLS is not anyio's TLSListener: its serve() ends on the first
            # failed accept, and its handshake would not count against
            # max_handshakes (see _authenticate).
            listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
            bound = listener.extra(SocketAttribute.local_address)
            address = f"tcp://{host}:{bound[1]}"
        self._listener = listener
        node = self._make_node(system, address)
        node.heartbeat = self.heartbeat
        system._start_runtime_task(functools.partial(self._serve, listener))
        logger.info("node %s listens on %s", node.node_id, address)

    async def _serve(self, listener: anyio.abc.Listener[anyio.abc.ByteStream]) -> None:
        # Stopped by cancelling this scope, and the listener closed here: closing
        # it from another task while it waits in accept() upsets asyncio.
        with anyio.CancelScope() as self._serving:
            try:
                async with anyio.create_task_group() as group:
                    # A TCP listener on "localhost" is one per address family.
                    for one in getattr(listener, "listeners", [listener]):
                        assert isinstance(one, anyio.abc.SocketListener)
                        admit = functools.partial(self._admit, group=group)
                        group.start_soon(
                            accept_all, one, admit, self.node.system.clock, self.node_id
                        )
            except* (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                logger.exception("node %s stopped listening", self.node_id)
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.aclose()

    def _admit(self, stream: anyio.abc.SocketStream, *, group: anyio.abc.TaskGroup) -> None:
        if len(self._handshakes) >= self.max_handshakes:
            # The oldest handshake makes room: a real peer authenticates in
            # milliseconds, so the oldest is the likeliest to be idle, and
            # idle connections cannot lock real peers out until they time out.
            oldest = next(iter(self._handshakes))
            handshake = self._handshakes.pop(oldest)
            handshake.evicted = True
            handshake.scope.cancel()
        self._accepted += 1
        key = self._accepted
        handshake = self._handshakes[key] = _Handshake(anyio.CancelScope())
        group.start_soon(self._accept, stream, key, handshake)

    async def _accept(self, stream: anyio.abc.ByteStream, key: int, handshake: _Handshake) -> None:
        peer = _describe(stream)
        result: Link | None = None
        timers = self.node.system.timer_queue
        try:
            with handshake.scope:
                timeout = timers.call_later(self.handshake_timeout, handshake.scope.cancel)
                try:
                    result = await self._authenticate(stream, peer)
                finally:
                    timeout.cancel()
        finally:
            if self._handshakes.get(key) is handshake:
                del self._handshakes[key]
            if result is None:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(stream)
        if result is None:
            if handshake.evicted:
                self._refused(
                    peer,
                    f"{self.max_handshakes} connections were authenticating at once "
                    f"(max_handshakes): closed the oldest",
                )
            elif handshake.scope.cancelled_caught:
                self._refused(peer, f"no handshake within {self.handshake_timeout:g} s")
            return
        await result.run()

    async def _authenticate(self, stream: anyio.abc.ByteStream, peer: str) -> Link | None:
        """TLS (if configured) and the handshake; None: refused (and logged)."""
        if self.tls is not None:
            try:
                # Not standard_compatible: closing then never waits for a
                # close_notify that a hostile peer would never send. Frames
                # carry their length, so a truncated one is still detected.
                stream = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=self.tls, standard_compatible=False
                )
            except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as error:
                self._refused(peer, f"its TLS handshake failed ({type(error).__name__})")
                return None
        channel = StreamFrames(stream, peer, self.max_frame)
        try:
            link = await self.node.attach(channel, initiator=False)
        except AuthenticationError as error:
            # Its peer may hold the node id of the hello: escaped, as is the problem.
            self._refused(error.peer, error.problem, error.hint)
            return None
        except RemoteError as error:  # an oversized hello: refused as well
            self._refused(peer, str(error))
            return None
        except Exception:
            logger.exception("failed to accept a link from %s", loggable(peer))
            return None
        return link

    def _refused(self, peer: str, problem: str, hint: str = "") -> None:
        """Log one refused connection: one line, escaped, no traceback, throttled."""
        if self._refusals.allow(self.node.system.clock.now()):
            logger.warning(
                "refused the link with %s: %s%s%s",
                loggable(peer),
                loggable(problem),
                loggable(hint),
                self._refusals.take_held(),
            )

    async def _dial(self, address: str) -> FrameChannel:
        kind, host, port = parse_address(address)
        stream: anyio.abc.ByteStream
        # A peer that never answers, or stalls its TLS handshake, times out.
        with fail_after(self.node.system.timer_queue, self.handshake_timeout):
            if kind == "unix":
                stream = await anyio.connect_unix(host)
            elif self.tls_client is not None:
                stream = await anyio.connect_tcp(
                    host, port, ssl_context=self.tls_client, tls_standard_compatible=False
                )
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
