"""Asynchronous jobs: CPU-bound "image" jobs in processes, I/O jobs on the loop, progress, a retry.

A durable SQLite queue takes a batch of jobs and returns at once; a supervised
pool of worker actors runs them. One flaky upload fails once and is retried
with backoff; the caller follows progress and gathers every result.

Run it with ``python examples/job_queue.py`` (add ``--backend trio`` for trio).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import anyio

import actorlib
from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobEvent, JobQueue, JobRetrying, Retry, report_progress


def thumbnail(seed: int, size: int) -> tuple[int, int]:
    """CPU-bound: "render" a size x size image and return its checksum (runs in a process)."""
    pixels = [(seed * 31 + i * 17) % 256 for i in range(size * size)]
    return seed, sum(p * p for p in pixels) % 1_000_003


_attempts: dict[str, int] = {}


async def upload(name: str, chunks: int) -> str:
    """I/O-bound: send *chunks* pieces, reporting progress; "photo-3" fails on its first try."""
    _attempts[name] = _attempts.get(name, 0) + 1
    for chunk in range(1, chunks + 1):
        await anyio.sleep(0.01)  # the network
        report_progress(chunk, chunks, note=name)
        if name == "photo-3" and _attempts[name] == 1 and chunk == 2:
            raise ConnectionError(f"upload of {name} interrupted at chunk {chunk}")
    return f"{name}: {chunks} chunks sent"


class Reporter(actorlib.Actor):
    """Prints the retries it sees on the event stream."""

    async def receive(self, message: object) -> None:
        if isinstance(message, JobRetrying):
            print(f"  event: attempt {message.attempt} failed ({message.error}); retrying")


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'jobs.db'}"
        async with ActorSystem("jobs-demo") as system:
            reporter = await system.spawn(Reporter)
            system.events.subscribe(reporter, JobEvent)
            async with JobQueue(system, store=store, workers=4) as queue:
                renders = [
                    await queue.submit(thumbnail, seed, 200, executor="process")
                    for seed in range(4)
                ]
                retry = Retry(attempts=3, backoff=Backoff(min=0.05, max=1.0))
                uploads = [
                    await queue.submit(upload, f"photo-{n}", 4, retry=retry) for n in range(1, 5)
                ]
                print(f"submitted {len(renders)} renders and {len(uploads)} uploads")

                last = [0.0]
                async for update in uploads[0].progress():
                    last.append(update.done)
                print(f"photo-1 progress: {last[1:]}")

                checksums = [await job.result() for job in renders]
                print("renders:", ", ".join(f"#{seed}={value}" for seed, value in checksums))
                for job in uploads:
                    print(f"  {await job.result()} (attempts: {job.info().attempts})")
                stats = await queue.counts()
                print(f"succeeded {stats.succeeded}, failed {stats.failed}")
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    actorlib.run(main, backend=parser.parse_args().backend)
