"""An attacker on the NATS server, without the secret, against the messages outside links.

The attacker is a plain nats-py client of the same (real) server: it reads
every subject, replays what it captured, and publishes forgeries. Link
frames have tests of their own; these cover link requests, lookups, group
messages, claims and all their answers.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import nats
import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import NatsTransport
from actorlib.remote._nats_connect import wait_subscribed
from actorlib.remote._nats_sealed import Sealer
from tests.nats_server import NatsServer

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio

FOUND = 10.0  # lookups expected to succeed return at the answer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


class Counter(Actor):
    """Counts what it handles; answers asks with a secret value."""

    def __init__(self, secret_value: bytes = b"") -> None:
        self.secret_value = secret_value
        self.handled = 0

    async def receive(self, message: object) -> object:
        if message == "handled":
            return self.handled
        self.handled += 1
        return self.secret_value


class Attacker:
    """A plain NATS client with no secret: it captures everything it can read."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.captured: list[tuple[str, bytes, str]] = []

    async def capture(self, subject: str = ">") -> None:
        async def keep(msg: Any) -> None:
            self.captured.append((msg.subject, msg.data, msg.reply or ""))

        await self.client.subscribe(subject, cb=keep)
        # Not flush(): nats-py's PING can overtake a pending SUB (see wait_subscribed).
        await wait_subscribed(self.client)

    def on(self, subject: str) -> list[tuple[str, bytes, str]]:
        return [item for item in self.captured if item[0] == subject]

    async def publish(self, subject: str, data: bytes, reply: str = "") -> None:
        await self.client.publish(subject, data, reply=reply)
        await wait_subscribed(self.client)  # the server has it: routed before what follows


@asynccontextmanager
async def attacker(server: NatsServer) -> AsyncIterator[Attacker]:
    client = await nats.connect(server.url)
    try:
        yield Attacker(client)
    finally:
        await client.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


def refused(*transports: NatsTransport) -> int:
    return sum(transport._refusals.count for transport in transports)


@asynccontextmanager
async def cluster(server: NatsServer, count: int) -> AsyncIterator[list[NatsTransport]]:
    """*count* nodes on *server*, sharing the secret."""
    transports = [
        NatsTransport(server.url, secret=SECRET, lookup_timeout=FOUND) for _ in range(count)
    ]
    async with AsyncExitStack() as stack:
        for i, transport in enumerate(transports):
            await stack.enter_async_context(ActorSystem(f"n{i}", transport=transport))
        yield transports


async def test_an_eavesdropper_on_every_subject_never_reads_a_group_reply_or_a_looked_up_path(
    nats_server: NatsServer,
) -> None:
    secret_value = b"the-vault-combination-8675309"
    path = "ledger-of-secret-accounts"
    async with attacker(nats_server) as eve, cluster(nats_server, 3) as (member, asker, other):
        await eve.capture(">")  # every subject: actorlib.> and the inboxes of answers
        vault = await member.node.system.spawn(Counter, secret_value)
        await member.join_group("vault", vault)
        await other.node.system.spawn(Counter, name=path)
        assert await asker.group("vault").ask("open sesame") == secret_value
        found = await asker.lookup(path)
        assert found is not None
        assert found.path.endswith(path)
        await eve.publish("sentinel", b"")  # routed after everything above
        await wait_until(lambda: bool(eve.on("sentinel")))
        assert len(eve.captured) > 4  # it did see the traffic...
        seen = b"".join(
            subject.encode() + data + reply.encode() for subject, data, reply in eve.captured
        )
        assert secret_value not in seen  # ...but not what it carried
        assert path.encode() not in seen
        assert b"open sesame" not in seen


async def test_a_group_tell_replayed_three_times_is_handled_exactly_once_across_two_members(
    nats_server: NatsServer, remote_log: LogProbe
) -> None:
    async with attacker(nats_server) as eve, cluster(nats_server, 3) as transports:
        m1, m2, sender = transports
        members = [
            await m1.node.system.spawn(Counter),
            await m2.node.system.spawn(Counter),
        ]
        await m1.join_group("counter", members[0])
        await m2.join_group("counter", members[1])
        await eve.capture("actorlib.group.counter")

        async def handled() -> int:
            return sum([await member.ask("handled") for member in members])

        sender.group("counter").tell("once")
        await wait_until(lambda: len(eve.on("actorlib.group.counter")) == 1)
        with anyio.fail_after(10):
            while await handled() < 1:
                await anyio.lowlevel.checkpoint()
        ((_, tell, _),) = eve.on("actorlib.group.counter")
        for _ in range(3):
            await eve.publish("actorlib.group.counter", tell)
        await wait_until(lambda: refused(m1, m2) == 3)
        assert await handled() == 1
        await remote_log.wait_for("refused a message on actorlib.group.counter: a replay")
        sender.group("counter").tell("again")  # legitimate traffic goes on
        with anyio.fail_after(10):
            while await handled() < 2:
                await anyio.lowlevel.checkpoint()
        assert await handled() == 2


