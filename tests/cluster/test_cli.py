"""``python -m actorlib.cluster``: a member process from the command line, and the members list."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import anyio
import pytest

from tests.cluster.conftest import ROOT, SECRET, MemberProcess
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

ENV = {**os.environ, "CLUSTER_SECRET": SECRET.decode()}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actorlib.cluster", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_member_started_from_the_command_line_is_listed_with_its_entities(
    js_server: NatsServer,
) -> None:
    common = ["--nats", js_server.url, "--name", "cli", "--secret-env", "CLUSTER_SECRET"]
    command = [sys.executable, "-m", "actorlib.cluster", "member", *common]
    command += ["--role", "carts", "--import", "tests.cluster.member", "--system", "clim"]
    async with await anyio.open_process(
        command, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL
    ) as process:
        member = MemberProcess(process)
        joined = await member.expect("member ")
        assert joined.endswith("joined cluster cli (Cart)")
        node_id = joined.split()[1]
        listed = await anyio.to_thread.run_sync(lambda: cli("members", *common))
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith(node_id))
        assert row.split()[1] == "carts"
        assert row.split()[-1] == "Cart"
        assert listed.stdout.rstrip().endswith("1 member(s) in cluster cli")
        os.kill(process.pid, signal.SIGTERM)
        assert await member.expect(f"member {node_id} leaving")
        with anyio.fail_after(10):
            assert await process.wait() == 0


def test_the_command_line_says_what_is_wrong_with_its_arguments(js_server: NatsServer) -> None:
    common = ["--nats", js_server.url, "--name", "cli"]
    unset = cli("members", *common, "--secret-env", "NO_SUCH_VARIABLE_SET")
    assert unset.returncode != 0
    assert "NO_SUCH_VARIABLE_SET must hold the cluster's shared secret" in unset.stderr
    pause = cli("member", *common, "--secret-env", "CLUSTER_SECRET", "--heartbeat", "nan")
    assert pause.returncode != 0
    assert (
        "python -m actorlib.cluster member: heartbeat must be a finite number of seconds > 0, "
        "got nan" in pause.stderr
    )
    nothing = cli("member", *common, "--secret-env", "CLUSTER_SECRET", "--import", "json")
    assert nothing.returncode != 0
    assert "--import json: it defines no Entity subclass" in nothing.stderr
