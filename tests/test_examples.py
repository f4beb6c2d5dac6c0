"""Every program in examples/ runs to completion, on both backends where it takes one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_example_runs_cleanly(example: Path, backend: str) -> None:
    result = subprocess.run(
        [sys.executable, str(example), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip(), "an example must show what it does"


def test_the_demo_shows_a_crash_a_restart_and_a_clean_shutdown() -> None:
    demo = Path(__file__).parent.parent / "examples" / "demo.py"
    result = subprocess.run(
        [sys.executable, str(demo)], capture_output=True, text=True, timeout=120, check=True
    )
    out = result.stdout
    assert "the asker sees the worker's error: ValueError('cannot work on -1')" in out
    assert "worker-0 restarted after ValueError" in out
    assert "squares: [49, 64, 81]" in out
    assert "jobs counted: 9" in out
    assert "worker-0 [running] Worker mailbox=0 restarts=1" in out
    assert out.rstrip().endswith("done")
    # Each worker's on_stop runs exactly once at shutdown (worker-0 also once on restart).
    assert out.count("worker-1 stopped") == 1
    assert out.count("worker-0 stopped") == 2


def test_the_cluster_example_survives_a_killed_worker_process() -> None:
    cluster = Path(__file__).parent.parent / "examples" / "cluster.py"
    result = subprocess.run(
        [sys.executable, str(cluster)], capture_output=True, text=True, timeout=120, check=True
    )
    out = result.stdout
    assert "started 2 worker processes" in out
    assert "halfway: killing worker process" in out
    assert "results: 40 of 40, all correct: True" in out
    assert "the killed one replaced by a new one" in out
    assert "restarts=1" in out
    assert "restarting" in result.stderr  # the pool's supervisor restarted the lost workers
    assert out.rstrip().endswith("done")


@pytest.mark.parametrize("store", ["postgres", "sqlite"])
def test_the_jobs_across_processes_example_finishes_every_job_after_killing_a_worker(
    store: str, request: pytest.FixtureRequest
) -> None:
    example = Path(__file__).parent.parent / "examples" / "jobs_across_processes.py"
    env = dict(os.environ)
    if store == "postgres":  # the test run's database (fails under CI without a server)
        env["ACTORLIB_TEST_POSTGRES"] = str(request.getfixturevalue("postgres_database"))
    result = subprocess.run(
        [sys.executable, str(example), "--store", store],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    out = result.stdout
    assert f"started 2 worker processes on {store}" in out
    assert "submitted 24 jobs from a producer that runs none (workers=0)" in out
    assert re.search(r"^halfway: killed worker process \d+ \(SIGKILL\)$", out, re.MULTILINE)
    assert "progress: 24/24 jobs done" in out
    assert "all 24 jobs done, results correct: True" in out
    assert re.search(r"finished by the killed worker before it died: \d+, by the other: \d+", out)
    assert "it drained and exited with 0" in out
    assert out.rstrip().endswith("done")
    assert "Traceback" not in result.stderr, result.stderr


def test_the_cluster_carts_example_keeps_every_cart_after_a_member_is_killed() -> None:
    example = Path(__file__).parent.parent / "examples" / "cluster_carts.py"
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120, check=True
    )
    out = result.stdout
    assert "members: 4 (3 hosting carts, and this one)" in out
    assert re.search(r"^halfway: killed member-\d, the member hosting", out, re.MULTILINE)
    assert "carts with both items: 30 of 30, now on 2 members" in out
    assert out.rstrip().endswith("done")
