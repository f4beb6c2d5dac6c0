"""``python -m actorlib.cluster``: list a cluster's members; run a member that hosts entities.

``python -m actorlib.remote node --cluster NAME`` runs the same member
(`entity_kinds`, `hosting`): its command line is a composition root, the one
module of the remote layer allowed to import this one, and only when asked.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from actorlib import ActorSystem, run
from actorlib.remote import NatsTransport
from actorlib.remote._auth import secret_from_env
from actorlib.remote._cli import add_heartbeat_argument, nats_heartbeat, wait_for_stop
from actorlib.remote._nats import DEFAULT_HEARTBEAT

from ._cluster import Cluster
from ._entity import Entity
from ._errors import ClusterError
from ._jetstream import JetStreamKV
from ._kv import Bucket
from ._members import MAX_ENTRY, NODE_ID, Member
from ._membership import PREFIX


def _transport(args: argparse.Namespace) -> NatsTransport:
    try:
        return NatsTransport(
            args.nats,
            secret=secret_from_env(args.secret_env),
            prefix=args.prefix,
            heartbeat=nats_heartbeat(args),
        )
    except (ValueError, TypeError) as error:
        raise SystemExit(f"python -m actorlib.cluster {args.command}: {error}") from None


async def read_members(transport: NatsTransport, name: str) -> list[Member]:
    """The live members of cluster *name*, read from its bucket without joining it.

    Raises:
        ClusterError: the bucket cannot be opened.
    """
    client = transport._client
    assert client is not None
    store = JetStreamKV(client.jetstream(), f"{transport.prefix}-cluster-{name}")
    await store.open()
    bucket = Bucket(store, store.name, transport.secret)
    found: list[Member] = []
    watcher = await bucket.watch(PREFIX)
    try:
        async for entry in watcher:
            if entry is None:
                break
            node_id = entry.key[len(PREFIX) :]
            plaintext = bucket.unseal(entry.key, entry.value, limit=MAX_ENTRY)
            if entry.op == "put" and plaintext is not None and NODE_ID.fullmatch(node_id):
                member = Member.decode(node_id, plaintext)
                if member is not None:
                    found.append(member)
    finally:
        await watcher.stop()
    return sorted(found, key=lambda member: member.node_id)


def table(members: Sequence[Member], now: float) -> str:
    """The members as a text table: node, roles, age, load and hosted kinds."""
    rows = [("node", "roles", "up", "actors", "ready", "entities")]
    for m in members:
        up = f"{max(0.0, now - m.joined):.0f}s"
        kinds = ",".join(sorted(m.kinds)) or "-"
        roles = ",".join(sorted(m.roles)) or "-"
        rows.append((m.node_id, roles, up, str(m.actors), str(m.ready), kinds))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


async def _members(args: argparse.Namespace) -> None:
    transport = _transport(args)
    async with ActorSystem("cluster-cli", transport=transport):
        try:
            members = await read_members(transport, args.name)
        except ClusterError as error:
            raise SystemExit(str(error)) from None
    print(table(members, transport.wall()))
    print(f"{len(members)} member(s) in cluster {args.name}")


def entity_kinds(module_names: Sequence[str]) -> list[type[Entity]]:
    """Every `Entity` subclass that the modules *module_names* define, for ``--import``.

    Raises:
        SystemExit: a module fails to import, or defines no entity kind: a
            member that was asked to host kinds and hosts none would join and
            take no key, which nobody would notice.
    """
    return [cls for name in module_names for cls in _kinds_of(name)]


def _kinds_of(module_name: str) -> list[type[Entity]]:
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # whatever it raised, the member cannot host its kinds
        raise SystemExit(
            f"--import {module_name}: the module failed to import "
            f"({type(error).__name__}: {error}); check its name and PYTHONPATH"
        ) from None
    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Entity) and cls is not Entity and cls.__module__ == module.__name__
    ]
    if not classes:
        raise SystemExit(
            f"--import {module_name}: it defines no Entity subclass, so the member would "
            "host nothing; import the module that defines your entity kinds"
        )
    return classes


@asynccontextmanager
async def hosting(
    system: ActorSystem,
    *,
    name: str,
    roles: Sequence[str],
    kinds: Sequence[type[Entity]],
    idle_timeout: float | None,
) -> AsyncIterator[Cluster]:
    """*system* as a member of cluster *name* hosting *kinds*; prints ``member <id> joined``
    once it is ready and ``member <id> leaving`` when it leaves."""
    async with Cluster.join(system, name=name, roles=set(roles)) as cluster:
        for cls in kinds:
            await cluster.register(cls, idle_timeout=idle_timeout)
        hosted = ", ".join(cls.__name__ for cls in kinds) or "no entities"
        print(f"member {cluster.node_id} joined cluster {name} ({hosted})", flush=True)
        try:
            yield cluster
        finally:
            print(f"member {cluster.node_id} leaving", flush=True)


async def _member(args: argparse.Namespace) -> None:
    kinds = entity_kinds(args.imports)
    transport = _transport(args)
    async with (
        ActorSystem(args.system, transport=transport) as system,
        hosting(
            system, name=args.name, roles=args.roles, kinds=kinds, idle_timeout=args.idle_timeout
        ),
    ):
        await wait_for_stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``python -m actorlib.cluster members|member ...``."""
    parser = argparse.ArgumentParser(prog="python -m actorlib.cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    for command, text in (
        ("members", "print the live members of a cluster and their load"),
        ("member", "run a member that hosts the entity kinds of some modules"),
    ):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("--nats", required=True, help="the NATS server, nats://host:port")
        sub.add_argument("--name", required=True, help="the cluster's name")
        sub.add_argument("--secret-env", required=True, help="variable holding the secret")
        sub.add_argument("--prefix", default="actorlib", help="the transport's subject prefix")
    member = commands.choices["member"]
    member.add_argument("--role", dest="roles", action="append", default=[])
    member.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="register every Entity subclass this module defines",
    )  # fmt: skip
    member.add_argument("--idle-timeout", type=float, default=120.0)
    member.add_argument("--system", default="member", help="the actor system's name")
    add_heartbeat_argument(member, f"{DEFAULT_HEARTBEAT:g}, as NatsTransport's")
    commands.choices["members"].set_defaults(heartbeat=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s: %(message)s")
    try:
        run(_members if args.command == "members" else _member, args, backend="asyncio")
    except KeyboardInterrupt:
        sys.exit(130)
