"""The process the crash test kills: submits 1,000 jobs to a SQLite store and runs them.

Usage: python -m tests.integration.job_crash_submitter STORE_PATH EFFECTS_PATH COUNT
Prints "submitted" once every job is committed, then runs them until killed.
"""

from __future__ import annotations

import sys

import actorlib
from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from tests.jobs import tasks


async def main(store: str, effects: str, count: int) -> None:
    async with (
        ActorSystem("doomed") as system,
        JobQueue(system, store=f"sqlite:///{store}", workers=4) as queue,
    ):
        for n in range(count):
            await queue.submit(tasks.record_once, effects, f"job-{n}", 0.002, key=f"job-{n}")
        print("submitted", flush=True)
        await queue.join()
        print("finished", flush=True)


if __name__ == "__main__":
    actorlib.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
