"""actorlib.dashboard: a live web dashboard and a terminal view of a running system.

``async with Dashboard(system, port=0) as url:`` serves a page that shows
the supervision tree, dead letters, job queues (with retry and cancel) and
remote links live, with its JSON API under ``/api/`` and ``/metrics``;
``python -m actorlib.dashboard --store URL`` serves the job part alone for a
SQLite or PostgreSQL store; `top` (and ``python -m actorlib top --connect
URL``) shows the busiest actors in a terminal. It reads everything and
nothing imports it. It needs the extra: ``pip install "actorlib[dashboard]"``.
"""

from __future__ import annotations

try:
    import h11 as _h11  # noqa: F401 - the one dependency of the extra, checked up front
except ImportError as _error:  # pragma: no cover - the tests install the extra
    raise ImportError(
        'actorlib.dashboard needs the h11 package: pip install "actorlib[dashboard]"'
    ) from _error

from ._dashboard import Dashboard
from ._top import top

__all__ = ["Dashboard", "top"]
