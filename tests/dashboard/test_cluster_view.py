"""The dashboard of a cluster member lists the cluster's members (a real nats-server with
JetStream), in its JSON API and on the page."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Cluster, joined_clusters
from actorlib.dashboard import Dashboard
from actorlib.remote import NatsTransport
from tests.cluster.conftest import SECRET, js_server
from tests.dashboard.test_browser import (
    PRESENT,
    TEXT_IS,
    Page,
    browser_paths,
    in_thread,
    open_browser,
)
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

__all__ = ["browser_paths", "js_server"]  # fixtures, used by name


@pytest.fixture
def anyio_backend() -> str:
    """nats-py runs on asyncio only."""
    return "asyncio"


async def test_the_dashboard_lists_the_members_of_the_cluster_its_system_joined(
    js_server: NatsServer, browser_paths: tuple[str, str], tmp_path: Path
) -> None:
    async with (
        ActorSystem("front", transport=NatsTransport(js_server.url, secret=SECRET)) as front,
        ActorSystem("back", transport=NatsTransport(js_server.url, secret=SECRET)) as back,
        Dashboard(front, refresh=0.2) as url,
        httpx.AsyncClient() as http,
    ):
        assert (await http.get(url + "api/nodes")).json()["clusters"] == []
        async with (
            Cluster.join(front, name="dash", roles={"web"}) as cluster,
            Cluster.join(back, name="dash", roles={"worker", "batch"}) as other,
        ):
            with anyio.fail_after(10):
                await cluster.wait_members(2)
            assert joined_clusters(front) == (cluster,)
            assert joined_clusters(back) == (other,)
            nodes = (await http.get(url + "api/nodes")).json()
            [shown] = nodes["clusters"]
            assert shown["name"] == "dash"
            assert shown["node"] == cluster.node_id == nodes["node"]
            members = {member["node_id"]: member for member in shown["members"]}
            assert set(members) == {cluster.node_id, other.node_id}
            assert members[cluster.node_id]["roles"] == ["web"]
            assert members[other.node_id]["roles"] == ["batch", "worker"]
            assert members[other.node_id]["address"] == f"nats:{other.node_id}"
            for member in cluster.members():
                assert members[member.node_id]["joined"] == member.joined
                assert members[member.node_id]["actors"] == member.actors

            driver = await in_thread(lambda: open_browser(*browser_paths))
            page = Page(driver)
            try:
                await in_thread(lambda: driver.get(url))
                row = "#clusters tr[data-member='{}'] td.{}"
                await page.until(TEXT_IS, row.format(other.node_id, "roles"), "batch, worker")
                mine = await page.text_of(row.format(cluster.node_id, "node"))
                assert mine == f"{cluster.node_id} (this node)"

                # A member that leaves is gone from the page, without a reload.
                await other.leave()
                await page.until(
                    "return !document.querySelector(arguments[0]);",
                    f"#clusters tr[data-member='{other.node_id}']",
                )
                await page.until(PRESENT, f"#clusters tr[data-member='{cluster.node_id}']")
                await in_thread(lambda: driver.save_screenshot(str(tmp_path / "cluster.png")))
            finally:
                await in_thread(driver.quit)
        # Left: no cluster to show.
        assert joined_clusters(front) == joined_clusters(back) == ()
        assert (await http.get(url + "api/nodes")).json()["clusters"] == []
        with pytest.raises(TypeError, match="expects an ActorSystem"):
            joined_clusters(url)  # type: ignore[arg-type]
