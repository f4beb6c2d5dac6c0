"""Sealed requests over NATS: one inbox per node, and the first authentic answer wins.

nats-py's own request() takes the first message that reaches the inbox,
which anyone who saw the request's reply subject can publish to. Here each
request waits for an answer that opens under its key, bound to its id; a
forged answer is refused and logged, and the request keeps waiting. A node
receiving a request opens it once (`open_request`) and seals its answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from actorlib._clock import TimerQueue, move_on_after

from ._nats_sealed import Opened, RefusalLog, Refused, ReplayCache, Sealer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

_NO_RESPONDERS = "503"  # the status of the server's answer when nobody listens
# The largest link request or lookup accepted: both are tiny (a path is
# short); anything larger is refused before it is decrypted.
MAX_REQUEST = 2048


class NoResponders(LookupError):
    """Nobody subscribes to the subject a request went to."""


@attrs.define
class _Waiting:
    sealer: Sealer
    kind: str
    reply: str
    request: bytes
    limit: int
    done: anyio.Event = attrs.Factory(anyio.Event)
    answer: Opened | None = None
    no_responders: bool = False


class Inbox:
    """This node's inbox for answers to its sealed requests.

    Args:
        client: the node's NATS connection.
        refusals: where refused answers are logged.
        timers: the system's timer queue: requests wait and retry on its clock.
    """

    def __init__(self, client: Client, refusals: RefusalLog, timers: TimerQueue) -> None:
        self.client = client
        self.refusals = refusals
        self.timers = timers
        self.prefix = client.new_inbox()
        self._waiting: dict[str, _Waiting] = {}
        self._subscription: Any = None

    async def start(self) -> None:
        """Subscribe to the inbox."""
        self._subscription = await self.client.subscribe(f"{self.prefix}.*", cb=self._on_answer)

    async def _on_answer(self, msg: Msg) -> None:
        token = msg.subject[len(self.prefix) + 1 :]
        waiting = self._waiting.get(token)
        if waiting is None or waiting.done.is_set():
            return  # a late answer (another node's, or to a try given up), or noise
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            waiting.no_responders = True
            waiting.done.set()
            return
        try:
            waiting.answer = waiting.sealer.open(
                waiting.kind,
                waiting.reply,
                msg.data,
                limit=waiting.limit,
                answers=waiting.request,
            )
        except Refused as error:
            self.refusals.refuse("this node's inbox", error)
            return
        waiting.done.set()

    async def request(
        self,
        subject: str,
        sealer: Sealer,
        kind: str,
        body: bytes,
        *,
        limit: int,
        wait: float,
        per_try: float | None = None,
        sealed: Callable[[bytes], None] | None = None,
    ) -> Opened:
        """Publish a sealed request of *kind*; the authentic answer (``kind + " answer"``).

        Core NATS delivers at most once: a request or its answer can be
        lost, so a try without an answer within *per_try* is sealed anew
        (a new id: receivers refuse replays) and published again, until
        *wait* runs out. Only idempotent requests are tried more than once.

        Args:
            subject: where the request goes.
            sealer: the key of this kind of request and its answers.
            kind: the kind of request.
            body: what it carries.
            limit: the largest answer body expected.
            wait: seconds to wait for an answer in all.
            per_try: seconds per try (default: *wait*, a single try).
            sealed: called with each try's message id before it is published.

        Raises:
            TimeoutError: no authentic answer within *wait*.
            NoResponders: nobody subscribes to *subject*.
            Exception: what nats-py raised otherwise (the connection is closed).
        """
        timers = self.timers
        clock = timers.clock
        deadline = clock.now() + wait
        per_try = wait if per_try is None else per_try
        # Every try stays answerable until the request ends: on a busy
        # machine the answer to a try can come after the next try went out.
        done = anyio.Event()
        tries: list[_Waiting] = []
        try:
            while True:
                token = secrets.token_hex(8)
                reply = f"{self.prefix}.{token}"
                request, data = sealer.seal(kind, subject, body, reply=reply)
                if sealed is not None:
                    sealed(request)
                waiting = _Waiting(sealer, kind + " answer", reply, request, limit, done)
                self._waiting[token] = waiting
                tries.append(waiting)
                await self.client.publish(subject, data, reply=reply)
                remaining = deadline - clock.now()
                with move_on_after(timers, max(min(per_try, remaining), 0.01)):
                    await done.wait()
                for answered in tries:
                    if answered.answer is not None:
                        return answered.answer
                if any(answered.no_responders for answered in tries):
                    raise NoResponders(subject)
                if remaining <= per_try:
                    raise TimeoutError(f"no answer on {subject} within {wait:g} s")
        finally:
            for answered in tries:
                self._waiting.pop(answered.reply[len(self.prefix) + 1 :], None)


def open_request(
    sealer: Sealer, kind: str, subject: str, msg: Msg, seen: ReplayCache, refusals: RefusalLog
) -> Opened | None:
    """The authentic, fresh, first-seen request in *msg* (None: refused and logged)."""
    try:
        if not msg.reply:
            raise Refused("no reply subject to answer on")
        opened = sealer.open(kind, subject, msg.data, limit=MAX_REQUEST, reply=msg.reply)
        seen.admit(opened, sealer)
    except Refused as error:
        refusals.refuse(subject, error)
        return None
    return opened


def answer(
    client: Client, sealer: Sealer, kind: str, request: Opened, reply: str, body: bytes
) -> Any:
    """The coroutine publishing the sealed answer to *request* (of *kind*) on *reply*."""
    _, data = sealer.seal(kind + " answer", reply, body, answers=request.id)
    return client.publish(reply, data)
