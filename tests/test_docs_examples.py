"""The guides stay true: every code block in docs/*.md runs, and shown output is what it prints.

README.md too; docs/jobs.md has its own test (tests/jobs/test_docs.py). The conventions,
for doc writers:

- A ```python block that calls ``actorlib.run(main)`` is a complete program: it runs on
  asyncio and on trio. One that names its backend runs once, as written; so does one
  that runs itself on both (``actorlib.run(main)`` then ``actorlib.run(main,
  backend="trio")``), whose shown output is either all it prints or one run's share
  ("the trio run printed the same lines again").
- A bare ``` block after a program (before the next ```python block) is its standard
  output, compared exactly.
- A ```python block that opens with ``# test_<name>.py`` is a test module: pytest runs it
  (from the repository root, beside the doc's other test modules, which it may import)
  and it must pass, unless ``<!-- pytest: 2 failed, 2 passed -->`` before it states the
  outcome the doc describes.
- Any other ```python block is a snippet: it runs as a script of its own, so it must be
  self-contained (its imports included).
- ``<!-- excerpt: examples/<file>.py -->`` before a block says it is quoted from that
  example (which tests/test_examples.py runs): it must appear there verbatim.
- ``<!-- no-run: <reason> -->`` on the line before a fence (blank lines allowed) exempts
  that block. Use it sparingly, always with a reason (a server it needs, a deliberate
  mistake shown for the type checker).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "jobs.md")
DOCS = [ROOT / "README.md", *GUIDES]
FENCE = re.compile(r"^```(\w*)$")
BOTH = 'actorlib.run(main)\nactorlib.run(main, backend="trio")\n'
ANY_BACKEND = re.compile(r"^actorlib\.run\(main\)( *#.*)?$", re.MULTILINE)
DIRECTIVE = re.compile(r"^<!-- (no-run|excerpt|pytest): (.+\S) -->$")


@attrs.frozen
class Block:
    """One ```python block of a doc, with the output the doc shows for it (if any)."""

    doc: str
    line: int
    code: str
    expected: str | None
    directive: tuple[str, str] | None

    @property
    def no_run(self) -> str | None:
        """Why the block does not run, if it does not."""
        return self.directive[1] if self.directive and self.directive[0] == "no-run" else None

    @property
    def kind(self) -> str:
        if self.directive and self.directive[0] == "excerpt":
            return "excerpt"
        if self.code.startswith("# test_"):
            return "test module"
        if "actorlib.run(" in self.code:
            return "program"
        return "snippet"

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The ```python blocks of *doc*, each with the bare block that shows its output."""
    lines = doc.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = lines.index("```", i + 1)
        body = "\n".join(lines[i + 1 : end]) + "\n"
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        directive = DIRECTIVE.match(lines[before]) if before >= 0 else None
        if match.group(1) == "python":
            pair = (directive.group(1), directive.group(2)) if directive else None
            found.append(Block(doc.name, i + 1, body, None, pair))
        elif match.group(1) == "" and found and found[-1].expected is None:
            previous = found[-1]
            if previous.kind == "program" and previous.line == _last_fence_before(lines, i):
                found[-1] = attrs.evolve(previous, expected=body)
        i = end + 1
    return found


def _last_fence_before(lines: list[str], index: int) -> int:
    """The 1-based line of the last opening fence before *index* that is not bare."""
    for j in range(index - 1, -1, -1):
        match = FENCE.match(lines[j])
        if match and match.group(1):
            return j + 1
    return 0


ALL = [block for doc in DOCS for block in blocks(doc)]
RUNNABLE = [block for block in ALL if block.no_run is None]


def _module_name(block: Block) -> str:
    return block.code.splitlines()[0].removeprefix("# ").strip()


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env=env
    )


def test_the_guides_have_blocks_and_few_exemptions() -> None:
    assert len(ALL) >= 40
    exempt = [block for block in ALL if block.no_run is not None]
    assert len(exempt) <= len(ALL) // 5, [str(b) for b in exempt]


def _cases() -> list[object]:
    cases: list[object] = []
    for block in RUNNABLE:
        both_ways = ANY_BACKEND.search(block.code.replace(BOTH, ""))
        if block.kind == "program" and both_ways:
            cases += [pytest.param(block, b, id=f"{block}-{b}") for b in ("asyncio", "trio")]
        else:
            cases.append(pytest.param(block, None, id=str(block)))
    return cases


@pytest.mark.parametrize(("block", "backend"), _cases())
def test_each_block_runs_and_prints_what_the_doc_shows(
    block: Block, backend: str | None, tmp_path: Path
) -> None:
    code = block.code
    if backend is not None:
        code = code.replace("actorlib.run(main)", f"actorlib.run(main, backend={backend!r})")
    if block.kind == "excerpt":
        assert block.directive is not None
        assert block.code in (ROOT / block.directive[1]).read_text()
        return
    if block.kind == "test module":
        for other in ALL:
            if other.doc == block.doc and other.kind == "test module":
                (tmp_path / _module_name(other)).write_text(other.code)
        test = tmp_path / _module_name(block)
        args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
        result = _run([sys.executable, *args, str(test)], ROOT)
        summary = result.stdout.strip().splitlines()[-1]
        if block.directive and block.directive[0] == "pytest":
            assert summary.startswith(f"{block.directive[1]} in "), result.stdout
        else:
            assert result.returncode == 0, result.stdout + result.stderr
        return
    (tmp_path / "block.py").write_text(code)
    result = _run([sys.executable, "block.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    if block.expected is not None:
        shown = [block.expected]
        if BOTH in block.code:
            shown.append(block.expected * 2)
        assert result.stdout in shown
