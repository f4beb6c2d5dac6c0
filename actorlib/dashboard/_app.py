"""The dashboard's routes: the page, its static files, the JSON API, the two buttons, /metrics."""

from __future__ import annotations

import collections
import importlib.resources
import json
import logging
import re
import urllib.parse

import attrs

from ..jobs import JobQueue, JobStore, open_queues
from ..observability import CONTENT_TYPE
from ._auth import Guard
from ._http import Request, Response
from ._jobs_view import JobSource
from ._metrics import render
from ._system_view import SystemView

logger = logging.getLogger("actorlib.dashboard")

#: Points of the charts' history: one per tick.
HISTORY = 300

_STATIC = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
_ACTION = re.compile(r"^/api/jobs/([A-Za-z0-9_-]{1,64})/([A-Za-z0-9_.-]{1,128})/(retry|cancel)$")


@attrs.define(eq=False)
class State:
    """What the routes read: the system's view, the job sources, the charts' history."""

    view: SystemView | None
    sources: dict[str, JobSource] = attrs.field(factory=dict)
    # (wall-clock time, messages/s, jobs/s), one per tick, oldest first.
    history: collections.deque[tuple[float, float, float]] = attrs.field(
        factory=lambda: collections.deque(maxlen=HISTORY)
    )
    _keys: int = 0

    def add_source(self, name: str, store: JobStore, queue: JobQueue | None = None) -> None:
        """Show *store* (through *queue*, if given) under a new key."""
        self._keys += 1
        source = JobSource(f"s{self._keys}", name, store, queue)
        self.sources[source.key] = source

    def follow_queues(self) -> None:
        """Show the queues that opened on the system since the last look; drop closed ones."""
        if self.view is None:
            return
        queues = open_queues(self.view.system)
        for key, source in list(self.sources.items()):
            if source.queue is not None and source.queue not in queues:
                del self.sources[key]
        followed = {id(s.queue) for s in self.sources.values()}
        for queue in queues:
            if id(queue) not in followed:
                self.add_source(queue.name, queue.store, queue)


def _json(value: object, status: int = 200) -> Response:
    return Response(status, json.dumps(value).encode(), "application/json")


def _static(name: str) -> Response:
    data = importlib.resources.files("actorlib.dashboard").joinpath("static", name).read_bytes()
    return Response(200, data, _STATIC[name])


class App:
    """Routes requests; every one passes the `Guard` first."""

    def __init__(self, state: State, guard: Guard) -> None:
        self.state = state
        self.guard = guard

    async def __call__(self, request: Request) -> Response:
        refusal = self.guard.refusal(request)
        if refusal is not None:
            return Response(403 if self.guard.token is None else 401, refusal.encode())
        if request.method == "POST":
            refusal = self.guard.post_refusal(request)
            if refusal is not None:
                return Response(403, refusal.encode())
            return await self._act(request.path)
        if request.method != "GET":
            return Response(405, b"GET or POST only", headers=(("Allow", "GET, POST"),))
        return await self._read(request)

    async def _read(self, request: Request) -> Response:
        path = request.path
        if path == "/":
            page = _static("index.html")
            cookie = self.guard.set_cookie()
            return attrs.evolve(page, headers=(cookie,)) if cookie else page
        if path.startswith("/static/") and path.removeprefix("/static/") in _STATIC:
            return _static(path.removeprefix("/static/"))
        if path == "/metrics":
            return Response(200, await self._metrics(), CONTENT_TYPE)
        routes = {
            "/api/session": self._session,
            "/api/actors": self._actors,
            "/api/nodes": self._nodes,
            "/api/jobs": self._jobs,
            "/api/history": self._history,
        }
        query = urllib.parse.parse_qs(request.query)
        if path == "/api/dead-letters":
            return _json(self._dead_letters(query))
        if path == "/api/overview":
            overview = {name.removeprefix("/api/"): await route() for name, route in routes.items()}
            overview["dead-letters"] = self._dead_letters(query)
            return _json(overview)
        route = routes.get(path)
        if route is None:
            return Response(404, b"no such page: see /api/overview for the JSON API")
        return _json(await route())

    async def _session(self) -> object:
        view = self.state.view
        return {"csrf": self.guard.csrf, "system": None if view is None else view.system.name}

    async def _actors(self) -> object:
        return None if self.state.view is None else self.state.view.actors()

    async def _nodes(self) -> object:
        return None if self.state.view is None else self.state.view.nodes()

    async def _history(self) -> object:
        return {"points": [list(point) for point in self.state.history]}

    async def _jobs(self) -> object:
        self.state.follow_queues()
        shown = []
        for source in list(self.state.sources.values()):
            try:
                shown.append(await source.snapshot())
            except Exception as error:  # a store that is down is shown as such
                shown.append({"key": source.key, "name": source.name, "error": str(error)})
        return shown

    def _dead_letters(self, query: dict[str, list[str]]) -> object:
        if self.state.view is None:
            return None
        since = query.get("since", ["0"])[0]
        log = self.state.view.dead_letters
        return {
            "total": self.state.view.system.statistics().dead_letters,
            "entries": log.since(int(since) if since.isdigit() else 0),
        }

    async def _act(self, path: str) -> Response:
        match = _ACTION.match(path)
        if match is None:
            return Response(404, b"no such action: POST /api/jobs/<source>/<job id>/retry|cancel")
        key, job_id, action = match.groups()
        source = self.state.sources.get(key)
        if source is None:
            return _json({"ok": False, "error": f"no job source {key!r}"}, 404)
        done = await (source.retry(job_id) if action == "retry" else source.cancel(job_id))
        if not done:
            why = "not failed" if action == "retry" else "not waiting"
            return _json({"ok": False, "error": f"job {job_id} is {why}"}, 409)
        logger.info("dashboard: %s of job %s in %s", action, job_id, source.name)
        return _json({"ok": True})

    async def _metrics(self) -> bytes:
        rows = []
        for source in list(self.state.sources.values()):
            try:
                counts = await source.store.counts()
            except Exception:
                continue  # a store that is down has no counts to show
            rows.append((source.name, source.store.url, {s.value: n for s, n in counts.items()}))
        view = self.state.view
        queues = [s.queue for s in self.state.sources.values() if s.queue is not None]
        return render(None if view is None else view.system, queues, rows).encode()
