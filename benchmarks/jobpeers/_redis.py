"""The Redis the job peers share: where it is, whether it answers, and emptying their database."""

from __future__ import annotations

import socket

from benchmarks._scenario import PeerUnavailableError

HOST = "127.0.0.1"
PORT = 6379
#: The peers' own database: flushed before every run, so never one that holds anything else.
DB = 15
URL = f"redis://{HOST}:{PORT}/{DB}"
#: Bound on every wait for a result, so a lost job fails the run instead of hanging it.
WAIT_SECONDS = 120.0


def require() -> None:
    """Check that Redis answers PING; a peer module calls it on import.

    Raises:
        PeerUnavailableError: Redis is down or is not Redis (the peer shows as n/a).
    """
    try:
        with socket.create_connection((HOST, PORT), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError as exc:
        raise PeerUnavailableError(f"no Redis at {HOST}:{PORT}: {exc}") from exc
    if not reply.startswith(b"+PONG"):
        raise PeerUnavailableError(f"no Redis at {HOST}:{PORT}: it answered PING with {reply!r}")
