"""Nothing accepted is lost: a process running 1,000 durable jobs is SIGKILLed, another resumes.

Each job inserts its key into a `results` table with a uniqueness check (and logs every
run in `runs`), so the effect of each job is exactly once even when a job that was
running at the kill runs again. Only those jobs may run twice; a job the store had
recorded as succeeded is never run again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COUNT = 1000
WORKERS = 4


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path, timeout=30)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_killed_process_loses_no_job_and_no_effect_happens_twice(tmp_path: Path) -> None:
    store, effects = tmp_path / "jobs.db", tmp_path / "effects.db"
    db = sqlite3.connect(effects, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE runs (key TEXT NOT NULL)")
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY)")
    db.close()

    doomed = start(
        "-m", "tests.integration.job_crash_submitter", str(store), str(effects), str(COUNT)
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == "submitted", doomed.stderr
        # Every job is committed; kill the process while jobs are running.
        deadline = time.monotonic() + 60
        while query(effects, "SELECT COUNT(*) FROM runs")[0][0] < COUNT // 4:
            assert time.monotonic() < deadline, "the jobs never started"
            time.sleep(0.01)
        doomed.send_signal(signal.SIGKILL)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.communicate(timeout=10)  # reaps it and closes its pipes
    assert doomed.returncode == -signal.SIGKILL

    by_status = "SELECT status, COUNT(*) FROM jobs GROUP BY status"
    at_kill: dict[str, int] = dict(query(store, by_status))
    assert sum(at_kill.values()) == COUNT  # every accepted job is in the store
    assert at_kill.get("succeeded", 0) < COUNT  # killed mid-run
    succeeded_before = {
        key for (key,) in query(store, "SELECT key FROM jobs WHERE status = 'succeeded'")
    }
    running_at_kill = at_kill.get("running", 0)
    assert running_at_kill <= WORKERS

    # A new process reopens the store, runs what is left, and exits when nothing is left.
    resumed = start(
        "-m",
        "actorlib.jobs",
        "worker",
        "--store",
        f"sqlite:///{store}",
        "--import",
        "tests.jobs.tasks",
        "--burst",
        "--no-progress",
    )
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err

    assert query(store, "SELECT status, COUNT(*) FROM jobs GROUP BY status") == [
        ("succeeded", COUNT)
    ]
    results = {key for (key,) in query(effects, "SELECT key FROM results")}
    assert results == {f"job-{n}" for n in range(COUNT)}
    runs = [key for (key,) in query(effects, "SELECT key FROM runs")]
    twice = {key for key in runs if runs.count(key) > 1}
    assert len(runs) - COUNT == len(twice) <= running_at_kill
    assert not twice & succeeded_before  # a job seen final is never re-run
