"""Shared by the tests of actorlib.remote: the secret; only asyncio for NATS."""

from __future__ import annotations

import pytest

from tests.remote_log import LogProbe

SECRET = b"test-secret-0123456789abcdef"
_DESELECTED = pytest.StashKey[int]()

__all__ = ["SECRET", "LogProbe"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """NATS runs on asyncio only: the trio-with-NATS combinations do not exist.

    (That trio is refused with a clear error is a test of its own.)
    """
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (dropped if "trio-nats" in item.nodeid else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        config.stash[_DESELECTED] = len(dropped)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Say why tests were deselected, so a count in the summary line is never a mystery."""
    dropped = config.stash.get(_DESELECTED, 0)
    if dropped:
        terminalreporter.write_line(
            f"{dropped} deselected: the trio x NATS combinations (NatsTransport runs on "
            "asyncio only; tests/remote/conftest.py)"
        )
