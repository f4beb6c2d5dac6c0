"""docs/jobs.md stays true: each complete program in it prints what the doc quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"
BLOCK = re.compile(r"```python\n((?:(?!```).)*)```\n\n```text\n((?:(?!```).)*)```", re.DOTALL)
PROGRAMS = [(code, out) for code, out in BLOCK.findall(DOC.read_text()) if "actorlib.run(" in code]


def test_the_doc_has_programs() -> None:
    assert len(PROGRAMS) >= 2


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(("code", "expected"), PROGRAMS, ids=lambda v: str(v)[:20])
def test_each_program_prints_what_the_doc_says(
    code: str, expected: str, backend: str, tmp_path: Path
) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        code.replace("actorlib.run(main)", f"actorlib.run(main, backend={backend!r})")
    )
    result = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
