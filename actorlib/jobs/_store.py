"""The job store seam (DESIGN.md 2.5): what a queue needs from where jobs are kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ._model import JobChange, JobRecord, JobStatus


class JobStore(Protocol):
    """Where a queue keeps its jobs. Every method commits before it returns.

    Times are in the store's own clock (`now`): the system's Clock for the
    memory store, wall-clock seconds for a durable store (its jobs outlive
    the process, and a monotonic clock does not).

    A method that fails because the store's server cannot be reached now
    raises `JobStoreUnavailableError`: the queue keeps what it could not
    commit and tries again later, instead of stopping.
    """

    url: str
    durable: bool

    def now(self) -> float:
        """The store's current time."""
        ...

    async def open(self, owner: str) -> None:
        """Open the store for the queue *owner*; recover jobs an earlier run left running."""
        ...

    async def close(self) -> None:
        """Release the store (a durable one keeps everything for the next open)."""
        ...

    async def add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store a new job; if its key is taken, return the kept job and False instead.

        A job with `JobRecord.after` is blocked (never claimed) until each of
        those jobs has succeeded; if one has failed or was cancelled already,
        it is stored failed with `JobDependencyError`.

        Raises:
            ValueError: `after` names a job the store does not keep.
        """
        ...

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        """`add` each record, all in one commit (all or none)."""
        ...

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        """Mark up to *limit* due waiting jobs running for *owner*: priority first, then FIFO."""
        ...

    async def save(self, record: JobRecord) -> None:
        """Commit a job's new state (status, attempts, outcome, next run time)."""
        ...

    async def save_many(self, records: list[JobRecord]) -> list[JobRecord]:
        """`save` each record (committed before it returns, in one commit or more).

        In the commit that ends it, a job that ended releases the jobs added ``after``
        it (success: one prerequisite fewer; a job with none left becomes
        claimable) or fails them with `JobDependencyError` (failure or
        cancellation; transitively). `cancel_waiting` does the same.

        Returns:
            The dependent jobs this commit failed.
        """
        ...

    async def cancel_waiting(self, job_id: str) -> JobRecord | None:
        """Cancel the job if it is waiting (queued or retrying); None if it is not."""
        ...

    async def get(self, job_id: str) -> JobRecord | None:
        """The job with that id, or None."""
        ...

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        """The jobs with those ids that are kept, in no particular order."""
        ...

    async def next_due(self) -> float | None:
        """When the earliest waiting job is due, or None if none waits."""
        ...

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status."""
        ...

    async def running(self) -> int:
        """How many jobs run, in every process; cheap: asked whenever a queue runs dry."""
        ...

    async def failed(self, limit: int) -> list[JobRecord]:
        """The most recent jobs that failed for good (the dead letters)."""
        ...

    async def running_jobs(self, limit: int) -> list[JobRecord]:
        """Up to *limit* running jobs, the earliest started first (what dashboards show)."""
        ...

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        """Queue a failed job again, due now, as if new: attempts, error and times cleared.

        Jobs that its failure failed (``after=`` it) stay failed. None if the
        job is not failed (unknown, or in any other status).
        """
        ...

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        """Extend the leases of the jobs *owner* is running."""
        ...

    async def release(self, owner: str) -> int:
        """Put the jobs *owner* was running back in the queue (its attempts were lost)."""
        ...

    async def waiting(self) -> list[str]:
        """The ids of the waiting (queued or retrying) jobs, in no particular order."""
        ...

    async def reclaim_expired(self) -> int:
        """Put running jobs whose lease expired back in the queue; return how many."""
        ...

    async def purge(self, older_than: float) -> int:
        """Delete final jobs that finished more than *older_than* seconds ago."""
        ...


class WatchingStore(JobStore, Protocol):
    """A store that can tell when another process may have made a job due.

    Optional: a queue looks for ``watch`` on its store and, where it is
    missing (memory, SQLite), finds other processes' jobs by polling.
    """

    async def watch(
        self,
        wake: Callable[[], None] | None,
        changed: Callable[[list[str | JobChange]], None] | None = None,
    ) -> None:
        """Call *wake* whenever another process may have made a job due; until cancelled.

        Also whenever a commit released jobs that waited for others
        (``after=``), this process's own included: a queue whose store
        watches does not look for due jobs after each job it ends.

        A queue that runs no jobs (``workers=0``) passes None: it need not
        hear of due jobs at all.

        A store that can also call *changed* with the jobs another process
        changed (claimed, ended, reported progress of) lets queues follow
        those jobs at once; without it they see them at each poll. Each is a
        job id (the queue reads the job if it follows it) or a `JobChange`,
        which says the change itself (the queue reads nothing). The
        parameter is optional: a queue passes it only if ``watch`` takes it.

        Raises:
            Exception: the store lost its way of knowing; the queue calls
                `watch` again at its next poll.
        """
        ...


#: Every method a store must have: what `JobQueue` checks a store object against.
REQUIRED_METHODS = tuple(
    name for name, value in vars(JobStore).items() if callable(value) and not name.startswith("_")
)


async def claim_and_next_due(
    store: JobStore, owner: str, limit: int, lease: float
) -> tuple[list[JobRecord], float | None]:
    """`JobStore.claim`; when it took fewer than *limit* jobs, also `JobStore.next_due`
    (else None). A store that answers both in one round trip has a method of this name.
    """
    both = getattr(store, "claim_and_next_due", None)
    if both is not None:
        answer: tuple[list[JobRecord], float | None] = await both(owner, limit, lease)
        return answer
    records = await store.claim(owner, limit, lease)
    return records, (await store.next_due() if len(records) < limit else None)


async def next_due_and_running(store: JobStore) -> tuple[float | None, int]:
    """`JobStore.next_due` and `JobStore.running`, which tell whether the queue is
    idle. A store that answers both in one round trip has a method of this name."""
    both = getattr(store, "next_due_and_running", None)
    if both is not None:
        answer: tuple[float | None, int] = await both()
        return answer
    return await store.next_due(), await store.running()


def queue_store(store: str | JobStore, clock_now: Callable[[], float], workers: int) -> JobStore:
    """The store of ``JobQueue(store=..., workers=...)``: made from its URL, or the object checked.

    Raises:
        TypeError: an object that lacks a method of `JobStore` (the message names them).
        ValueError: a bad URL (see `open_store`); ``workers=0`` with the memory store.
    """
    if isinstance(store, str):
        store = open_store(store, clock_now)
    elif missing := [m for m in REQUIRED_METHODS if not callable(getattr(store, m, None))]:
        raise TypeError(
            f"store must be 'memory', 'sqlite:///path.db' or 'postgresql://user@host/db' "
            f"(or a JobStore), got {store!r} "
            f"(it lacks {', '.join(missing)})"
        )
    if workers == 0 and not getattr(store, "durable", True):
        raise ValueError(
            "workers=0 with the memory store: nothing could ever run its jobs (only this "
            "process sees a memory store, and it runs none); pass workers >= 1, or a durable "
            "store ('sqlite:///path.db', 'postgresql://...') that worker processes share"
        )
    return store


def open_store(url: str, clock_now: Callable[[], float]) -> JobStore:
    """Make the store a URL names: ``memory``, ``sqlite:///path/to/jobs.db`` or
    ``postgresql://user@host:5432/db`` (``postgres://`` too; ``?schema=name``).

    Raises:
        ValueError: an unknown scheme, a sqlite URL without a path, or a bad
            PostgreSQL schema name.
    """
    from ._memory import MemoryStore
    from ._postgres import PostgresStore
    from ._sqlite import SqliteStore

    if url in ("memory", "memory://"):
        return MemoryStore(clock_now)
    if url.startswith("sqlite://"):
        # SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////absolute.db
        rest = url.removeprefix("sqlite://")
        path = rest[1:] if rest.startswith("/") else ""
        if not path:
            raise ValueError(
                f"a sqlite store URL needs a file path, e.g. 'sqlite:///jobs.db' (relative) or "
                f"'sqlite:////var/lib/app/jobs.db' (absolute), got {url!r}"
            )
        return SqliteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise ValueError(
        f"store must be 'memory', 'sqlite:///path.db' or 'postgresql://user@host/db', "
        f"got {url!r}; "
        f"other stores plug in as objects implementing actorlib.jobs.JobStore"
    )
