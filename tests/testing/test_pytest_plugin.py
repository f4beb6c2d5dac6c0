"""The pytest plugin: `actor_system` and `virtual_clock` fixtures, registered by entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from actorlib import Actor, ActorRef, ActorSystem, MonotonicClock
from actorlib.testing import TestProbe, VirtualClock


class Echo(Actor):
    """Answers with the message; ("after", ref, delay) tells ref "rang" after a timer."""

    async def receive(self, message: object) -> object:
        match message:
            case ("after", ActorRef() as ref, float(delay)):
                self.context.timers.start_single("alarm", ("ring", ref), delay)
            case ("ring", ActorRef() as ref):
                ref.tell("rang")
        return message


def test_the_plugin_is_registered_through_the_pytest11_entry_point(
    request: pytest.FixtureRequest,
) -> None:
    registered = {point.name: point.value for point in entry_points(group="pytest11")}
    assert registered.get("actorlib") == "actorlib.testing._pytest_plugin"
    assert request.config.pluginmanager.has_plugin("actorlib")


@pytest.mark.anyio
async def test_the_actor_system_fixture_is_a_running_system(actor_system: ActorSystem) -> None:
    echo = await actor_system.spawn(Echo, name="echo")
    assert await echo.ask("hello") == "hello"
    assert repr(actor_system).endswith(" running>")
    assert isinstance(actor_system.clock, MonotonicClock)


@pytest.mark.anyio
async def test_with_the_virtual_clock_fixture_the_system_runs_on_that_clock(
    actor_system: ActorSystem, virtual_clock: VirtualClock
) -> None:
    assert actor_system.clock is virtual_clock
    probe = await TestProbe.spawn(actor_system)
    echo = await actor_system.spawn(Echo)
    await echo.ask(("after", probe.ref, 3600.0))
    await virtual_clock.advance(3599.0)
    assert probe.pending == []
    await virtual_clock.advance(1.0)
    assert probe.pending == ["rang"]
    assert virtual_clock.now() == 3600.0


@pytest.mark.anyio
async def test_the_virtual_clock_fixture_may_be_requested_first(
    virtual_clock: VirtualClock, actor_system: ActorSystem
) -> None:
    assert actor_system.clock is virtual_clock
    assert virtual_clock.now() == 0.0


USER_TESTS = """
import pytest
from actorlib import Actor

class Echo(Actor):
    async def receive(self, message):
        return message

systems = []

@pytest.mark.anyio
async def test_uses_the_fixtures_without_importing_them(actor_system, virtual_clock):
    systems.append(actor_system)
    echo = await actor_system.spawn(Echo)
    assert await echo.ask("hi") == "hi"
    assert actor_system.clock is virtual_clock

def test_the_system_was_shut_down_after_the_test():
    assert systems
    assert all(repr(system).endswith(" closed>") for system in systems), systems
"""


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_project_gets_the_fixtures_without_imports_or_conftest(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    result = run_pytest(tmp_path, "-v", "test_user.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_uses_the_fixtures_without_importing_them[asyncio] PASSED" in result.stdout
    assert "test_the_system_was_shut_down_after_the_test PASSED" in result.stdout
    listed = run_pytest(tmp_path, "--fixtures", "-q", "test_user.py")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "actor_system" in listed.stdout
    assert "virtual_clock" in listed.stdout
