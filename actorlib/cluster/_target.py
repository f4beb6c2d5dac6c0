"""The Target behind ``cluster.entity(Kind, key)``: every message goes to the local region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorlib._messages import PENDING, Envelope
from actorlib._ref import AskContext

from ._region_messages import EntityMessage

if TYPE_CHECKING:
    from actorlib import ActorRef


class EntityTarget:
    """Wraps each message with its key and posts it to this member's region of the kind.

    An entity ref has no mailbox of its own: it is a name. It is not
    watched (an activation comes and goes), and travels as its key: pass
    the key in messages, not the ref.
    """

    __slots__ = ("key", "name", "path", "region", "uid")

    def __init__(self, region: ActorRef[Any], kind: str, key: str) -> None:
        self.region = region
        self.key = key
        self.name = key
        self.path = f"actorlib://entity/{kind}/{key}"
        self.uid = 0

    def ask_context(self) -> AskContext:
        """The local region's (this system's)."""
        return self.region._target.ask_context()

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """To the region, with the key."""
        self.region._target.tell(EntityMessage(self.key, message), sender)

    def post(self, envelope: Envelope) -> None:
        """To the region, with the key; an ask keeps its reply slot."""
        wrapped = Envelope(
            EntityMessage(self.key, envelope.message), envelope.sender, envelope.reply
        )
        self.region._target.post(wrapped)

    def post_ask(self, envelope: Envelope) -> object:
        """As `post`: the reply comes from the activation, wherever it is."""
        self.post(envelope)
        return PENDING

    async def post_wait(self, envelope: Envelope) -> None:
        """Waits for room in the local region's mailbox."""
        wrapped = Envelope(
            EntityMessage(self.key, envelope.message), envelope.sender, envelope.reply
        )
        await self.region._target.post_wait(wrapped)

    def post_system(self, message: object) -> None:
        """An entity ref is a name: stop and watch have no effect on it."""
