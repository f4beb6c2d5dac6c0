"""The dashboard's JSON API, buttons and /metrics, against a real served dashboard."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actorlib import ActorSystem
from actorlib.dashboard import Dashboard
from actorlib.jobs import JobQueue, JobStatus
from actorlib.remote import SocketTransport
from tests.dashboard.support import (
    REPORTED,
    STEPS,
    Boom,
    Parent,
    csrf_of,
    dead_letters_seen,
    stepping,
)
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


async def test_the_api_shows_the_tree_with_restarts_and_the_dead_letters_as_they_come() -> None:
    async with ActorSystem("shown") as system, Dashboard(system) as url:
        parent = await system.spawn(Parent, name="parent")
        await parent.ask(("spawn", "child"))
        with pytest.raises(Boom):
            await parent.ask("fail")
        await parent.ask(("spawn", "child"))
        gone = await system.spawn(Parent, name="gone")
        await system.stop(gone)
        gone.tell("lost message")
        await dead_letters_seen(system)
        async with httpx.AsyncClient() as client:
            actors = (await client.get(url + "api/actors")).json()
            shown = {a["path"]: a for a in actors["actors"]}
            assert actors["system"] == "shown"
            assert shown["/user/parent"]["restarts"] == 1
            assert shown["/user/parent"]["class"] == "Parent"
            assert shown["/user/parent/child"]["state"] == "running"
            assert "/user/gone" not in shown
            letters = (await client.get(url + "api/dead-letters?since=0")).json()
            [letter] = letters["entries"]
            assert letter["message"] == "'lost message'"
            assert letter["recipient"] == "/user/gone"
            assert letters["total"] == system.statistics().dead_letters
            later = (await client.get(url + f"api/dead-letters?since={letter['seq']}")).json()
            assert later["entries"] == []
            overview = (await client.get(url + "api/overview")).json()
            assert set(overview) == {
                "session",
                "actors",
                "nodes",
                "jobs",
                "history",
                "dead-letters",
            }
            assert overview["nodes"] is None  # not a remote system
            assert overview["jobs"] == []


async def test_the_jobs_api_shows_counts_running_progress_and_failures_with_tracebacks(
    tmp_path: Path,
) -> None:
    gate = str(tmp_path)
    STEPS[gate] = [anyio.Event() for _ in range(2)]
    REPORTED[gate] = anyio.Event()
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, name="work") as queue,
        Dashboard(system) as url,
    ):
        bad = await queue.submit(tasks.fail, "it broke")
        with pytest.raises(ValueError, match="it broke"):
            await bad.result()
        running = await queue.submit(stepping, gate, 2)
        await REPORTED[gate].wait()
        del REPORTED[gate]
        async with httpx.AsyncClient() as client:
            [source] = (await client.get(url + "api/jobs")).json()
        assert (source["name"], source["store"], source["attached"]) == ("work", "memory", True)
        assert source["counts"]["failed"] == 1
        assert source["counts"]["running"] == 1
        [shown_running] = source["running"]
        assert shown_running["id"] == running.id
        assert shown_running["progress"] == {
            "done": 0,
            "total": 2,
            "fraction": 0.0,
            "note": "step 0",
        }
        [failed] = source["failed"]
        assert failed["error"] == "ValueError: it broke"
        assert "Traceback" in failed["traceback"]
        assert "in fail" in failed["traceback"]
        for event in STEPS.pop(gate):
            event.set()
        assert await running.result() == 2


async def test_retry_and_cancel_act_on_a_queue_with_the_csrf_token(tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    async with (
        ActorSystem("act") as system,
        JobQueue(system) as queue,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        bad = await queue.submit(tasks.fail_until_exists, str(marker))
        with pytest.raises(FileNotFoundError):
            await bad.result()
        waiting = await queue.submit(tasks.add, 1, 2, delay=3600)
        [source] = (await client.get(url + "api/jobs")).json()
        base = f"{url}api/jobs/{source['key']}"
        refused = await client.post(f"{base}/{bad.id}/retry")
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.text
        headers = {"X-CSRF-Token": await csrf_of(client, url)}
        assert (await client.post(f"{base}/{waiting.id}/retry", headers=headers)).json() == {
            "ok": False,
            "error": f"job {waiting.id} is not failed",
        }
        marker.touch()
        answer = await client.post(f"{base}/{bad.id}/retry", headers=headers)
        assert answer.json() == {"ok": True}
        again = await queue.get(bad.id)
        assert again is not None
        assert await again.result() == "found"
        cancel = await client.post(f"{base}/{waiting.id}/cancel", headers=headers)
        assert cancel.json() == {"ok": True}
        assert waiting.status() is JobStatus.CANCELLED
        assert (await client.post(f"{base}/{bad.id}/cancel", headers=headers)).status_code == 409
        unknown = await client.post(f"{url}api/jobs/nope/{bad.id}/retry", headers=headers)
        assert unknown.status_code == 404


async def test_metrics_are_the_observability_exposition_and_the_stores_job_counts() -> None:
    async with (
        ActorSystem("metrics") as system,
        JobQueue(system, name="q") as queue,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        await (await queue.submit(tasks.add, 1, 1)).result()
        gone = await system.spawn(Parent)
        await system.stop(gone)
        gone.tell("lost")
        answer = await client.get(url + "metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = answer.text.splitlines()
    assert "# TYPE actorlib_dead_letters_total counter" in lines
    assert 'actorlib_dead_letters_total{system="metrics"} 1' in lines
    # Per actor class (actorlib.observability), the dashboard's own subscriber included.
    assert any(line.startswith('actorlib_actors{system="metrics",') for line in lines)
    # The queue's own counters, and the store's jobs by status.
    assert 'actorlib_jobs_succeeded_total{queue="q"} 1' in lines
    assert 'actorlib_jobs{queue="q",store="memory",status="succeeded"} 1' in lines
    names = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(names) == len(set(names)), "a metric family is declared twice"
    # Prometheus's own parser reads the whole endpoint.
    families = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"actorlib_dead_letters", "actorlib_jobs", "actorlib_jobs_succeeded"} <= families
    samples = [line for line in lines if not line.startswith("#")]
    assert all(len(line.rsplit(" ", 1)) == 2 for line in samples)


async def test_oversized_bodies_unknown_paths_and_other_methods_are_refused() -> None:
    async with (
        ActorSystem("limits") as system,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        port = httpx.URL(url).port
        assert port is not None
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(
                f"POST /api/jobs/s1/x/retry HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Length: 100000\r\n\r\n".encode()
                + b"x" * 1000
            )
            answer = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    answer += await stream.receive()
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert answer.endswith(b"request body over 16384 bytes")
        assert (await client.get(url + "api/nothing")).status_code == 404
        assert (await client.get(url + "static/../_app.py")).status_code == 404
        assert (await client.delete(url + "api/actors")).status_code == 405


async def test_the_page_and_its_files_come_with_a_strict_content_security_policy() -> None:
    async with (
        ActorSystem("page") as system,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        page = await client.get(url)
        script = await client.get(url + "static/dashboard.js")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/dashboard.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "textContent" in script.text
    assert "innerHTML" not in script.text


async def test_a_dashboard_leaving_stops_its_listener_and_frees_its_port() -> None:
    async with ActorSystem("leave") as system:
        before = {a.path for a in system.actor_statistics()}
        dashboard = Dashboard(system)
        async with dashboard as url:
            assert dashboard.url == url
            assert len(system.actor_statistics()) == len(before) + 1
        assert {a.path for a in system.actor_statistics()} == before
        with pytest.raises(RuntimeError, match="not serving"):
            dashboard.url  # noqa: B018
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(url)


def test_dashboard_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="nothing to show"):
        Dashboard()
    with pytest.raises(TypeError, match="ActorSystem"):
        Dashboard("system")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memory store"):
        Dashboard(stores=["memory"])
    with pytest.raises(TypeError, match="list of store URLs"):
        Dashboard(stores="sqlite:///jobs.db")
    with pytest.raises(ValueError, match="refresh"):
        Dashboard(stores=["sqlite:///jobs.db"], refresh=0)
    with pytest.raises(ValueError, match="16 characters"):
        Dashboard(stores=["sqlite:///jobs.db"], token="short")


async def test_a_remote_system_shows_its_node_and_its_links() -> None:
    secret = "a-secret-shared-by-both-nodes"
    server = SocketTransport("tcp://127.0.0.1:0", secret=secret)
    client = SocketTransport(secret=secret)
    async with (
        ActorSystem("server", transport=server),
        ActorSystem("client", transport=client) as system,
        Dashboard(system) as url,
        httpx.AsyncClient() as http,
    ):
        assert server.address is not None
        peer = await client.connect(server.address)
        echo = await system.spawn(Parent, name="echo", node=peer)
        # The link's first frame carried a ping; its answer came with a later frame.
        with anyio.fail_after(5):
            while client.link_statistics()[0].rtt_count == 0:
                assert await echo.ask("hello") == "hello"
        [stats] = client.link_statistics()
        [link_object] = client.node.links.values()
        nodes = (await http.get(url + "api/nodes")).json()
    assert nodes["node"] == client.node_id
    assert nodes["address"] == client.address  # a unix socket, for its worker processes
    assert nodes["clusters"] == []
    [link] = nodes["links"]
    assert link["peer"] == server.node_id
    assert link["address"] == server.address
    assert link["state"] == "connected"
    assert link_object.channel is not None
    assert link["link_id"] == link_object.channel.session.link_id[:4].hex()
    assert len(link["link_id"]) == 8
    assert link["reconnects"] == 0
    for field in ("frames_sent", "frames_received", "bytes_sent", "bytes_received"):
        assert link[field] >= getattr(stats, field) > 0, field  # read after the stats
    assert stats.rtt_last is not None
    assert link["rtt_ms"] == pytest.approx(stats.rtt_last * 1000, abs=1e-3)
    assert link["rtt_mean_ms"] > 0
    assert peer.node_id == server.node_id
