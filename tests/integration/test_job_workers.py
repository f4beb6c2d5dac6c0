"""Worker processes (``python -m actorlib.jobs worker``) on one store, fed by a producer.

The producer is this test's own `JobQueue` with ``workers=0``; the workers are real
processes. Every job logs each start and each end in a SQLite file of effects, so
the tests count executions: a job may run twice only if the killed worker ran it
(at least once), and never to its end twice on live workers.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobStatus
from tests.integration import cluster_tasks
from tests.postgres_instance import PostgresInstance
from tests.postgres_server import end_sessions

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.integration.cluster_tasks"


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path, timeout=30)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def worker(store: str, *options: str) -> subprocess.Popen[str]:
    """A worker process; its stderr goes to a pipe (read at the end)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actorlib.jobs",
            "worker",
            "--store",
            store,
            "--import",
            TASKS,
            "--no-progress",
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes the test starts; killed at the end if still running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_until(what: str, condition: Any, timeout: float = 60) -> None:
    """Look at another process's effects until *condition()* holds (no event crosses
    processes: this polls, as test_job_crash does)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def in_progress(effects: Path, pid: int) -> int:
    """Jobs *pid* has started and not finished."""
    ((started,),) = query(effects, f"SELECT COUNT(*) FROM runs WHERE pid = {pid}")
    ((ended,),) = query(effects, f"SELECT COUNT(*) FROM finished WHERE pid = {pid}")
    return int(started) - int(ended)


def kill_one_worker_mid_run(store: str, tmp_path: Path, processes: list[Any], jobs: int) -> None:
    """Two workers, one producer; SIGKILL a worker while it runs jobs; check every count."""
    effects = tmp_path / "effects.db"
    cluster_tasks.make_effects(str(effects))
    doomed = worker(store, "--workers", "3", "--backend", "asyncio")
    survivor = worker(store, "--workers", "3", "--backend", "trio")
    processes += [doomed, survivor]
    killed_at = 0.0

    async def produce() -> list[str]:
        nonlocal killed_at
        async with (
            ActorSystem("producer") as system,
            JobQueue(system, store=store, workers=0, poll_interval=0.5) as producer,
        ):
            handles = await producer.submit_many(
                cluster_tasks.step, [(str(effects), f"job-{n}", 0.4) for n in range(jobs)]
            )

            def doomed_is_busy() -> bool:
                return in_progress(effects, doomed.pid) >= 2

            await anyio.to_thread.run_sync(
                wait_until, "the doomed worker runs jobs", doomed_is_busy
            )
            doomed.send_signal(signal.SIGKILL)
            killed_at = time.time()
            with anyio.fail_after(120):
                results = [await handle.result() for handle in handles]
            assert all(h.info().status is JobStatus.SUCCEEDED for h in handles)
            return results

    results = anyio.run(produce)
    assert doomed.wait(timeout=10) == -signal.SIGKILL
    assert results == [f"job-{n}" for n in range(jobs)]  # every job succeeded, for the producer

    runs = query(effects, "SELECT key, pid, at FROM runs")
    finished = query(effects, "SELECT key, pid FROM finished")
    assert {key for key, _ in finished} == {f"job-{n}" for n in range(jobs)}
    # No job ran to its end twice on live workers; a second end only after the killed one's.
    live_ends = [key for key, pid in finished if pid != doomed.pid]
    assert len(live_ends) == len(set(live_ends))
    # The jobs the killed worker had in hand ran again, soon after the kill.
    ended_there = {key for key, pid in finished if pid == doomed.pid}
    lost = {key for key, pid, _ in runs if pid == doomed.pid} - ended_there
    assert len(lost) >= 2
    restarts = {
        key: min(at for k, pid, at in runs if k == key and pid != doomed.pid) - killed_at
        for key in lost
    }
    print(f"killed worker's {len(lost)} jobs restarted after {max(restarts.values()):.3f} s")
    assert max(restarts.values()) < 5.0, restarts
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=60) == 0


@pytest.mark.slow
def test_postgres_workers_lose_no_job_when_one_is_killed_and_its_jobs_restart_at_once(
    postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    kill_one_worker_mid_run(postgres_url, tmp_path, processes, jobs=40)


@pytest.mark.slow
def test_sqlite_workers_lose_no_job_when_one_is_killed_and_its_jobs_restart_on_lease(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    kill_one_worker_mid_run(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path, processes, jobs=40)


def submit(store: str, effects: Path, count: int, seconds: float) -> list[str]:
    """Queue *count* `step` jobs from a producer that runs none; return their ids."""

    async def produce() -> list[str]:
        async with (
            ActorSystem("producer") as system,
            JobQueue(system, store=store, workers=0) as producer,
        ):
            handles = await producer.submit_many(
                cluster_tasks.step, [(str(effects), f"job-{n}", seconds) for n in range(count)]
            )
            return [handle.id for handle in handles]

    return anyio.run(produce)


def test_sigterm_lets_running_jobs_finish_and_takes_no_new_one(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    store, effects = f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path / "effects.db"
    cluster_tasks.make_effects(str(effects))
    submit(store, effects, 6, 1.0)
    draining = worker(store, "--workers", "2")
    processes.append(draining)
    wait_until("two jobs run", lambda: in_progress(effects, draining.pid) == 2)
    draining.send_signal(signal.SIGTERM)
    _, stderr = draining.communicate(timeout=60)
    assert draining.returncode == 0, stderr
    assert "draining: 2 running jobs get 30 s to finish; no new jobs are taken" in stderr
    assert stderr.rstrip().endswith("drained")
    assert query(effects, "SELECT COUNT(*) FROM runs")[0][0] == 2
    assert query(effects, "SELECT COUNT(*) FROM finished")[0][0] == 2
    by_status = dict(query(tmp_path / "jobs.db", "SELECT status, COUNT(*) FROM jobs GROUP BY 1"))
    assert by_status == {"succeeded": 2, "queued": 4}


def test_sigterm_puts_jobs_still_running_after_the_grace_back_in_the_queue(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    store, effects = f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path / "effects.db"
    cluster_tasks.make_effects(str(effects))
    submit(store, effects, 2, 60.0)
    draining = worker(store, "--workers", "2", "--grace", "0.2")
    processes.append(draining)
    wait_until("two jobs run", lambda: in_progress(effects, draining.pid) == 2)
    draining.send_signal(signal.SIGTERM)
    _, stderr = draining.communicate(timeout=30)  # not the jobs' 60 s
    assert draining.returncode == 0, stderr
    assert "draining: 2 running jobs get 0.2 s to finish" in stderr
    rows = query(tmp_path / "jobs.db", "SELECT status, attempts, owner FROM jobs")
    assert rows == [("queued", 0, None)] * 2  # back, and the lost attempt does not count


@pytest.mark.slow
def test_postgres_workers_and_a_producer_ride_out_a_crash_of_the_server_and_lose_no_job(
    postgres_instance: PostgresInstance, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    store = f"{postgres_instance.url}?schema=crash"
    effects = tmp_path / "effects.db"
    cluster_tasks.make_effects(str(effects))
    options = ("--workers", "3", "--poll-interval", "0.2")
    workers = [worker(store, *options, "--backend", backend) for backend in ("asyncio", "trio")]
    processes += workers
    jobs = 60

    def finished() -> int:
        ((count,),) = query(effects, "SELECT COUNT(*) FROM finished")
        return int(count)

    async def produce() -> list[str]:
        async with (
            ActorSystem("producer") as system,
            JobQueue(system, store=store, workers=0, poll_interval=0.2) as producer,
        ):
            handles = await producer.submit_many(
                cluster_tasks.step, [(str(effects), f"job-{n}", 0.2) for n in range(jobs)]
            )
            await anyio.to_thread.run_sync(wait_until, "ten jobs ended", lambda: finished() >= 10)
            await anyio.to_thread.run_sync(postgres_instance.stop)  # immediate: as a crash
            at_crash = finished()
            # Jobs running at the crash end while the server is down: their outcomes wait.
            await anyio.to_thread.run_sync(
                wait_until, "a job ended during the outage", lambda: finished() > at_crash
            )
            await anyio.to_thread.run_sync(postgres_instance.start)
            with anyio.fail_after(120):
                return [await handle.result() for handle in handles]

    results = anyio.run(produce)
    assert results == [f"job-{n}" for n in range(jobs)]
    assert {key for (key,) in query(effects, "SELECT key FROM finished")} == set(results)
    logs = []
    for process in workers:
        assert process.poll() is None, "a worker exited during the outage"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _, errors = process.communicate(timeout=10)
        assert "stopped listening to its store" in errors, errors  # every session died
        logs.append(errors)
    # A worker whose job ended during the outage kept its outcome until the server
    # was back (the other may have made no call that failed: a quiet outage).
    assert any("cannot reach its store" in e and "reached its store again" in e for e in logs), logs


@pytest.mark.slow
def test_postgres_workers_run_no_job_twice_when_the_server_ends_every_session(
    postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    # As a failover to a standby does, on a server that has run for long: every
    # owner's lock is freed at once, and the first worker to listen again must not
    # take the others (still reconnecting) for dead and run their jobs again.
    schema = postgres_url.rpartition("schema=")[2]
    effects = tmp_path / "effects.db"
    cluster_tasks.make_effects(str(effects))
    options = ("--workers", "3", "--poll-interval", "0.2")
    workers = [worker(postgres_url, *options, "--backend", b) for b in ("asyncio", "trio")]
    processes += workers
    jobs = 30

    def started() -> int:
        ((count,),) = query(effects, "SELECT COUNT(*) FROM runs")
        return int(count)

    async def produce() -> list[str]:
        async with (
            ActorSystem("producer") as system,
            JobQueue(system, store=postgres_url, workers=0, poll_interval=0.2) as producer,
        ):
            handles = await producer.submit_many(
                cluster_tasks.step, [(str(effects), f"job-{n}", 0.6) for n in range(jobs)]
            )
            for at_least in (6, 12):  # the second while the first's grace holds
                await anyio.to_thread.run_sync(
                    wait_until, f"{at_least} jobs started", lambda n=at_least: started() >= n
                )
                ended = await anyio.to_thread.run_sync(
                    end_sessions, postgres_url, f"actorlib.jobs {schema}%"
                )
                assert ended >= 4  # each worker's listener and a pooled connection at least
            with anyio.fail_after(120):
                return [await handle.result() for handle in handles]

    results = anyio.run(produce)
    assert results == [f"job-{n}" for n in range(jobs)]
    twice = query(effects, "SELECT key, COUNT(*) FROM runs GROUP BY key HAVING COUNT(*) > 1")
    assert twice == []  # no worker died: every job started once
    for process in workers:
        assert process.poll() is None, "a worker exited"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
