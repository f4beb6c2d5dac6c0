"""Where a new activation goes: rendezvous (highest random weight) hashing; pure functions.

Every member computes the same choice from the same list of members, and
when a member joins or leaves, only the keys that member wins (or won)
move: ``1/n`` of them, the least any scheme can move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def weight(kind: str, key: str, node: str) -> bytes:
    """The weight of *node* for *key* of entity *kind*: a hash, compared as bytes."""
    return hashlib.sha256(b"\0".join((kind.encode(), key.encode(), node.encode()))).digest()


def preferred(kind: str, key: str, nodes: Iterable[str]) -> str | None:
    """The node that should host *key* among *nodes* (None if there are none)."""
    return max(nodes, key=lambda node: weight(kind, key, node), default=None)
