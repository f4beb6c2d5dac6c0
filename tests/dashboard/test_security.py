"""Who may read and act: tokens off loopback, the Host check on loopback, CSRF and origins."""

from __future__ import annotations

import logging

import httpx
import pytest

from actorlib import ActorSystem
from actorlib.dashboard import Dashboard
from actorlib.jobs import JobQueue
from tests.dashboard.support import csrf_of
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


def local(url: str) -> tuple[str, str | None]:
    """The loopback base URL of a dashboard bound to 0.0.0.0, and its token."""
    parsed = httpx.URL(url)
    return f"http://127.0.0.1:{parsed.port}/", parsed.params.get("token")


async def test_a_dashboard_bound_off_loopback_makes_a_token_and_refuses_requests_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib")
    async with (
        ActorSystem("guarded") as system,
        Dashboard(system, host="0.0.0.0") as url,
        httpx.AsyncClient() as client,
    ):
        base, token = local(url)
        assert token is not None
        assert len(token) >= 24
        for path in ("", "api/actors", "api/overview", "metrics", "static/dashboard.js"):
            refused = await client.get(base + path)
            assert refused.status_code == 401, path
            assert token not in refused.text
        wrong = await client.get(
            base + "api/actors", headers={"Authorization": "Bearer " + "x" * 32}
        )
        assert wrong.status_code == 401
        assert (await client.get(base + "api/actors?token=" + "y" * 32)).status_code == 401
        bearer = await client.get(base + "api/actors", headers={"Authorization": f"Bearer {token}"})
        assert bearer.json()["system"] == "guarded"
        page = await client.get(base + f"?token={token}")
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        # The page's own requests carry the cookie the page load set.
        assert (await client.get(base + "api/actors")).status_code == 200
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("actorlib")]
    assert not [line for line in ours if token in line]  # httpx logs its URLs: not ours


async def test_a_token_given_on_loopback_is_required_too() -> None:
    token = "a-long-enough-secret-token"
    async with (
        ActorSystem("guarded") as system,
        Dashboard(system, token=token) as url,
        httpx.AsyncClient() as client,
    ):
        assert url.endswith(f"?token={token}")
        base = url.partition("?")[0]
        assert (await client.get(base + "api/actors")).status_code == 401
        assert (await client.get(url)).status_code == 200


async def test_a_loopback_dashboard_refuses_a_foreign_host_header_against_dns_rebinding() -> None:
    async with (
        ActorSystem("rebound") as system,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        foreign = await client.get(url + "api/session", headers={"Host": "evil.example:80"})
        assert foreign.status_code == 403
        assert "csrf" not in foreign.text
        port = httpx.URL(url).port
        named = await client.get(url + "api/actors", headers={"Host": f"localhost:{port}"})
        assert named.status_code == 200


async def test_a_post_needs_the_csrf_token_and_the_dashboards_own_origin() -> None:
    async with (
        ActorSystem("posts") as system,
        JobQueue(system) as queue,
        Dashboard(system) as url,
        httpx.AsyncClient() as client,
    ):
        waiting = await queue.submit(tasks.add, 1, 2, delay=3600)
        [source] = (await client.get(url + "api/jobs")).json()
        cancel = f"{url}api/jobs/{source['key']}/{waiting.id}/cancel"
        csrf = await csrf_of(client, url)
        wrong = await client.post(cancel, headers={"X-CSRF-Token": "z" * len(csrf)})
        assert wrong.status_code == 403
        cross = await client.post(
            cancel, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        assert "another origin" in cross.text
        assert not waiting.done()
        own = httpx.URL(url)
        same = await client.post(
            cancel, headers={"X-CSRF-Token": csrf, "Origin": f"http://{own.host}:{own.port}"}
        )
        assert same.json() == {"ok": True}
        assert waiting.done()
