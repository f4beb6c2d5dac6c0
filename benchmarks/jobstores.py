"""Job stores side by side: submit->start latency and no-op jobs/s on memory, SQLite, PostgreSQL.

Run: ``python -m benchmarks.jobstores [--postgres URL] [--backend trio]``. Not part
of the scenario runner: it needs a PostgreSQL server (loopback by default).

- **latency**: one job at a time; the time from just before ``submit`` to the
  job's first line, and the same for a job added by another store object on
  the same database (as another process would: the queue learns of it by
  NOTIFY; PostgreSQL only, as SQLite's queue would find it at its next poll);
- **throughput**: submit 3,000 no-op jobs one by one, then await every result,
  with 8 workers.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import anyio

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobRecord, JobStore, PostgresStore, Retry

JOBS = 3000
WORKERS = 8
SAMPLES = 300
STARTS: dict[str, float] = {}
STARTED: dict[str, anyio.Event] = {}


async def noop() -> None:
    """The throughput job: nothing, so what is measured is the queue."""


async def mark(tag: str) -> None:
    """The latency job: note when it started."""
    STARTS[tag] = time.perf_counter()
    if tag in STARTED:
        STARTED[tag].set()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


async def latency(url: str, other: JobStore | None) -> tuple[list[float], list[float]]:
    """Submit->start samples through the queue, and through another store object."""
    # The job and its marks as imported by path: run as __main__, `mark` would be
    # pickled by value, and the copy decoded from the store would mark a copy.
    from benchmarks.jobstores import STARTED, STARTS, mark

    own: list[float] = []
    foreign: list[float] = []
    async with ActorSystem("bench") as system, JobQueue(system, store=url, workers=1) as queue:
        await (await queue.submit(mark, "warm")).result()
        for n in range(SAMPLES):
            tag = f"own-{n}"
            begun = time.perf_counter()
            handle = await queue.submit(mark, tag)
            await handle.result()
            own.append(STARTS[tag] - begun)
        if other is not None:
            await other.open("bench-other")
            try:
                for n in range(SAMPLES):
                    tag = f"foreign-{n}"
                    STARTED[tag] = anyio.Event()
                    begun = time.perf_counter()
                    await other.add(_record(other, tag))
                    await STARTED[tag].wait()
                    foreign.append(STARTS[tag] - begun)
            finally:
                await other.close()
    return own, foreign


def _record(store: JobStore, tag: str) -> JobRecord:
    now = store.now()
    return JobRecord(
        id=uuid.uuid4().hex,
        name="benchmarks.jobstores.mark",
        function=importlib.import_module("benchmarks.jobstores").mark,
        args=(tag,),
        kwargs={},
        executor="async",
        priority=0,
        timeout=None,
        retry=Retry(),
        key=None,
        created_at=now,
        run_at=now,
    )


async def throughput(url: str) -> float:
    async with (
        ActorSystem("bench") as system,
        JobQueue(system, store=url, workers=WORKERS) as queue,
    ):
        await (await queue.submit(noop)).result()
        begun = time.perf_counter()
        handles = [await queue.submit(noop) for _ in range(JOBS)]
        for handle in handles:
            await handle.result()
        return JOBS / (time.perf_counter() - begun)


async def main(postgres: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg_url = f"{postgres}?schema={schema}"
        sqlite_path = Path(tmp) / "jobs.db"
        stores: list[tuple[str, str, JobStore | None]] = [
            ("memory", "memory", None),
            # SQLite has no NOTIFY: another process's job waits for the poll (1 s).
            ("sqlite", f"sqlite:///{sqlite_path}", None),
            ("postgres", pg_url, PostgresStore(pg_url)),
        ]
        for name, url, other in stores:
            own, foreign = await latency(url, other)
            line = f"{name:9} submit->start {percentiles(own)}"
            if foreign:
                line += f"; added by another store: {percentiles(foreign)}"
            print(line, flush=True)
        for name, url, _ in stores:
            fresh = url.replace(schema, schema + "_t") if name == "postgres" else url
            if name == "sqlite":
                fresh = f"sqlite:///{Path(tmp) / 'throughput.db'}"
            rate = await throughput(fresh)
            print(f"{name:9} {JOBS} no-op jobs, {WORKERS} workers: {rate:,.0f} jobs/s", flush=True)
    print("(the postgres schemas bench_* are left in the database; drop them at will)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    arguments = parser.parse_args()
    anyio.run(main, arguments.postgres, backend=arguments.backend)
