"""Connecting to a NATS server: security options checked, a failed first try a clear error.

Knows nothing of nodes or links: the NATS transport calls it once at start.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from actorlib._clock import TimerQueue, move_on_after

if TYPE_CHECKING:
    from nats.aio.client import Client

# What NatsTransport passes to nats.connect, and the types it accepts.
_CONNECT_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "user": str,
    "password": str,
    "token": str,
    "nkeys_seed": str,
    "user_credentials": str,
    "tls": ssl.SSLContext,
    "tls_hostname": str,
}


async def connect_client(
    client: Client,
    url: str,
    node_id: str,
    given: dict[str, Any],
    *,
    on_error: Callable[[Exception], Awaitable[None]],
    on_news: Callable[[str], Awaitable[None]],
) -> Client:
    """*client*, connected to *url*; once connected, it reconnects by itself, forever.

    *on_error* and *on_news* hear what nats-py reports once connected.

    nats-py would retry a first connection forever too (a wrong password,
    an untrusted certificate, no server): here the first try (and one
    more, for a server that is just starting) fails or not.

    Raises:
        OSError: the first try failed; the message names the url and the cause.
    """
    connected = False
    first_errors: list[Exception] = []

    async def error_cb(error: Exception) -> None:
        if connected:
            await on_error(error)
        else:  # the first try's error is raised instead
            first_errors.append(error)

    async def on_disconnect() -> None:
        if connected:
            await on_news("disconnected from")

    options: dict[str, Any] = {
        "name": node_id,
        "reconnect_time_wait": 0.1,
        "connect_timeout": 5,
        "disconnected_cb": on_disconnect,
        "reconnected_cb": functools.partial(on_news, "reconnected to"),
        "error_cb": error_cb,
        **given,
        # For the first try only: raise instead of retrying.
        "allow_reconnect": False,
        "max_reconnect_attempts": 1,
    }
    try:
        await client.connect(url, **options)
    except Exception as raised:
        # nats-py's close() may hang after a failed TLS upgrade: bounded, on the
        # event loop's clock like nats-py's own timeouts (connect_timeout): it
        # guards a real connection to a real server, not the node's protocol.
        with anyio.move_on_after(1, shield=True):
            await client.close()
        error = first_errors[-1] if first_errors else raised  # the cause, not "no servers"
        raise OSError(
            f"cannot connect to NATS at {url}: {error!r}; check the url, the "
            f"server's credentials (user/password, token, nkeys_seed, user_credentials) "
            f"and tls"
        ) from error
    connected = True
    # nats-py reads these options whenever the connection drops.
    client.options["allow_reconnect"] = given.get("allow_reconnect", True)
    client.options["max_reconnect_attempts"] = given.get("max_reconnect_attempts", -1)
    return client


def on_asyncio() -> bool:
    """Whether this task runs on asyncio (nats-py runs on nothing else)."""
    # The standard library's own test: anyio no longer depends on sniffio.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def connect_options(options: dict[str, Any] | None, **given: object) -> dict[str, Any]:
    """The NATS security options, checked, merged with *options* for ``nats.connect``.

    Raises:
        TypeError: an option of the wrong type, or *options* not a dict.
    """
    if options is not None and not isinstance(options, dict):
        raise TypeError(
            f"options must be a dict of nats.connect() keyword arguments, got {options!r}"
        )
    merged = dict(options or {})
    for name, value in given.items():
        if value is None:
            continue
        expected = _CONNECT_OPTIONS[name]
        if not isinstance(value, expected):
            wanted = getattr(expected, "__name__", str(expected))
            raise TypeError(f"{name} must be a {wanted}, got {type(value).__name__}")
        merged[name] = value
    return merged


async def wait_subscribed(
    client: Client, *, timeout: float = 10.0, timers: TimerQueue | None = None
) -> None:
    """Return once the server has every subscription *client* has made so far.

    nats-py's ``flush()`` writes its PING straight to the socket, ahead of
    commands still waiting in its buffer (a SUB among them): its PONG does not
    prove that the server has them, and on a busy machine a group joined
    "after a flush" missed messages published by other clients. A message to
    a fresh subject of our own goes through the same buffer as the SUBs, in
    order, so once it comes back the server has them all. *timeout* runs on
    the clock of *timers*, the system's timer queue (None, for a bare
    client: the event loop's clock).

    Raises:
        OSError: no answer within *timeout* (the connection is down).
    """
    subject = client.new_inbox()
    back = anyio.Event()

    async def arrived(msg: object) -> None:
        back.set()

    subscription = await client.subscribe(subject, cb=arrived)
    try:
        await client.publish(subject, b"")
        with move_on_after(timers, timeout):
            await back.wait()
    finally:
        await subscription.unsubscribe()
    if not back.is_set():
        raise OSError(f"the NATS server did not confirm subscriptions within {timeout:g} s")
