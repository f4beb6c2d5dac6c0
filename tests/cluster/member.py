"""A cluster member in a process of its own, for the tests: joins, reports, leaves on SIGTERM.

``python -m tests.cluster.member URL CLUSTER [--down-after S] [--role R] [--carts]``
prints ``joined <node id>`` once it is a member, then ``up <node>`` and
``down <node> <reason>`` for every member event, and ``started <key>
<token>`` and ``stopped <key> <token> <reason>`` for every entity event (and ``working
<key>`` when a cart starts a ``("work", seconds)`` message). SIGTERM makes it leave
cleanly and exit. With ``--carts`` it hosts `Cart` entities, and each
message a cart handles is a row in the SQLite file ``$CLUSTER_LOG.<pid>``
(if $CLUSTER_LOG is set): the key, the activation and the time, for the
overlap checks.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sqlite3
import sys
import time

import anyio

import actorlib
from actorlib import Actor, ActorSystem
from actorlib.cluster import (
    Cluster,
    Entity,
    EntityStarted,
    EntityStopped,
    LeaseTiming,
    MemberDown,
    MemberUp,
)
from actorlib.remote import NatsTransport


class Reporter(Actor):
    """Prints member and entity events on stdout, one line each."""

    async def receive(self, message: object) -> None:
        match message:
            case MemberUp(member=member):
                say(f"up {member.node_id}")
            case MemberDown(member=member, reason=reason):
                say(f"down {member.node_id} {reason}")
            case EntityStarted(key=key, token=token):
                say(f"started {key} {token}")
            case EntityStopped(key=key, token=token, reason=reason):
                say(f"stopped {key} {token} {reason}")


# Short leases for the tests: 2 s, valid 0.75 s after each write, renewed every 0.25 s.
TIMING = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=1.0)


class Cart(Entity):
    """A shopping cart: ("add", item) persists the items; "get" answers (key, items, node)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.activation = secrets.token_hex(4)

    async def on_start(self) -> None:
        state = self.entity.state
        self.items = list(state) if isinstance(state, list) else []

    async def receive(self, message: object) -> object:
        log_message(self.entity.key, self.activation)
        match message:
            case ("add", str(item)):
                self.items.append(item)
                await self.entity.persist(self.items)
                return len(self.items)
            case "get":
                return (self.entity.key, list(self.items), self.context.system.name)
            case ("work", float(seconds)):
                # A handler that keeps running (a row every 50 ms) until it ends or
                # its activation is fenced: what the partition test watches.
                say(f"working {self.entity.key}")
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    log_message(self.entity.key, self.activation)
                    await anyio.sleep(0.05)
                return "worked"
        raise ValueError(f"a cart does not understand {message!r}")


class Worker(Actor):
    """Placed through the cluster: answers "where" with its system's name, counts "incr"."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    async def receive(self, message: object) -> object:
        if message == "incr":
            self.count += 1
            return self.count
        return self.context.system.name


_log: sqlite3.Connection | None = None


def log_message(key: str, activation: str) -> None:
    """One row per handled message in $CLUSTER_LOG.<pid> (the side database of the overlap checks).

    A file per member process, one connection kept open, no fsync: a member
    never waits for another's lock (it would block its event loop, past its
    leases, as the handler runs), and a SIGKILL loses nothing written.
    """
    global _log
    path = os.environ.get("CLUSTER_LOG")
    if not path:
        return
    if _log is None:
        _log = sqlite3.connect(f"{path}.{os.getpid()}", isolation_level=None)
        _log.execute("PRAGMA journal_mode = WAL")
        _log.execute("PRAGMA synchronous = OFF")
        _log.execute("CREATE TABLE IF NOT EXISTS handled (key TEXT, activation TEXT, at REAL)")
    _log.execute("INSERT INTO handled VALUES (?, ?, ?)", (key, activation, time.time()))


def say(line: str) -> None:
    """One line on stdout, at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(options: argparse.Namespace) -> None:
    transport = NatsTransport(options.url, secret=os.environ["CLUSTER_SECRET"])
    async with ActorSystem(options.system, transport=transport) as system:
        reporter = await system.spawn(Reporter, name="reporter")
        system.events.subscribe(reporter, MemberUp)
        system.events.subscribe(reporter, MemberDown)
        system.events.subscribe(reporter, EntityStarted)
        system.events.subscribe(reporter, EntityStopped)
        roles = [options.role] if options.role else []
        async with Cluster.join(
            system, name=options.cluster, roles=roles, down_after=options.down_after
        ) as cluster:
            if options.carts:
                await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
            say(f"joined {cluster.node_id}")
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    break
        say("left")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("cluster")
    parser.add_argument("--down-after", type=float, default=3.0)
    parser.add_argument("--role", default="")
    parser.add_argument("--system", default="member")
    parser.add_argument("--carts", action="store_true")
    actorlib.run(main, parser.parse_args(), backend="asyncio")
