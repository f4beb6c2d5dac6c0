"""One SQLite file: its connection, open-lock, migrations and calls; of jobs, only the schema.

It runs the store's functions on one connection, on the event loop when they
need not wait for another process's lock, else in a worker thread; it knows
the schema it creates and migrates, never what the store does with the rows.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._sqlite_rows import DEPENDENCIES, SCHEMA

# POSIX: an advisory lock tells whether another process has the store open.
# Elsewhere (Windows) jobs left running wait for their lease to expire.
fcntl: Any
try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

T = TypeVar("T")

#: How long a call waits for another process's write lock (in a thread, never on the loop).
_BUSY_WAIT_MS = 30000
#: Checkpoint the WAL into the database file (in a thread) after this many calls on the loop.
_CHECKPOINT_EVERY = 500


class Database:
    """One SQLite file (WAL mode) and the one connection the store uses on it.

    Args:
        path: the file; ``path + ".lock"`` beside it is the open-lock.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._db: sqlite3.Connection | None = None
        self._lock_file: int | None = None
        # One connection, used by one call at a time: on the event loop when it
        # cannot wait (see `call`), else in a worker thread.
        self._limiter = anyio.CapacityLimiter(1)
        # Invariant: True only while the connection is open with busy_timeout 0 and
        # without automatic checkpoints, so a call on the loop never waits.
        self._inline = False
        self._calls_since_checkpoint = 0

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the connection: on the event loop if it need not wait.

        A thread hop costs more than most calls (a primary-key read or write
        into the WAL, tens of microseconds). So a call first runs here with
        busy_timeout 0: if another process holds the write lock, SQLite says
        so at once, nothing was done, and the call goes to a worker thread,
        which waits for the lock. Checkpoints, which fsync, run in the thread
        too, every `_CHECKPOINT_EVERY` calls. Like a thread call, a call is
        never interrupted once it started: cancellation is checked before.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        async with self._limiter:
            if self._inline and self._calls_since_checkpoint < _CHECKPOINT_EVERY:
                self._calls_since_checkpoint += 1
                try:
                    result = fn(*args)
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                        raise
                else:
                    await anyio.lowlevel.cancel_shielded_checkpoint()
                    return result
            return await anyio.to_thread.run_sync(functools.partial(self._patiently, fn, *args))

    def _patiently(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a worker thread, waiting for other processes' locks."""
        if not self._inline:
            return fn(*args)
        db = self.db
        db.execute(f"PRAGMA busy_timeout = {_BUSY_WAIT_MS}")
        try:
            if self._calls_since_checkpoint >= _CHECKPOINT_EVERY:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._calls_since_checkpoint = 0
            return fn(*args)
        finally:
            db.execute("PRAGMA busy_timeout = 0")

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection.

        Raises:
            RuntimeError: the file is not open.
        """
        if self._db is None:
            raise RuntimeError(f"the job store {self.url} is not open")
        return self._db

    # ------------------------------------------------------------ open/close

    def go_inline(self) -> None:
        """From now on, run calls on the event loop when they need not wait (see `call`)."""
        self.db.execute("PRAGMA busy_timeout = 0")
        self.db.execute("PRAGMA wal_autocheckpoint = 0")  # see `call`
        self._inline = True

    def _check_directory(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(
                f"cannot open job store {self.url}: directory {directory} does not exist"
            )

    def open_read_only(self) -> None:
        """Open an existing file at the current schema version, to read it only.

        Raises:
            FileNotFoundError: there is no such file, or no such directory.
            RuntimeError: the file has an older schema, which only a read-write
                open can migrate.
        """
        self._check_directory()
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no job store at {self.path}")
        uri = f"file:{os.path.abspath(self.path)}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version < _VERSION:
            db.close()
            raise RuntimeError(
                f"the job store {self.url} has schema version {version}, older than this "
                f"actorlib's {_VERSION}, and a read-only open cannot migrate it; open it "
                f"once read-write (start a JobQueue or a worker on it) and try again"
            )
        self._db = db

    def open_read_write(self) -> bool:
        """Open or create the file, create or migrate the schema, take the open-lock.

        Returns:
            Whether this process was alone with the file (see `_lock_alone`).

        Raises:
            FileNotFoundError: there is no such directory.
        """
        self._check_directory()
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {_BUSY_WAIT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (it is in
        # the OS), though not a power cut; FULL would fsync every job.
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(SCHEMA)
        _migrate(db)
        self._db = db
        return self._lock_alone()

    def _lock_alone(self) -> bool:
        """Take the shared open-lock; report whether this process was alone."""
        if fcntl is None:
            return False
        self._lock_file = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(self._lock_file, fcntl.LOCK_SH)
            return False
        fcntl.flock(self._lock_file, fcntl.LOCK_SH)  # downgrade: others may join
        return True

    async def close(self) -> None:
        """Close the connection and release the open-lock."""
        self._inline = False  # closing checkpoints (fsyncs): in a thread
        await self.call(self._close)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_file is not None:
            os.close(self._lock_file)  # releases the flock
            self._lock_file = None

    def transaction(self) -> Any:
        """A context manager around one write transaction (see `_Transaction`)."""
        return _Transaction(self.db)


#: The schema's version (``PRAGMA user_version``): 1, the jobs table; 2, dependencies;
#: 3, the trace column (a job's submit's trace context).
_VERSION = 3


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version to `_VERSION`, in one transaction.

    SCHEMA creates a new file at the last version, but ``CREATE TABLE IF NOT
    EXISTS`` leaves an old table as it was: the steps add what it lacks.
    """
    with _Transaction(db):
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version >= _VERSION:
            return
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        if "blockers" not in columns:
            db.execute("ALTER TABLE jobs ADD COLUMN blockers INTEGER NOT NULL DEFAULT 0")
        if version < 2:
            db.execute(DEPENDENCIES.strip().rstrip(";"))
        if "trace" not in columns:
            db.execute("ALTER TABLE jobs ADD COLUMN trace TEXT")
        db.execute(f"PRAGMA user_version = {_VERSION}")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): takes the write lock up front,
    so two processes claiming jobs never interleave."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
