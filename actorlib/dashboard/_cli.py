"""The command lines: ``python -m actorlib.dashboard --store URL``, ``python -m actorlib top``."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys

import anyio

from .._run import run
from ._dashboard import Dashboard
from ._top import top_connected


def main(argv: list[str] | None = None) -> int:
    """``python -m actorlib.dashboard``: serve the job part for stores, until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m actorlib.dashboard",
        description="Serve the dashboard's job view for job stores, with no actor system.",
    )
    parser.add_argument(
        "--store",
        action="append",
        required=True,
        metavar="URL",
        help="sqlite:///jobs.db or postgresql://user@host/db; repeatable",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    parser.add_argument(
        "--token", default=None, help="the secret clients present (generated off loopback)"
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    options = parser.parse_args(argv)
    try:
        return int(run(_serve, options, backend=options.backend) or 0)
    except (OSError, ValueError, RuntimeError, sqlite3.Error) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


async def _serve(options: argparse.Namespace) -> int:
    dashboard = Dashboard(
        stores=options.store, host=options.host, port=options.port, token=options.token
    )
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with dashboard as url:
            print(f"dashboard at {url}", flush=True)
            async for _ in signals:
                break
    return 0


def top_main(argv: list[str] | None = None) -> int:
    """``python -m actorlib top --connect URL``: the busiest actors of a served dashboard."""
    parser = argparse.ArgumentParser(
        prog="python -m actorlib top",
        description="Show the busiest actors of a system, refreshed, read from its dashboard.",
    )
    parser.add_argument(
        "--connect",
        required=True,
        metavar="URL",
        help="the URL a Dashboard printed (with its ?token= if it has one)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    parser.add_argument("--rows", type=int, default=20, help="actors shown (default 20)")
    parser.add_argument(
        "-n", "--iterations", type=int, default=None, help="stop after this many refreshes"
    )
    options = parser.parse_args(argv)
    try:
        top_connected(
            options.connect,
            interval=options.interval,
            rows=options.rows,
            refreshes=options.iterations,
        )
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return 0
