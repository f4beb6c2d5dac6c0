"""The benchmark runner works end to end (its figures are not checked: speed is not a test)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIOS = (
    "pingpong-tell",
    "pingpong-ask",
    "fanin",
    "ring",
    "spawn-stop",
    "idle-memory",
    "forkjoin",
    "supervision",
    "fibonacci",
    "big",
    "chameneos",
    "bank",
    "sim-deliveries",
    "sim-examples",
    "sim-cluster-examples",
    "bank-property",
    "remote-tell",
    "remote-ask-median",
    "remote-ask-p99",
    "remote-askers",
    "remote-scaling",
    "cluster-tell",
    "cluster-ask-median",
    "cluster-ask-p99",
    "cluster-activation",
    "cluster-recovery",
    "jobs",
    "jobs-sqlite",
    "jobs-latency",
    "jobs-latency-p99",
    "jobs-processes",
    "jobs-processes-batch",
    "jobs-processes-latency",
    "jobs-processes-latency-p99",
    "metrics-pingpong",
    "metrics-fanin",
    "traces-pingpong",
    "traces-fanin",
)
#: Scenarios measured on peers too; each peer shows figures, or n/a where it is not
#: installed or cannot do the scenario (the reason is in the run's `unavailable`).
PEER_SCENARIOS = (
    "pingpong-tell",
    "pingpong-ask",
    "fanin",
    "ring",
    "forkjoin",
    "supervision",
    "fibonacci",
    "big",
    "chameneos",
    "bank",
)
PEERS = ("asyncio-queue", "pykka", "thespian", "xoscar")
#: Thespian on a multiprocess base runs ping-pong only.
MULTIPROCESS_SCENARIOS = ("pingpong-tell", "pingpong-ask")
#: The job-queue scenarios' peers: figures, or n/a where not installed or Redis is down.
JOB_PEERS = {
    "jobs": ("arq", "dramatiq", "celery"),
    "jobs-sqlite": ("arq",),
    "jobs-latency": ("actorlib-sqlite", "arq", "dramatiq", "celery"),
    "jobs-latency-p99": ("actorlib-sqlite", "arq", "dramatiq", "celery"),
    **dict.fromkeys(
        (
            "jobs-processes",
            "jobs-processes-batch",
            "jobs-processes-latency",
            "jobs-processes-latency-p99",
        ),
        ("actorlib-sqlite", "celery", "dramatiq", "procrastinate"),
    ),
}


def test_quick_benchmarks_print_the_table_and_write_every_sample(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--backend", "asyncio", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout
    assert "actorlib/raw" in table
    assert "system/actorlib" in table
    for name in SCENARIOS:
        assert f"\n{name} " in table, f"{name} missing from the table"
    assert "error:" not in table
    report = json.loads(out.read_text())
    runs = {(run["scenario"], run["system"]) for run in report["runs"]}
    for name in SCENARIOS:
        assert {(name, "actorlib"), (name, "raw")} <= runs
    for name in PEER_SCENARIOS:
        assert {(name, peer) for peer in PEERS} <= runs
    for name in MULTIPROCESS_SCENARIOS:
        assert (name, "thespian-mp") in runs
    for name, job_peers in JOB_PEERS.items():
        assert {(name, peer) for peer in job_peers} <= runs
    # actorlib's own SQLite store never depends on Redis or on an extra.
    sqlite_runs = [run for run in report["runs"] if run["system"] == "actorlib-sqlite"]
    assert sqlite_runs
    assert all(run["samples"] for run in sqlite_runs)
    for run in report["runs"]:
        # A run has samples unless its system could not run here (not installed, trio).
        assert bool(run["samples"]) == (run["unavailable"] is None), run
    by_key = {(run["scenario"], run["system"]): run for run in report["runs"]}
    # A peer without the feature is n/a with the reason, installed or not.
    assert by_key["supervision", "pykka"]["unavailable"].startswith("no supervision")
    assert by_key["supervision", "actorlib"]["also_unit"] == "restarts/s"
    assert " restarts/s" in table
    # The marks for peers sit on their rows: 5x Pykka and xoscar, ahead of Thespian.
    assert by_key["ring", "xoscar"]["peer_target"] == "<= 0.2x"
    assert by_key["ring", "thespian"]["peer_target"] == "< 1x"
    assert report["machine"]
    charts = {path.name for path in tmp_path.glob("*.png")}
    if importlib.util.find_spec("matplotlib") is not None:
        assert charts == {f"{name}.png" for name in SCENARIOS}
    else:
        assert not charts
        assert "no charts: matplotlib is not installed" in table


def test_a_job_peer_without_redis_is_unavailable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks._scenario import PeerUnavailableError
    from benchmarks.jobpeers import _redis

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(_redis, "PORT", port)
    with pytest.raises(PeerUnavailableError, match=rf"^no Redis at 127\.0\.0\.1:{port}: "):
        _redis.require()
