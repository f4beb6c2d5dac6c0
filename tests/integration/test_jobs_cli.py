"""``python -m actorlib.jobs``: status prints counts and failed jobs; worker runs a store's jobs."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from tests.jobs import tasks
from tests.nats_server import free_port
from tests.postgres_server import sql

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "actorlib.jobs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def fill(store: str) -> str:
    """Queue 20 jobs and one that fails, all due in 1 s, and close before any runs."""
    async with ActorSystem("fill") as system, JobQueue(system, store=store) as queue:
        for n in range(20):
            await queue.submit(tasks.add, n, 1, delay=1)
        failing = await queue.submit(tasks.fail, "row 3 is broken", delay=1)
        return failing.id


def test_a_worker_runs_what_other_processes_queued_and_status_reports_it(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    failing = anyio.run(fill, store)
    before = cli("status", "--store", store)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines()[0] == (
        "queued=21 running=0 retrying=0 succeeded=0 failed=0 cancelled=0"
    )
    worker = cli("worker", "--store", store, "--import", "tests.jobs.tasks", "--burst")
    assert worker.returncode == 0, worker.stderr
    assert "done 20 | failed 1" in worker.stderr  # the progress display, not a terminal
    # The worker shows each failure as it happens: id, name, when, error.
    shown = re.search(
        rf"^failed {failing} tests\.jobs\.tasks\.fail at (\S+) attempts=1: "
        r"ValueError: row 3 is broken$",
        worker.stderr,
        re.MULTILINE,
    )
    assert shown is not None, worker.stderr
    assert datetime.datetime.fromisoformat(shown[1]).tzinfo is not None
    after = cli("status", "--store", store).stdout.splitlines()
    assert after[0] == "queued=0 running=0 retrying=0 succeeded=20 failed=1 cancelled=0"
    assert after[1] == shown[0]


def test_a_worker_with_a_missing_import_says_which_module(tmp_path: Path) -> None:
    result = cli("worker", "--store", f"sqlite:///{tmp_path / 'j.db'}", "--import", "no_such_mod")
    assert result.returncode == 2
    assert "--import no_such_mod: No module named 'no_such_mod'" in result.stderr


def test_status_of_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("status", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.returncode == 1
    assert result.stderr.startswith("python -m actorlib.jobs: error: no job store at")
    assert "Traceback" not in result.stderr


def test_status_of_a_postgresql_schema_without_a_store_is_a_clear_error_and_makes_none(
    postgres_url: str,
) -> None:
    # A typo in ?schema= must not make an empty store that reports nothing, quietly.
    result = cli("status", "--store", postgres_url)
    assert result.returncode == 1
    schema = postgres_url.rpartition("schema=")[2]
    assert result.stderr.splitlines() == [
        f"python -m actorlib.jobs: error: no job store at {postgres_url.partition('?')[0]} "
        f"in schema {schema!r}; check the URL's ?schema= (the default is 'actorlib')"
    ]
    found = anyio.run(sql, postgres_url, f"SELECT to_regnamespace('{schema}')")
    assert found == [(None,)]


def test_status_of_a_postgresql_store_only_reads_it(postgres_url: str) -> None:
    # Status neither migrates nor recovers: with no worker open, a job left running
    # stays running for the next worker to see to (a status taking the store's locks
    # would re-queue it as a dead process's).
    failing = anyio.run(fill, postgres_url)
    schema = postgres_url.rpartition("schema=")[2]
    anyio.run(
        sql, postgres_url, f"UPDATE {schema}.jobs SET status = 'running' WHERE id = %s", failing
    )
    result = cli("status", "--store", postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "queued=20 running=1 retrying=0 succeeded=0 failed=0 cancelled=0"
    ]
    assert anyio.run(
        sql, postgres_url, f"SELECT status FROM {schema}.jobs WHERE id = %s", failing
    ) == [("running",)]


@pytest.mark.parametrize("command", ["worker", "status"])
def test_a_postgresql_server_that_cannot_be_reached_is_a_clear_error(
    command: str, postgres_database: str
) -> None:
    nobody = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/jobs"
    result = cli(
        command, "--store", nobody, *(["--import", "tests.jobs.tasks"] * (command == "worker"))
    )
    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith(
        "python -m actorlib.jobs: error: the job store postgresql://postgres:***@127.0.0.1:"
    ), result.stderr
    assert "cannot be reached (OperationalError: connection failed: " in first
    assert first.endswith(
        "Connection refused); check that the server is up and accepts this URL's database and user"
    ), first
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # A database that does not exist on a server that answers: the server's word for it.
    missing = postgres_database.rpartition("/")[0] + "/no_such_database_here"
    result = cli(
        command, "--store", missing, *(["--import", "tests.jobs.tasks"] * (command == "worker"))
    )
    assert result.returncode == 1
    assert 'database "no_such_database_here" does not exist' in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["worker", "status"])
def test_the_store_option_is_required(command: str) -> None:
    result = cli(command)
    assert result.returncode == 2
    assert "--store" in result.stderr


def test_a_worker_refuses_a_module_that_defines_no_job_function(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'j.db'}"
    result = cli("worker", "--store", store, "--import", "tests.integration.no_job_functions")
    assert result.returncode == 2
    assert re.search(
        r"--import tests\.integration\.no_job_functions: the module defines no function or "
        r"class, so it holds no job function; import the module that defines them",
        result.stderr,
    ), result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--require", "resize"), "--require resize: name a job function as MODULE.FUNCTION"),
        (("--workers", "0"), "--workers must be at least 1, got 0"),
    ],
)
def test_a_worker_refuses_bad_options_naming_them(
    options: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'j.db'}"
    result = cli("worker", "--store", store, "--import", "tests.jobs.tasks", *options)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_worker_refuses_a_required_function_it_cannot_find(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'j.db'}"
    result = cli(
        "worker",
        "--store",
        store,
        "--import",
        "tests.jobs.tasks",
        "--require",
        "tests.jobs.tasks.no_such_job",
    )
    assert result.returncode == 2
    assert "--require tests.jobs.tasks.no_such_job: tests.jobs.tasks has no callable " in (
        result.stderr
    )


def test_a_worker_without_an_import_says_what_it_needs(tmp_path: Path) -> None:
    result = cli("worker", "--store", f"sqlite:///{tmp_path / 'j.db'}")
    assert result.returncode == 2
    assert "name the module of the job functions with --import MODULE" in result.stderr
