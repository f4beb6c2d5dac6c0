"""``python -m actorlib.remote``: a standalone node, and the worker processes' entry point."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

import anyio

from actorlib import Actor, ActorSystem, run

from ._auth import secret_from_env
from ._nats import DEFAULT_HEARTBEAT, NatsTransport
from ._socket import SocketTransport

logger = logging.getLogger("actorlib.remote")


def _actor_class(spec: str) -> tuple[str, type[Actor]]:
    name, sep, path = spec.partition("=")
    module_name, colon, class_name = path.partition(":")
    if not (sep and colon and name and module_name and class_name):
        raise SystemExit(f"--spawn expects NAME=package.module:Class, got {spec!r}")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise SystemExit(f"--spawn {spec!r}: {path} is not an Actor subclass")
    return name, cls


def _transport(args: argparse.Namespace) -> SocketTransport | NatsTransport:
    """The node's transport; a bad argument (a short secret, say) exits with one line."""
    try:
        secret = secret_from_env(args.secret_env)
        if args.listen.startswith(("nats://", "tls://")):
            # On NATS the node "listens" on its subjects of that server.
            return NatsTransport(
                args.listen, secret=secret, node_id=args.node_id, heartbeat=nats_heartbeat(args)
            )
        return SocketTransport(
            args.listen,
            secret=secret,
            public=args.public,
            node_id=args.node_id,
            heartbeat=args.heartbeat,
        )
    except (ValueError, TypeError) as error:
        # The user's configuration, not a bug: the message is all they need.
        raise SystemExit(f"python -m actorlib.remote node: {error}") from None


def nats_heartbeat(args: argparse.Namespace) -> float:
    """``--heartbeat`` for a `NatsTransport` (none given: its default)."""
    return DEFAULT_HEARTBEAT if args.heartbeat is None else float(args.heartbeat)


def add_heartbeat_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--heartbeat SECONDS``: how fast a silent peer is lost, against how long a
    pause (a blocked event loop, a slow network) a peer may take without being lost."""
    parser.add_argument(
        "--heartbeat", type=float, default=None, metavar="SECONDS",
        help=f"seconds between frames on an idle link; a link silent for four is lost "
        f"(default: {default})",
    )  # fmt: skip


def _check_cluster_options(args: argparse.Namespace) -> None:
    """--role and --import only with --cluster, and a cluster only on NATS."""
    if args.cluster is None:
        for option, given in (("--role", args.roles), ("--import", args.imports)):
            if given:
                raise SystemExit(
                    f"python -m actorlib.remote node: {option} is for a cluster member; "
                    "add --cluster NAME"
                )
    elif not args.listen.startswith(("nats://", "tls://")):
        raise SystemExit(
            f"python -m actorlib.remote node: --cluster needs a NATS server with JetStream, "
            f"got --listen {args.listen}; use --listen nats://host:port"
        )


async def _node(args: argparse.Namespace) -> None:
    _check_cluster_options(args)
    if args.cluster is not None:
        # The composition root's one upward import (pyproject.toml's contract
        # lets this module, and no other of the remote layer, name the
        # cluster): made only when asked, so a plain node never loads it.
        from actorlib.cluster._cli import entity_kinds, hosting

        kinds = entity_kinds(args.imports)  # refuses before anything starts
    transport = _transport(args)
    async with ActorSystem(args.name, transport=transport) as system:
        for spec in args.spawn:
            name, cls = _actor_class(spec)
            await system.spawn(cls, name=name)
        print(f"node {transport.node_id} listening on {transport.address}", flush=True)
        if args.cluster is None:
            await wait_for_stop()
        else:
            async with hosting(
                system,
                name=args.cluster,
                roles=args.roles,
                kinds=kinds,
                idle_timeout=args.idle_timeout,
            ):
                await wait_for_stop()
        print(f"node {transport.node_id} stopping", flush=True)


async def wait_for_stop() -> None:
    """Return on SIGINT or SIGTERM (a node's, or a cluster member's, way to stop)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def _worker(args: argparse.Namespace) -> None:
    transport = SocketTransport(
        args.listen, secret=secret_from_env(args.secret_env), node_id=args.node_id
    )
    async with ActorSystem(args.node_id, transport=transport):
        peer = await transport.connect(args.connect)
        link = await peer.link()
        # The parent owns this process: when its link goes, so does the worker.
        await link.wait_closed()


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``python -m actorlib.remote node|worker ...``."""
    parser = argparse.ArgumentParser(prog="python -m actorlib.remote")
    commands = parser.add_subparsers(dest="command", required=True)
    node = commands.add_parser("node", help="a standalone node hosting actors")
    node.add_argument(
        "--listen", required=True, help="unix:/path, tcp://host:port, or a nats://host:port server"
    )
    node.add_argument("--secret-env", required=True, help="variable holding the secret")
    node.add_argument("--spawn", action="append", default=[], metavar="NAME=module:Class")
    node.add_argument("--name", default="node", help="the actor system's name")
    node.add_argument("--node-id", default=None)
    node.add_argument("--public", action="store_true", help="allow a non-loopback address")
    node.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    node.add_argument(
        "--cluster", default=None, metavar="NAME",
        help="join this actorlib.cluster (needs --listen nats://...)",
    )  # fmt: skip
    node.add_argument(
        "--role", dest="roles", action="append", default=[], help="a role in the cluster"
    )
    node.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="host every Entity subclass this module defines (with --cluster)",
    )  # fmt: skip
    node.add_argument("--idle-timeout", type=float, default=120.0, help="entities' idle timeout")
    add_heartbeat_argument(node, f"5 on TCP, none on a Unix socket, {DEFAULT_HEARTBEAT:g} on NATS")
    worker = commands.add_parser("worker", help="(internal) a worker process of a system")
    worker.add_argument("--connect", required=True)
    worker.add_argument("--listen", required=True)
    worker.add_argument("--node-id", required=True)
    worker.add_argument("--secret-env", required=True)
    worker.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args(argv)
    # A worker's parent reports what matters (its node lost, its actors restarted).
    level = logging.WARNING if args.command == "node" else logging.ERROR
    logging.basicConfig(level=level, format="%(name)s %(levelname)s: %(message)s")
    try:
        run(_node if args.command == "node" else _worker, args, backend=args.backend)
    except KeyboardInterrupt:
        sys.exit(130)
