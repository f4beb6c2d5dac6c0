"""A cluster member in a process of its own, for the tests: joins, reports, leaves on SIGTERM.

``python -m tests.cluster.member URL CLUSTER [--down-after S] [--role R]``
prints ``joined <node id>`` once it is a member, then ``up <node>`` and
``down <node> <reason>`` for every member event. SIGTERM makes it leave
cleanly and exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import anyio

import actorlib
from actorlib import Actor, ActorSystem
from actorlib.cluster import Cluster, MemberDown, MemberUp
from actorlib.remote import NatsTransport


class Reporter(Actor):
    """Prints member events on stdout, one line each."""

    async def receive(self, message: object) -> None:
        if isinstance(message, MemberUp):
            say(f"up {message.member.node_id}")
        elif isinstance(message, MemberDown):
            say(f"down {message.member.node_id} {message.reason}")


def say(line: str) -> None:
    """One line on stdout, at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(options: argparse.Namespace) -> None:
    transport = NatsTransport(options.url, secret=os.environ["CLUSTER_SECRET"])
    async with ActorSystem("member", transport=transport) as system:
        reporter = await system.spawn(Reporter, name="reporter")
        system.events.subscribe(reporter, MemberUp)
        system.events.subscribe(reporter, MemberDown)
        roles = [options.role] if options.role else []
        async with Cluster.join(
            system, name=options.cluster, roles=roles, down_after=options.down_after
        ) as cluster:
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
    actorlib.run(main, parser.parse_args(), backend="asyncio")
