"""The dashboard in a real headless browser (Debian's chromium and chromium-driver, via selenium).

The test's system runs on the event loop while selenium, which blocks, runs
in a worker thread; the page updates itself by polling, so every check waits
for the page (WebDriverWait) and none reloads it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from actorlib import ActorSystem
from actorlib.dashboard import Dashboard
from actorlib.jobs import JobHandle, JobQueue
from actorlib.remote import MemoryNetwork, MemoryTransport, NodeTransport
from tests.dashboard.support import STEPS, Boom, Parent, stepping
from tests.jobs import tasks

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

T = TypeVar("T")
SECRET = b"dashboard-test-secret-0123456789"

WAIT = 15.0  # seconds a page change may take (the page polls every second)


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    """chromium and chromedriver; under CI=true their absence fails the test."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = (
            "the browser test needs chromium and chromedriver: "
            "apt-get install -y chromium chromium-driver"
        )
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium, driver


def open_browser(chromium: str, driver: str) -> WebDriver:
    """A headless chromium driven through the system's chromedriver (nothing downloaded)."""
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root (CI does)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1600",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


class Page:
    """The page in the browser; each call runs in a worker thread, off the event loop."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def run(self, script: str, *args: object) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.driver.execute_script(script, *args))

    async def until(self, script: str, *args: object) -> Any:
        """Wait until *script* returns something truthy in the page; return it."""

        def wait() -> Any:
            return WebDriverWait(self.driver, WAIT).until(
                lambda d: d.execute_script(script, *args),
                message=f"the page never satisfied: {script}",
            )

        return await anyio.to_thread.run_sync(wait)

    async def text_of(self, selector: str) -> str:
        """The text of the first element matching *selector*, once there is one."""
        found = await self.until(
            "const e = document.querySelector(arguments[0]); return e && e.textContent;", selector
        )
        return str(found)


async def in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


# A class whose name is markup: actor class names reach the page as text.
Evil = type("<script>window.__xss = 'class'</script>", (Parent,), {})
CELL = "tr[data-path='{path}'] td.{column}"
# Scripts run in the page: arguments[0] is a CSS selector.
PRESENT = "return document.querySelector(arguments[0]);"
GONE = "return !document.querySelector(arguments[0]);"
TEXT_IS = (
    "const e = document.querySelector(arguments[0]); return e && e.textContent === arguments[1];"
)
VALUE_NEAR = (
    "const e = document.querySelector(arguments[0]); "
    "return e && Math.abs(e.value - arguments[1]) < 1e-6;"
)


async def failed_job(
    queue: JobQueue, function: Callable[..., Any], *args: object
) -> JobHandle[Any]:
    handle = await queue.submit(function, *args)
    with contextlib.suppress(Exception):
        await handle.result()
    return handle


async def test_the_page_shows_actors_jobs_and_dead_letters_live_and_retries_a_job(
    browser_paths: tuple[str, str], tmp_path: Path
) -> None:
    marker, gate = tmp_path / "fixed", str(tmp_path)
    STEPS[gate] = [anyio.Event() for _ in range(3)]
    async with ActorSystem("browser") as system, JobQueue(system, name="work") as queue:
        parent = await system.spawn(Parent, name="parent")
        await system.spawn(Evil, name="evil")
        broken = await failed_job(queue, tasks.fail_until_exists, str(marker))
        await failed_job(queue, tasks.fail, "<img src=x onerror=\"window.__xss='job'\">")
        running = await queue.submit(stepping, gate, 3)
        async with Dashboard(system, refresh=0.2) as url:
            driver = await in_thread(lambda: open_browser(*browser_paths))
            page = Page(driver)
            try:
                await in_thread(lambda: driver.get(url))
                await page.run("window.__loaded = 'once';")
                restarts = CELL.format(path="/user/parent", column="restarts")
                assert await page.text_of(restarts) == "0"

                # An actor spawned now appears without a reload.
                await system.spawn(Parent, name="late")
                await page.until(PRESENT, "tr[data-path='/user/late']")

                # A failure shows as a restart.
                with pytest.raises(Boom):
                    await parent.ask("fail")
                await page.until(TEXT_IS, restarts, "1")

                # The running job's progress bar moves.
                bar = f"tr.job-running[data-job='{running.id}'] progress"
                await page.until(VALUE_NEAR, bar, 0)
                STEPS[gate][0].set()
                await page.until(VALUE_NEAR, bar, 1 / 3)

                # A dead letter with markup in it shows as text.
                gone = await system.spawn(Parent, name="gone")
                await system.stop(gone)
                gone.tell("<script>window.__xss = 'letter'</script>")
                letter = await page.text_of("#dead-letters li")
                assert "<script>window.__xss = 'letter'</script>" in letter

                # Retry the dead-letter job once its cause is fixed: it succeeds.
                marker.touch()
                retry = f"tr.job-failed[data-job='{broken.id}'] button.retry"
                await page.until(PRESENT, retry)
                await page.run("document.querySelector(arguments[0]).click();", retry)
                # The click's POST is answered before the page redraws without the row.
                await page.until(GONE, f"tr.job-failed[data-job='{broken.id}']")
                again = await queue.get(broken.id)
                assert again is not None
                assert await again.result() == "found"
                await page.until(TEXT_IS, "#jobs .count-succeeded", "succeeded 1")

                # Markup in a class name, a job error or a message never ran.
                body = await page.run("return document.body.textContent;")
                assert "<script>window.__xss = 'class'</script>" in body
                assert "onerror=\"window.__xss='job'\"" in body
                assert await page.run("return window.__xss === undefined;")
                assert await page.run("return window.__loaded;") == "once"  # never reloaded
                await page.run("document.querySelector('#jobs details')?.setAttribute('open', '');")
                await in_thread(lambda: driver.save_screenshot(str(tmp_path / "dashboard.png")))
                assert (tmp_path / "dashboard.png").stat().st_size > 10_000
            finally:
                await in_thread(driver.quit)
                for event in STEPS.pop(gate):
                    event.set()
        assert await running.result() == 3


async def test_the_page_shows_a_remote_systems_links_with_their_peers_live(
    browser_paths: tuple[str, str], tmp_path: Path
) -> None:
    network = MemoryNetwork()
    here: NodeTransport = MemoryTransport(network, secret=SECRET)
    there: NodeTransport = MemoryTransport(network, secret=SECRET)
    async with (
        ActorSystem("there", transport=there),
        ActorSystem("here", transport=here) as system,
        Dashboard(system, refresh=0.2) as url,
    ):
        driver = await in_thread(lambda: open_browser(*browser_paths))
        page = Page(driver)
        try:
            await in_thread(lambda: driver.get(url))
            await page.run("window.__loaded = 'once';")
            node = await page.text_of("#node")
            assert node.startswith(f"node {here.node_id}")
            assert (
                await page.run("return document.querySelectorAll('#links tbody tr').length;") == 0
            )

            # A link made now appears, with its peer, without a reload.
            peer = await here.connect(there.address or "")
            row = f"#links tr[data-peer='{peer.node_id}']"
            await page.until(TEXT_IS, row + " td.state", "connected")
            assert await page.text_of(row + " td.peer") == there.node_id
            [link] = here.node.links.values()
            assert link.channel is not None
            assert await page.text_of(row + " td.link-id") == link.channel.session.link_id[:4].hex()

            # Traffic on it shows its round-trip time (a ping rides its first frames).
            echo = await system.spawn(Parent, name="echo", node=peer)
            with anyio.fail_after(WAIT):
                while here.link_statistics()[0].rtt_count == 0:
                    assert await echo.ask("hello") == "hello"
            await page.until(
                "const e = document.querySelector(arguments[0]);"
                "return e && /^[0-9.]+, [0-9.]+$/.test(e.textContent);",
                row + " td.rtt",
            )
            assert await page.run("return window.__loaded;") == "once"  # never reloaded
            await in_thread(lambda: driver.save_screenshot(str(tmp_path / "links.png")))
        finally:
            await in_thread(driver.quit)
