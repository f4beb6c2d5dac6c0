"""mypy --strict reports exactly the lines marked ``# E: <part of the message>`` in cases/.

One mypy run over every case file per session (through ``mypy.api``); each
file is then checked twice: every marked line has an error containing its
marker's text, and no unmarked line has an error (``assert_type`` mismatches
included).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).parents[2]
CASE_FILES = sorted(p.name for p in CASES.glob("*.py") if p.name != "__init__.py")
MARKER = re.compile(r"#\s*E:\s*(?P<text>.+?)\s*$")
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")

Errors = dict[tuple[str, int], list[str]]


@pytest.fixture(scope="session")
def mypy_errors() -> Errors:
    """Every mypy error in cases/, by (file name, line)."""
    api = pytest.importorskip("mypy.api")
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            *(str(CASES / name) for name in CASE_FILES),
        ]
    )
    assert not stderr, stderr
    errors: Errors = defaultdict(list)
    for line in stdout.splitlines():
        match = ERROR.match(line)
        if match:
            errors[Path(match["path"]).name, int(match["line"])].append(match["message"])
    return errors


def markers(name: str) -> dict[int, str]:
    """The expected errors of a case file: {line: text}."""
    lines = (CASES / name).read_text().splitlines()
    found = {}
    for number, line in enumerate(lines, start=1):
        match = MARKER.search(line)
        if match:
            found[number] = match["text"]
    return found


def test_the_planted_mistakes_are_marked() -> None:
    assert len(markers("planted.py")) >= 7


@pytest.mark.parametrize("name", CASE_FILES)
def test_every_marked_line_is_a_mypy_error_with_that_message(
    name: str, mypy_errors: Errors
) -> None:
    missed = {
        line: text
        for line, text in markers(name).items()
        if not any(text in message for message in mypy_errors.get((name, line), []))
    }
    got = {line: mypy_errors.get((name, line), []) for line in missed}
    assert not missed, f"{name}: expected errors not reported: {missed}; mypy said {got}"


@pytest.mark.parametrize("name", CASE_FILES)
def test_no_unmarked_line_is_a_mypy_error(name: str, mypy_errors: Errors) -> None:
    marked = markers(name)
    unexpected = {
        line: messages
        for (file, line), messages in mypy_errors.items()
        if file == name and line not in marked
    }
    assert not unexpected, f"{name}: unexpected mypy errors: {unexpected}"
