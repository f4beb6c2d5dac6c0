"""The terminal view: the busiest actors, refreshed like ``top``, in-process or from a dashboard.

Plain ANSI (clear the screen, go home) on a terminal; on anything else each
refresh is printed below the last, so a log or a test can read it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any, TextIO

import anyio

from .. import ActorSystem
from ._system_view import SystemView

CLEAR = "\x1b[H\x1b[2J"
_COLUMNS = f"{'MSG/S':>9} {'MAILBOX':>7} {'RESTARTS':>8} {'HANDLED':>9}  {'STATE':<10} PATH (CLASS)"


def render(snapshot: dict[str, Any], rates: dict[str, float], rows: int) -> str:
    """One screen: the system's counters, then the *rows* busiest actors.

    Busiest: the highest message rate first, then the deepest mailbox.
    """
    stats = snapshot["statistics"]
    actors = snapshot["actors"]
    total = sum(rates.values())
    lines = [
        f"actorlib top - system {snapshot['system']}: {stats['actors']} actors, "
        f"{total:.1f} msg/s, {stats['dead_letters']} dead letters, "
        f"workers {stats['workers']} ({stats['idle_workers']} idle), ready {stats['ready']}",
        "",
        _COLUMNS,
    ]
    busiest = sorted(actors, key=lambda a: (-rates.get(a["path"], 0.0), -a["mailbox"], a["path"]))
    for actor in busiest[:rows]:
        lines.append(
            f"{rates.get(actor['path'], 0.0):>9.1f} {actor['mailbox']:>7} {actor['restarts']:>8} "
            f"{actor['handled']:>9}  {actor['state']:<10} {actor['path']} ({actor['class']})"
        )
    if len(busiest) > rows:
        lines.append(f"... {len(busiest) - rows} more")
    return "\n".join(lines)


class _Rates:
    """Messages per second of each actor, from the handled counts of two snapshots."""

    def __init__(self) -> None:
        self.last: tuple[float, dict[str, int]] | None = None

    def update(self, snapshot: dict[str, Any], now: float) -> dict[str, float]:
        handled = {a["path"]: int(a["handled"]) for a in snapshot["actors"]}
        rates: dict[str, float] = {}
        if self.last is not None:
            then, before = self.last
            elapsed = max(now - then, 1e-9)
            rates = {p: max(0, n - before.get(p, 0)) / elapsed for p, n in handled.items()}
        self.last = (now, handled)
        return rates


def _show(stream: TextIO, screen: str) -> None:
    stream.write((CLEAR if stream.isatty() else "\n") + screen + "\n")
    stream.flush()


async def top(
    system: ActorSystem,
    *,
    interval: float = 1.0,
    rows: int = 20,
    refreshes: int | None = None,
    stream: TextIO | None = None,
) -> None:
    """Show the busiest actors of *system* in the terminal, refreshed every *interval* s.

    The in-process form of ``python -m actorlib top``, for scripts: run it
    in a task beside the work (it returns after *refreshes* screens, or runs
    until cancelled when None). Rates show from the second screen on.

    Raises:
        TypeError: *system* is not an ActorSystem.
        ValueError: a non-positive *interval* or *rows*.
    """
    if not isinstance(system, ActorSystem):
        raise TypeError(f"top() expects an ActorSystem, got {system!r}")
    _check(interval, rows)
    out = sys.stdout if stream is None else stream
    view, rates = SystemView(system), _Rates()
    shown = 0
    while refreshes is None or shown < refreshes:
        if shown:
            await anyio.sleep(interval)
        snapshot = view.actors()
        _show(out, render(snapshot, rates.update(snapshot, anyio.current_time()), rows))
        shown += 1


def _check(interval: float, rows: int) -> None:
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
        raise ValueError(f"interval must be a number of seconds > 0, got {interval!r}")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be an int >= 1, got {rows!r}")


def fetch_actors(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """``/api/actors`` of the dashboard at *url* (its printed URL, token included).

    Raises:
        ValueError: *url* is not an http URL, or the dashboard shows no system.
        OSError: nothing answers, or it refuses (a missing or wrong token).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.netloc:
        raise ValueError(
            f"--connect expects a dashboard URL like http://127.0.0.1:8000/, got {url!r}"
        )
    token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
    request = urllib.request.Request(f"http://{parts.netloc}/api/actors")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        found: object = json.loads(answer.read())
    if not isinstance(found, dict):
        raise ValueError(f"the dashboard at {parts.netloc} shows job stores only, no system")
    return found


def top_connected(
    url: str,
    *,
    interval: float = 1.0,
    rows: int = 20,
    refreshes: int | None = None,
    stream: TextIO | None = None,
) -> None:
    """``python -m actorlib top --connect URL``: the same view, read from a dashboard's API."""
    _check(interval, rows)
    out = sys.stdout if stream is None else stream
    rates = _Rates()
    shown = 0
    while refreshes is None or shown < refreshes:
        if shown:
            time.sleep(interval)
        snapshot = fetch_actors(url)
        _show(out, render(snapshot, rates.update(snapshot, time.monotonic()), rows))
        shown += 1
