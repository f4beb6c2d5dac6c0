"""Lookups over NATS: asking the cluster for a path, answering for this node; knows no links."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ._nats_inbox import MAX_REQUEST, Inbox, answer, open_request
from ._nats_sealed import RefusalLog, ReplayCache, Sealer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from actorlib import ActorRef

    from ._node import Node

logger = logging.getLogger("actorlib.remote")


class Lookups:
    """A node's lookups of actor paths across the cluster, and its answers to the others'.

    Args:
        sealer: the key of lookups and their answers.
        subject: where lookups go (every node subscribes to it).
    """

    def __init__(self, sealer: Sealer, subject: str) -> None:
        self.sealer = sealer
        self.subject = subject
        self._seen = ReplayCache()

    async def reply(self, msg: Msg, client: Client, node: Node, refusals: RefusalLog) -> None:
        """Answer the lookup in *msg* if *node* has the actor (refused ones are logged)."""
        subject = self.subject
        opened = open_request(self.sealer, "lookup", subject, msg, self._seen, refusals)
        if opened is None:
            return
        try:
            ref = node.system.lookup(opened.body.decode())
        except (TypeError, ValueError):  # not UTF-8, or not a path: from a node of ours
            refusals.refuse(subject, "a lookup of something that is not a path")
            return
        if ref is not None and msg.reply:  # nodes without it keep quiet: the first answer wins
            owner, address, path, uid = node.encode_ref(ref)
            found = json.dumps([owner, address, path, uid]).encode()
            await answer(client, self.sealer, "lookup", opened, msg.reply, found)

    async def ask(self, inbox: Inbox, node: Node, body: bytes, wait: float) -> ActorRef[Any] | None:
        """The ref of the actor at the path in *body* (None: no node had it within *wait* s)."""
        try:
            # Lookups are idempotent: a try without an answer is asked again.
            found = await inbox.request(
                self.subject,
                self.sealer,
                "lookup",
                body,
                limit=MAX_REQUEST,
                wait=wait,
                per_try=min(wait, max(0.25, wait / 8)),
            )
        except Exception:
            return None  # nobody has it (a timeout), or NATS is gone
        try:
            owner, address, actor_path, uid = json.loads(found.body)
            return node.decode_ref((str(owner), address, str(actor_path), int(uid)))
        except (ValueError, TypeError) as error:  # authentic: a node of another version
            logger.warning("node %s got a malformed lookup answer: %r", node.node_id, error)
            return None
