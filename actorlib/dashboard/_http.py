"""A small HTTP/1.1 server on anyio and h11: one request per connection, bounded; knows no routes.

h11 parses and frames the bytes; anyio listens and runs each connection in
the caller's task group, so the same code serves on asyncio and trio. Every
limit a peer could push on is bounded here: header size (h11), body size,
time to send a request or to read the answer, connections at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import attrs
import h11

logger = logging.getLogger("actorlib.dashboard")

MAX_HEADER = 16 * 1024
MAX_BODY = 16 * 1024
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64


@attrs.frozen
class Request:
    """One parsed request: method, target split in path and query, lower-case headers, body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class Response:
    """What a handler answers; the server adds Content-Length and Connection: close."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    """A request the server answers itself (too large, malformed, too slow)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def serve(listener: anyio.abc.Listener[anyio.abc.SocketStream], handler: Handler) -> None:
    """Answer connections on *listener* with *handler* until cancelled."""
    limit = anyio.CapacityLimiter(MAX_CONNECTIONS)

    async def connection(stream: anyio.abc.SocketStream) -> None:
        async with limit, stream:
            await _answer(stream, handler)

    await listener.serve(connection)


async def _answer(stream: anyio.abc.SocketStream, handler: Handler) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER)
    try:
        with anyio.fail_after(REQUEST_TIMEOUT):
            request = await _read(stream, conn)
    except _Refused as refused:
        response = Response(refused.status, refused.reason.encode())
    except TimeoutError:
        response = Response(408, b"request timeout")
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        return
    else:
        try:
            response = await handler(request)
        except Exception:
            logger.exception("dashboard: %s %s failed", request.method, request.path)
            response = Response(500, b"internal error (logged by the dashboard)")
    # A client that stops reading must not hold its connection slot for ever.
    with anyio.move_on_after(REQUEST_TIMEOUT):
        await _write(stream, conn, response)


async def _read(stream: anyio.abc.SocketStream, conn: h11.Connection) -> Request:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as error:
            raise _Refused(error.error_status_hint, "malformed request") from error
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(65536)
            except anyio.EndOfStream:
                data = b""
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
            length = dict(event.headers).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                raise _Refused(413, f"request body over {MAX_BODY} bytes")
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise _Refused(413, f"request body over {MAX_BODY} bytes")
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return _request(head, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            raise anyio.EndOfStream


def _request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("latin-1")
    path, _, query = target.partition("?")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    return Request(head.method.decode("ascii", "replace"), path, query, headers, body)


# Sent with every answer: no framing by other sites, no sniffing, no caching,
# no referrer (a URL may carry the token), and scripts from this server only,
# so that even markup that escaped escaping could not run.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
)


async def _write(stream: anyio.abc.SocketStream, conn: h11.Connection, response: Response) -> None:
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(response.body))),
        ("Connection", "close"),
        *SECURITY_HEADERS,
        *response.headers,
    ]
    try:
        if conn.our_state is h11.SEND_RESPONSE:
            data = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
            data += conn.send(h11.Data(data=response.body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
        else:
            # No request line was read (malformed, too large, too slow): h11
            # will not frame an answer, so frame this plain one by hand.
            lines = [f"HTTP/1.1 {response.status} Refused", *(f"{k}: {v}" for k, v in headers)]
            data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
        await stream.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, h11.LocalProtocolError):
        return
