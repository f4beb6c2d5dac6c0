"""The benchmark runner works end to end (its figures are not checked: speed is not a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIOS = (
    "pingpong-tell",
    "pingpong-ask",
    "fanin",
    "ring",
    "spawn-stop",
    "idle-memory",
    "sim-deliveries",
    "sim-examples",
    "bank-property",
)


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
    for name in SCENARIOS:
        assert f"\n{name} " in table, f"{name} missing from the table"
    assert "error:" not in table
    report = json.loads(out.read_text())
    runs = {(run["scenario"], run["system"]) for run in report["runs"]}
    for name in SCENARIOS:
        assert {(name, "actorlib"), (name, "raw")} <= runs
    assert all(run["samples"] for run in report["runs"])
    assert report["machine"]
