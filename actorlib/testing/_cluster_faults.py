"""The faults of a simulated cluster: of its network's messages, and of its nodes at chosen steps.

Message faults strike the n-th message from one node to another (either
may be None: any) when the schedule chooses it. Node faults strike
before the schedule's step number ``at``, counted from the moment every
node has joined (1: before the first delivery of the test's own run): a
partition and its heal, a node's crash and restart, a step of a node's
clock. Each shows in the cluster's trace; a fault whose step never comes
(the run ended first) does nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import attrs

# The JetStream server (the cluster's KV store) as a partition names it.
KV = "kv"


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1 (1 is the first), got {value!r}")


def _node(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise TypeError(f"{attribute.name} must be a node's name, got {value!r}")


def _name(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{attribute.name} must be a node's name, got {value!r}")


def _finite(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number of seconds, got {value!r}")


def _positive_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    _finite(_, attribute, value)
    if value <= 0:
        raise ValueError(f"{attribute.name} must be seconds > 0, got {value!r}")


@attrs.frozen
class NetworkDrop:
    """The n-th message from node *sender* to node *to* (None: any) is lost in the network."""

    sender: str | None = attrs.field(default=None, validator=_node)
    to: str | None = attrs.field(default=None, validator=_node)
    nth: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class NetworkDuplicate:
    """The n-th message from *sender* to *to* (None: any) arrives twice, one after the other."""

    sender: str | None = attrs.field(default=None, validator=_node)
    to: str | None = attrs.field(default=None, validator=_node)
    nth: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class NetworkDelay:
    """The n-th message from *sender* to *to* waits *seconds* of virtual time first.

    The messages behind it from the same sender to the same node wait too
    (per-publisher order holds, as on NATS).
    """

    seconds: float = attrs.field(validator=_positive_seconds)
    sender: str | None = attrs.field(default=None, validator=_node)
    to: str | None = attrs.field(default=None, validator=_node)
    nth: int = attrs.field(default=1, validator=_positive)


def _groups(value: Iterable[Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    groups = []
    for group in value:
        if isinstance(group, str):
            raise TypeError(f"a partition's group is a set of node names, got the string {group!r}")
        groups.append(tuple(sorted(group)))
    return tuple(groups)


@attrs.frozen
class Partition:
    """Before step *at*, split the nodes into *groups* (the nodes not named form one more).

    Nodes on different sides lose every message between them. The
    JetStream server (the cluster's KV store, named ``"kv"``) is on the
    side of the group that names it, else of the largest group (the first
    of the largest): a member on another side cannot read or write it.
    A new partition replaces the one before.
    """

    groups: tuple[tuple[str, ...], ...] = attrs.field(converter=_groups)
    at: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class Heal:
    """Before step *at*, end the partition: every node reaches every other again."""

    at: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class CrashNode:
    """Before step *at*, node *node* crashes: cut off at once, then its system stops.

    What it had not persisted in the cluster's KV store is lost; it does
    not leave the cluster (the others declare it lost when its heartbeat
    entry expires).
    """

    node: str = attrs.field(validator=_name)
    at: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class RestartNode:
    """Before step *at*, a crashed node starts again: a fresh system with the same name."""

    node: str = attrs.field(validator=_name)
    at: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class Skew:
    """Before step *at*, node *node*'s clock steps to read *seconds* off the shared time.

    Time flows at the same rate on every node; what the node set to
    happen at a reading of its clock happens at that reading: a step
    forward brings its deadlines on, a step back puts them off (a
    monotonic clock never steps back: the `cluster_faults` strategy draws
    steps forward unless told otherwise).
    """

    node: str = attrs.field(validator=_name)
    seconds: float = attrs.field(validator=_finite)
    at: int = attrs.field(default=1, validator=_positive)


NetworkFault: TypeAlias = NetworkDrop | NetworkDuplicate | NetworkDelay
"""A fault of one message of the simulated network."""

NodeFault: TypeAlias = Partition | Heal | CrashNode | RestartNode | Skew
"""A fault that strikes the cluster before a chosen step."""

ClusterFault: TypeAlias = NetworkFault | NodeFault
"""Any fault `SimulatedCluster(faults=[...])` takes."""


def split_faults(
    faults: Sequence[ClusterFault], names: Sequence[str]
) -> tuple[list[NetworkFault], list[NodeFault]]:
    """*faults* as the network's message faults, and the node faults in order of their step.

    Raises:
        ValueError: a fault names a node that is not one of *names*.
    """
    for fault in faults:
        for node in _nodes_named(fault):
            if node not in names:
                raise ValueError(f"{fault!r} names no node of this cluster ({list(names)})")
    network = [f for f in faults if isinstance(f, NetworkDrop | NetworkDuplicate | NetworkDelay)]
    plan = [f for f in faults if isinstance(f, Partition | Heal | CrashNode | RestartNode | Skew)]
    plan.sort(key=lambda fault: fault.at)
    return network, plan


def _nodes_named(fault: ClusterFault) -> list[str]:
    if isinstance(fault, Partition):
        return [name for group in fault.groups for name in group if name != KV]
    if isinstance(fault, CrashNode | RestartNode | Skew):
        return [fault.node]
    if isinstance(fault, NetworkDrop | NetworkDuplicate | NetworkDelay):
        return [n for n in (fault.sender, fault.to) if n is not None]
    return []
