"""Members of a cluster and the events about them; plain data, no I/O."""

from __future__ import annotations

import json
import re
from typing import Literal

import attrs

NODE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
ROLE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# The largest member entry accepted (before it is decrypted).
MAX_ENTRY = 8192


@attrs.frozen
class Member:
    """A live member of the cluster, as it last announced itself.

    Attributes:
        node_id: its node id (the transport's).
        address: where its node is reached (``nats:<node id>``).
        roles: what it hosts (``cluster.register(..., role=...)`` kinds of that role).
        joined: when it joined, by its own wall clock (seconds since the epoch).
        actors: its live actors, at its last heartbeat.
        ready: its actors with messages waiting for a worker, at its last heartbeat.
        kinds: the entity kinds it hosts.
        regions: the uid of its region of each kind it hosts (how other
            members address it).
    """

    node_id: str
    address: str
    roles: frozenset[str] = frozenset()
    joined: float = 0.0
    actors: int = 0
    ready: int = 0
    kinds: frozenset[str] = frozenset()
    regions: tuple[tuple[str, int], ...] = ()

    def encode(self) -> bytes:
        """Its entry's plaintext (JSON)."""
        return json.dumps(
            {
                "node": self.node_id,
                "address": self.address,
                "roles": sorted(self.roles),
                "joined": self.joined,
                "actors": self.actors,
                "ready": self.ready,
                "kinds": sorted(self.kinds),
                "regions": [list(pair) for pair in self.regions],
            }
        ).encode()

    @classmethod
    def decode(cls, node_id: str, plaintext: bytes) -> Member | None:
        """The member in an authentic entry for *node_id*, or None if it is malformed."""
        try:
            data = json.loads(plaintext)
            member = cls(
                node_id=data["node"],
                address=data["address"],
                roles=frozenset(data["roles"]),
                joined=float(data["joined"]),
                actors=int(data["actors"]),
                ready=int(data["ready"]),
                kinds=frozenset(data["kinds"]),
                regions=tuple((str(kind), int(uid)) for kind, uid in data["regions"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        names = member.roles | member.kinds
        if (
            member.node_id != node_id
            or member.address != f"nats:{node_id}"
            or not all(isinstance(name, str) and ROLE.fullmatch(name) for name in names)
        ):
            return None
        return member


@attrs.frozen
class MemberUp:
    """A member joined (or came back after it had been declared lost).

    Published on the system's event stream of every member, itself included.

    Attributes:
        member: who.
    """

    member: Member


@attrs.frozen
class MemberDown:
    """A member is gone.

    Attributes:
        member: who (as it last announced itself).
        reason: ``"left"`` (it left cleanly: seen at once) or ``"lost"`` (its
            heartbeats stopped: killed, frozen or cut off; seen within the
            cluster's ``down_after`` plus about 0.3 s).
    """

    member: Member
    reason: Literal["left", "lost"]
