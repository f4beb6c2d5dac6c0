"""Events about entity activations, published on the event stream of the member hosting them."""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen
class EntityStarted:
    """An activation of an entity started on this member (its first message, or a move).

    Attributes:
        kind: the entity kind.
        key: the entity's key.
        node_id: this member's node id.
        token: the activation's fencing token (its lease's revision when it started).
    """

    kind: str
    key: str
    node_id: str
    token: int


@attrs.frozen
class EntityStopped:
    """An activation of an entity on this member ended.

    Attributes:
        kind: the entity kind.
        key: the entity's key.
        node_id: this member's node id.
        token: the activation's last fencing token.
        reason: ``"idle"`` (passivated), ``"lease lost"`` (not renewed in
            time, or taken over), ``"left"`` (this member left the cluster),
            ``"rebalanced"`` (handed off to a member that joined and is now
            its preferred host), or ``"failed"`` (it failed and its supervisor
            stopped it).
    """

    kind: str
    key: str
    node_id: str
    token: int
    reason: Literal["idle", "lease lost", "left", "rebalanced", "failed"]
