"""The terminal view: in-process `top`, and ``python -m actorlib top --connect`` to a dashboard."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.dashboard import Dashboard, top
from tests.dashboard.support import Parent

ROOT = Path(__file__).resolve().parents[2]


class Screens(io.StringIO):
    """A non-terminal stream that says when the first screen was written."""

    def __init__(self) -> None:
        super().__init__()
        self.first = anyio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.first.set()
        return written


@pytest.mark.anyio
async def test_top_lists_the_busiest_actor_first_with_its_rate() -> None:
    async with ActorSystem("top") as system:
        busy = await system.spawn(Parent, name="busy")
        await system.spawn(Parent, name="idle")
        screens = Screens()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: top(system, interval=0.5, refreshes=2, stream=screens))
            await screens.first.wait()
            for n in range(20):
                assert await busy.ask(n) == n
    _, first, second = screens.getvalue().split("actorlib top - ")
    assert "\x1b[" not in screens.getvalue()  # not a terminal: no ANSI codes
    assert first.startswith("system top: 2 actors, 0.0 msg/s")
    rows = second.strip().splitlines()[3:]
    assert rows[0].endswith("/user/busy (Parent)")
    rate, mailbox, restarts, handled = rows[0].split()[:4]
    assert float(rate) > 0
    assert (mailbox, restarts, handled) == ("0", "0", "20")
    assert rows[1].split()[0] == "0.0"


@pytest.mark.anyio
async def test_top_connects_to_a_dashboard_with_a_token_and_shows_its_actors() -> None:
    async with (
        ActorSystem("remote-top") as system,
        Dashboard(system, token="a-token-of-sixteen-or-more") as url,
    ):
        await system.spawn(Parent, name="watched")
        result = await anyio.run_process(
            [sys.executable, "-m", "actorlib", "top", "--connect", url, "-n", "2"],
            cwd=ROOT,
            check=False,
        )
    output = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert output.count("actorlib top - system remote-top:") == 2
    assert "/user/watched (Parent)" in output


def test_top_refuses_a_url_that_is_not_a_dashboard_and_a_missing_command() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "actorlib", "top", "--connect", "ftp://example", "-n", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 1
    assert "expects a dashboard URL like http://127.0.0.1:8000/" in bad.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "actorlib"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert usage.returncode == 2
    assert "python -m actorlib top --connect URL" in usage.stderr


@pytest.mark.anyio
async def test_top_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="expects an ActorSystem"):
        await top("system")  # type: ignore[arg-type]
    async with ActorSystem("args") as system:
        with pytest.raises(ValueError, match="interval must be"):
            await top(system, interval=0)
        with pytest.raises(ValueError, match="rows must be"):
            await top(system, rows=0)
