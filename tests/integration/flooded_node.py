"""A node in a process of its own, for the flood tests: /user/echo, with a low descriptor limit.

    python -m tests.integration.flooded_node BACKEND NOFILE MAX_HANDSHAKES HANDSHAKE_TIMEOUT

The secret comes from ACTORLIB_SECRET. It prints its address on stdout once
it listens, logs ``actorlib.remote`` on stderr, and runs until terminated.
"""

from __future__ import annotations

import logging
import resource
import sys

import anyio

import actorlib
from actorlib import Actor, ActorSystem
from actorlib.remote import SocketTransport
from actorlib.remote._auth import secret_from_env


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return message


async def serve(max_handshakes: int, handshake_timeout: float) -> None:
    transport = SocketTransport(
        "tcp://127.0.0.1:0",
        secret=secret_from_env("ACTORLIB_SECRET"),
        max_handshakes=max_handshakes,
        handshake_timeout=handshake_timeout,
    )
    async with ActorSystem("flooded", transport=transport) as system:
        await system.spawn(Echo, name="echo")
        print(transport.address, flush=True)
        await anyio.sleep_forever()


def main() -> None:
    """Lower RLIMIT_NOFILE, then serve until terminated."""
    backend, nofile, max_handshakes, timeout = sys.argv[1:5]
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
    logging.getLogger("actorlib.remote").setLevel(logging.INFO)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(nofile), hard))
    actorlib.run(serve, int(max_handshakes), float(timeout), backend=backend)


if __name__ == "__main__":
    main()
