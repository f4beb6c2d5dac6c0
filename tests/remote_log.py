"""A probe on the `actorlib.remote` log, as a fixture for the remote tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import pytest


class LogProbe(logging.Handler):
    """Records the `actorlib.remote` log; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []  # with their levels and tracebacks
        self._changed: anyio.Event | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.records.append(record)
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, text: str) -> str:
        """The first line containing *text*, waiting for it (5 s at most)."""
        with anyio.fail_after(5):
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                self._changed = anyio.Event()
                await self._changed.wait()


@pytest.fixture
def remote_log() -> Iterator[LogProbe]:
    """A probe on the ``actorlib.remote`` logger."""
    probe = LogProbe()
    logger = logging.getLogger("actorlib.remote")
    logger.addHandler(probe)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield probe
    finally:
        logger.removeHandler(probe)
        logger.setLevel(old)
