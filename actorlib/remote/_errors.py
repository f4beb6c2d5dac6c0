"""The exceptions of actorlib.remote; knows nothing about links or nodes.

    ActorError (actorlib)
    └── RemoteError                 base of every error of actorlib.remote
        ├── AuthenticationError     a peer failed the shared-secret handshake
        │   └── IntegrityError      a frame after it was forged, replayed or lost
        ├── FrameTooLarge           a frame over the link's size limit
        ├── SerializationError      a message that cannot be pickled, or is refused
        └── NodeLost                the node hosting an actor went away

Attrs classes whose message is built from their fields: they pickle intact
across nodes, like the core's errors.
"""

from __future__ import annotations

import attrs

from actorlib import ActorError


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class RemoteError(ActorError):
    """Base class of every error raised by ``actorlib.remote``."""


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class AuthenticationError(RemoteError):
    """A peer did not prove that it knows the shared secret (or spoke another protocol).

    Attributes:
        peer: who the peer is (its address, or its node id when known).
        problem: what went wrong.
    """

    peer: str = ""
    problem: str = ""
    hint: str = ""

    def __str__(self) -> str:
        return f"refused the link with {self.peer}: {self.problem}{self.hint}"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class IntegrityError(AuthenticationError):
    """A frame on an authenticated link failed its check: forged, altered, replayed or lost.

    The link it arrived on is closed; nothing in the frame was decoded.

    Attributes:
        peer: the other end of the link.
        problem: what was wrong with the frame.
    """

    def __str__(self) -> str:
        return f"closed the link with {self.peer}: {self.problem}{self.hint}"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class FrameTooLarge(RemoteError):
    """A frame (a message, or a batch of them) is over the link's size limit.

    Attributes:
        size: the frame's size in bytes.
        limit: the link's limit in bytes.
        peer: the other end of the link.
    """

    size: int = 0
    limit: int = 0
    peer: str = ""

    def __str__(self) -> str:
        return (
            f"a frame of {self.size} bytes to or from {self.peer} is over the limit of "
            f"{self.limit} bytes; send smaller messages or raise max_frame on both nodes"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class SerializationError(RemoteError):
    """A message could not be serialized, or the serializer refused to load it.

    Attributes:
        what: the message's type or the refused global.
        problem: why.
    """

    what: str = ""
    problem: str = ""

    def __str__(self) -> str:
        return f"cannot serialize {self.what}: {self.problem}"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class NodeLost(RemoteError):
    """The node hosting an actor went away (its process died or its link dropped).

    Attributes:
        node: the lost node's id.
        path: the actor that was being reached, when known.
    """

    node: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = f" hosting {self.path}" if self.path else ""
        return (
            f"node {self.node}{where} was lost (its process died or its link dropped); "
            f"a supervisor with RESTART starts the actor again on a live node"
        )
