"""A PostgreSQL server of a test's own, to stop and start again: made with ``initdb``
in a fresh directory, on a free loopback port, always stopped and removed.

The shared server (`tests.postgres_server`) cannot be restarted under the other
tests; a fault test restarts this one. It needs PostgreSQL's server programs
(``initdb``, ``pg_ctl``: Debian's ``postgresql`` package puts them in
``/usr/lib/postgresql/<version>/bin``). Run as root, they run as the
``postgres`` user (the server refuses root). Without them the tests that use
the fixture are skipped, with the reason; under ``CI=true`` they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nats_server import free_port
from tests.postgres_server import unavailable


def _server_programs() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, newest version first; None if absent."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent  # beside the real pg_ctl: pg_basebackup too
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


class PostgresInstance:
    """One server in a directory of its own: `start`, `stop` (as a crash would, by
    default) and `start` again, on the same port and data."""

    def __init__(self, programs: Path, directory: Path, port: int, settings: str = "") -> None:
        self.programs, self.directory, self.port = programs, directory, port
        self.data = directory / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.settings = settings  # more ``-c name=value`` for the server
        self.running = False

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # Into a file, not a pipe: the server that pg_ctl starts inherits the
        # descriptors, and a pipe would not end until the server does.
        output = self.directory / "commands.log"
        with output.open("a") as log:
            done = subprocess.run(
                [*as_postgres, *command], stdout=log, stderr=subprocess.STDOUT, timeout=60
            )
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed:\n{output.read_text()[-2000:]}")

    def create(self) -> None:
        """Make the cluster (trust authentication, as the shared server's)."""
        self._run(
            str(self.programs / "initdb"),
            *("-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"),
        )

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"{self.settings}"
        )
        log = str(self.directory / "server.log")
        self._run(
            str(self.programs / "pg_ctl"),
            *("-D", str(self.data), "-o", options, "-l", log, "-w", "start"),
        )
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` ends every session at once, as a crash of
        the server would (it recovers from its log at the next start)."""
        self._run(str(self.programs / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def make_standby(self, standby: PostgresInstance) -> None:
        """Make *standby* (created empty, not started) a streaming replica of this
        server, and start it."""
        self._run(
            str(self.programs / "pg_basebackup"),
            *("-D", str(standby.data), "-R", "-X", "stream", "--no-sync"),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
        )
        standby.start()

    def promote(self) -> None:
        """Make this standby a primary; return once it takes writes."""
        self._run(str(self.programs / "pg_ctl"), "-D", str(self.data), "-w", "promote")


def _programs() -> Path:
    programs = _server_programs()
    if programs is None or not (programs / "initdb").exists():
        unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
        raise AssertionError("unreachable: unavailable raises")
    return programs


@contextlib.contextmanager
def _instance(programs: Path, settings: str = "") -> Iterator[PostgresInstance]:
    """A server in a fresh directory, not yet made; stopped and deleted at the end."""
    directory = Path(tempfile.mkdtemp(prefix="actorlib-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    instance = PostgresInstance(programs, directory, free_port(), settings)
    try:
        yield instance
    finally:
        if instance.running:
            instance.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_instance() -> Iterator[PostgresInstance]:
    """A started server of this test's own (stopped and deleted afterwards)."""
    with _instance(_programs()) as instance:
        instance.create()
        instance.start()
        yield instance


@pytest.fixture
def postgres_pair() -> Iterator[tuple[PostgresInstance, PostgresInstance]]:
    """A primary and its streaming standby, of this test's own. Replication is
    synchronous: a commit returns once the standby has it, so a failover loses
    no commit that returned (as a setup that promises that is configured)."""
    programs = _programs()
    with (
        _instance(programs, "-c synchronous_standby_names=*") as primary,
        _instance(programs) as standby,
    ):
        primary.create()
        primary.start()
        primary.make_standby(standby)
        yield primary, standby
