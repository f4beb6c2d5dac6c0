"""The job view alone, for SQLite and PostgreSQL stores, with no actor system of the user's."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from actorlib import ActorSystem
from actorlib.dashboard import Dashboard
from actorlib.jobs import JobQueue, JobStatus, open_queues
from tests.dashboard.support import csrf_of
from tests.jobs import tasks
from tests.jobs.stores import DURABLE_KINDS, Kind, make_kind
from tests.postgres_server import sql

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=DURABLE_KINDS)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return make_kind(str(request.param), request, tmp_path)


async def fill(url: str, marker: Path) -> tuple[str, str]:
    """Leave a failed job and a waiting one in the store at *url*; return their ids."""
    async with ActorSystem("producer") as system, JobQueue(system, store=url) as queue:
        failed = await queue.submit(tasks.fail_until_exists, str(marker))
        with pytest.raises(FileNotFoundError):
            await failed.result()
        waiting = await queue.submit(tasks.add, 2, 3, delay=3600)
    return failed.id, waiting.id


@pytest.mark.anyio
async def test_a_store_dashboard_shows_its_jobs_and_retries_and_cancels_in_the_store(
    durable: Kind, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    failed_id, waiting_id = await fill(durable.url, marker)
    async with Dashboard(stores=[durable.url]) as url, httpx.AsyncClient() as client:
        overview = (await client.get(url + "api/overview")).json()
        assert overview["actors"] is None
        assert overview["dead-letters"] is None
        [source] = overview["jobs"]
        assert source["attached"] is False
        assert source["store"].startswith(("sqlite:///", "postgresql://"))
        assert (source["counts"]["failed"], source["counts"]["queued"]) == (1, 1)
        assert [job["id"] for job in source["failed"]] == [failed_id]
        assert "FileNotFoundError" in source["failed"][0]["error"]
        assert [job["id"] for job in source["waiting"]] == [waiting_id]
        headers = {"X-CSRF-Token": await csrf_of(client, url)}
        base = f"{url}api/jobs/{source['key']}"
        assert (await client.post(f"{base}/{failed_id}/retry", headers=headers)).json()["ok"]
        assert (await client.post(f"{base}/{waiting_id}/cancel", headers=headers)).json()["ok"]
        metrics = (await client.get(url + "metrics")).text
        assert 'status="cancelled"} 1' in metrics
    marker.touch()
    # A worker on the store runs the retried job: the retry is in the store itself.
    async with ActorSystem("worker") as system, JobQueue(system, store=durable.url) as queue:
        assert open_queues(system) == (queue,)
        handle = await queue.get(failed_id)
        assert handle is not None
        assert await handle.result() == "found"
        cancelled = await queue.get(waiting_id)
        assert cancelled is not None
        assert cancelled.status() is JobStatus.CANCELLED


def test_python_m_actorlib_dashboard_serves_a_sqlite_store_until_interrupted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    failed_id, _ = anyio.run(fill, url, tmp_path / "never")
    with subprocess.Popen(
        [sys.executable, "-m", "actorlib.dashboard", "--store", url, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("dashboard at http://127.0.0.1:"), line
            served = line.split()[-1]
            [source] = httpx.get(served + "api/jobs", timeout=10).json()
            assert [job["id"] for job in source["failed"]] == [failed_id]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def dashboard_refusing(store: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m actorlib.dashboard --store <store>``, which must refuse it
    (a dashboard that served instead would run into the timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "actorlib.dashboard", "--store", store, "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_python_m_actorlib_dashboard_names_a_bad_store_without_a_traceback(
    tmp_path: Path,
) -> None:
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    result = dashboard_refusing(missing)
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert f"no job store at {tmp_path / 'typo.db'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "typo.db").exists()  # not made empty by the look


def test_python_m_actorlib_dashboard_names_a_postgresql_schema_without_a_store(
    postgres_url: str,
) -> None:
    result = dashboard_refusing(postgres_url)
    schema = postgres_url.rpartition("?schema=")[2]
    assert result.returncode == 1
    assert f"in schema '{schema}'; check the URL's ?schema=" in result.stderr
    assert "Traceback" not in result.stderr
    found = anyio.run(sql, postgres_url, f"SELECT to_regnamespace('{schema}')")
    assert found == [(None,)]  # not made empty by the look