async def test_a_replayed_group_ask_runs_once_and_a_forged_copy_is_refused_and_logged_once(
    nats_server: NatsServer, remote_log: LogProbe
) -> None:
    async with attacker(nats_server) as eve, cluster(nats_server, 2) as (member_node, asker):
        member = await member_node.node.system.spawn(Counter, b"answer")
        await member_node.join_group("asked", member)
        await eve.capture("actorlib.group.asked")
        await eve.capture("_INBOX.>")
        assert await asker.group("asked").ask("question") == b"answer"
        await wait_until(lambda: len(eve.on("actorlib.group.asked")) == 1)
        ((_, ask, reply),) = eve.on("actorlib.group.asked")

        await eve.publish("actorlib.group.asked", ask, reply)  # a replay, as captured
        await eve.publish("actorlib.group.asked", ask, "_INBOX.eve")  # answered to eve
        forged = ask[:-1] + bytes([ask[-1] ^ 1])
        await eve.publish("actorlib.group.asked", forged, reply)
        await wait_until(lambda: refused(member_node) == 3)
        assert await member.ask("handled") == 1
        assert not eve.on("_INBOX.eve")
        forgeries = [line for line in remote_log.lines if "does not open" in line]
        assert len(forgeries) == 1  # one line per refusal, even with two of that kind
        assert "refused a message on actorlib.group.asked" in forgeries[0]
        assert await asker.group("asked").ask("question") == b"answer"  # still works
        assert await member.ask("handled") == 2


class Evil:
    """Unpickled, it creates a marker file: proof that attacker code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


async def test_forgeries_and_a_code_carrying_pickle_on_every_subject_have_no_effect(
    nats_server: NatsServer, tmp_path: Path, remote_log: LogProbe
) -> None:
    marker = tmp_path / "attacker-code-ran"
    evil = pickle.dumps(Evil(marker))
    async with attacker(nats_server) as eve, cluster(nats_server, 2) as (target, asker):
        member = await target.node.system.spawn(Counter, b"fine")
        await target.join_group("pool", member)
        await target.node.system.spawn(Counter, name="registered")
        await eve.capture("_INBOX.>")
        node = target.node_id
        inbox = target._inbox.prefix if target._inbox else ""
        subjects = [
            "actorlib.lookup",
            f"actorlib.accept.{node}",
            "actorlib.group.pool",
            f"actorlib.claim.{node}",
        ]
        payloads = [
            evil,
            b"\x00" * 32 + evil,  # the old HMAC-in-front layout
            b"\x02" + bytes(12) + evil,  # the sealed layout, with a forged inside
            b"/user/registered",  # a lookup in clear
            b'{"link": "00112233445566778899", "from": "eve"}',  # a link request in clear
            b'["eve", "nats:eve", "/user/registered", 1]',  # a lookup answer in clear
            b"\x02" + bytes(1 << 20),  # oversized
        ]
        for subject in subjects:
            for payload in payloads:
                await eve.publish(subject, payload, "_INBOX.eve.answers")
        for payload in payloads:  # forged answers, to this node's inbox
            await eve.publish(f"{inbox}.forged", payload)
        await wait_until(lambda: refused(target) >= len(subjects) * len(payloads))

        assert not marker.exists()
        assert not eve.on("_INBOX.eve.answers")  # nothing was answered
        assert all("Traceback" not in line for line in remote_log.lines)
        assert await asker.group("pool").ask("still up?") == b"fine"
        found = await asker.lookup("registered")
        assert found is not None
        assert await found.ask("handled") == 0
        assert not marker.exists()


async def test_a_lookup_sealed_with_the_real_key_is_refused_when_stale_or_replayed(
    nats_server: NatsServer, remote_log: LogProbe
) -> None:
    async with attacker(nats_server) as eve, cluster(nats_server, 2) as (target, _):
        await target.node.system.spawn(Counter, name="timely")
        await eve.capture("_INBOX.test.>")
        lookups = Sealer(SECRET, "actorlib", "lookup")

        async def ask(reply: str, **options: Any) -> bytes:
            _, data = lookups.seal("lookup", "actorlib.lookup", b"timely", reply=reply, **options)
            await eve.publish("actorlib.lookup", data, reply)
            return data

        fresh = await ask("_INBOX.test.fresh")  # the control: this one is answered
        await wait_until(lambda: bool(eve.on("_INBOX.test.fresh")))
        await ask("_INBOX.test.old", timestamp=time.time() - 120)
        await remote_log.wait_for("stale: sealed 120")
        await ask("_INBOX.test.future", timestamp=time.time() + 120)
        await wait_until(lambda: refused(target) == 2)  # logged as "n more like it" later
        await eve.publish("actorlib.lookup", fresh, "_INBOX.test.fresh")
        await wait_until(lambda: refused(target) == 3)
        await remote_log.wait_for("a replay (its id was seen within the freshness window)")
        await eve.publish("sentinel", b"")
        assert len(eve.on("_INBOX.test.fresh")) == 1
        assert not eve.on("_INBOX.test.old")
        assert not eve.on("_INBOX.test.future")


async def test_a_freshness_window_that_is_not_a_positive_number_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="freshness must be a number of seconds > 0"):
        NatsTransport(freshness=0)
