"""A ref to a NATS queue group: each tell or ask goes to one member, on any node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorlib import ActorRef
from actorlib._messages import PENDING, Envelope, ReplySlot
from actorlib._ref import AskContext

from ._errors import RemoteError
from ._nats_inbox import NoResponders

if TYPE_CHECKING:
    from ._groups import Groups

# How long a group ask waits for NATS at most; the ask's own timeout is
# enforced by its reply slot, usually much sooner.
_REQUEST_LIMIT = 3600.0


class GroupTarget:
    """The Target of a group's ref: tells and asks go to one member each."""

    __slots__ = ("groups", "name", "path", "subject", "uid")

    def __init__(self, groups: Groups, name: str) -> None:
        self.groups = groups
        self.name = name
        self.subject = groups.subject(name)
        self.path = f"actorlib://group/{name}"
        self.uid = 0

    def ask_context(self) -> AskContext:
        """The local system's."""
        return self.groups.node.system.ask_context

    def _payload(self, message: object, sender: ActorRef[Any] | None) -> bytes:
        node = self.groups.node
        return node.serializer.dumps((message, sender), node)

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """Publish to the group: one member gets it.

        Raises:
            SerializationError: the message cannot be serialized.
        """
        self.groups.send(self.subject, self._payload(message, sender))

    def post(self, envelope: Envelope) -> None:
        """A tell, or an ask answered by the member that gets it.

        Raises:
            SerializationError: the message cannot be serialized.
        """
        slot = envelope.reply
        if slot is None:
            self.tell(envelope.message, envelope.sender)
            return
        payload = self._payload(envelope.message, envelope.sender)
        self.groups.node.system._start_runtime_task(lambda: self._request(payload, slot))

    async def _request(self, payload: bytes, slot: ReplySlot) -> None:
        groups = self.groups
        node = groups.node
        try:
            answer = await groups.inbox.request(
                self.subject,
                groups.sealer,
                "group",
                groups.body(payload),
                limit=node.max_frame,
                wait=_REQUEST_LIMIT,
                sealed=groups.issue,
            )
        except Exception as error:
            why = "nobody subscribes" if isinstance(error, NoResponders) else repr(error)
            slot.set_error(
                RemoteError(reason=f"no member of group {self.name} answered ({why}); "
                            f"join actors to it with transport.join_group({self.name!r}, ref)")
            )  # fmt: skip
            return
        try:
            decoded = node.serializer.loads(answer.body, node)
        except RemoteError as error:
            slot.set_error(error)
            return
        if not (isinstance(decoded, tuple) and len(decoded) == 2):
            slot.set_error(RemoteError(reason=f"a malformed reply from group {self.name}"))
            return
        ok, value = decoded
        if ok:
            slot.set_result(value)
        else:
            slot.set_error(
                value if isinstance(value, BaseException) else RemoteError(reason=repr(value))
            )

    def post_ask(self, envelope: Envelope) -> object:
        """As `post`: the members are in other processes."""
        self.post(envelope)
        return PENDING

    async def post_wait(self, envelope: Envelope) -> None:
        """As a tell: a group has no mailbox of its own to wait for."""
        self.post(envelope)

    def post_system(self, message: object) -> None:
        """A group is never stopped nor watched: runtime messages have no effect."""
