"""Packets in flight on a simulated NATS network, its partitions and faults; not the client API.

One in-process broker with a client per node (`SimulatedClient`, in
`_nats_client`: the part of nats-py that actorlib.remote uses, so a
`NatsTransport` runs on it unchanged, on asyncio and on trio alike).

Every message published is held *in flight* as one packet per subscriber
client, on the channel (publisher, subscriber): only the oldest packet of
each channel is a candidate, so per-publisher order holds as on NATS.
The cluster's controller (`_cluster_controller`) asks the schedule which
candidate goes next, beside the messages inside the nodes' systems, and
calls `SimulatedNetwork.take`; the subscriber's callback then runs, in
the subscription's own task, one message at a time (as nats-py does).

Faults of the network: a partition splits the nodes (and the JetStream
server, ``"kv"``) into sides that cannot reach each other: packets
between sides are lost, in flight or published; a crashed node's client
is cut off (what it publishes goes nowhere, what was on its way to it is
lost). Message faults (`NetworkDelay`, `NetworkDrop`, `NetworkDuplicate`)
strike the n-th packet from one node to another when it is chosen.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import attrs

from ._cluster_faults import KV, NetworkDelay, NetworkDrop, NetworkDuplicate, NetworkFault
from ._nats_client import SimulatedClient, SimulatedMsg, SimulatedSubscription, Spawn
from ._virtual_clock import VirtualClock


@attrs.define(eq=False)
class Packet:
    """One message in flight to one subscription."""

    seq: int
    channel: tuple[str, str]  # (publisher, subscriber) node names
    subscription: SimulatedSubscription
    msg: SimulatedMsg
    text: str  # how the trace shows it
    not_before: float = -math.inf
    inspected: bool = False  # matched against the faults already

    @property
    def kind(self) -> str:
        """Always ``"nats"`` (a controller's flights have other kinds)."""
        return "nats"


_HEX = re.compile(r"[0-9a-f]{12,}")


class SimulatedNetwork:
    """The broker of a simulated cluster (see the module docstring).

    Args:
        clock: the shared virtual clock (delays are measured on it).
        faults: the message faults to inject.
        prefix: the transports' subject prefix (for the trace's names).
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        faults: Sequence[NetworkFault] = (),
        prefix: str = "actorlib",
    ) -> None:
        self.clock = clock
        self.prefix = prefix
        self.next_seq: Callable[[], int] = itertools.count(1).__next__
        # The controller's hooks: wake it; record a step that was no choice.
        self.changed: Callable[[], None] = lambda: None
        self.record: Callable[[str, str, str, str], None] = lambda *step: None
        self.clients: dict[str, SimulatedClient] = {}
        self.nodes: list[str] = []  # every node ever connected, in order
        self._channels: dict[tuple[str, str], deque[Packet]] = {}
        self._sides: dict[str, int] | None = None
        self._faults: list[NetworkFault] = list(faults)
        self._seen: list[int] = [0] * len(self._faults)
        self._pick = random.Random(0)  # queue groups: a member, the same on replay
        self._links: dict[str, int] = {}
        self._numbers: dict[str, int] = {}
        self.kv_reconnects: dict[str, int] = {}

    # ------------------------------------------------------------ clients

    def connect(self, name: str, spawn: Spawn) -> SimulatedClient:
        """A new client for node *name* (a restarted node gets a new one)."""
        client = SimulatedClient(self, name, spawn)
        self.clients[name] = client
        if name not in self.nodes:
            self.nodes.append(name)
        self.kv_reconnects.setdefault(name, 0)
        return client

    def unsubscribe(self, subscription: SimulatedSubscription) -> None:
        """Remove *subscription*; what is in flight to it is lost."""
        client = subscription.client
        if subscription in client.subscriptions:
            client.subscriptions.remove(subscription)
        subscription.close()
        for channel, queue in list(self._channels.items()):
            if channel[1] == client.name and any(p.subscription is subscription for p in queue):
                kept = deque(p for p in queue if p.subscription is not subscription)
                if kept:
                    self._channels[channel] = kept
                else:
                    del self._channels[channel]

    # ------------------------------------------------------------ reachability

    def _live(self, name: str) -> bool:
        client = self.clients.get(name)
        return client is not None and not client.cut and not client.is_closed

    def _side(self, name: str) -> int:
        return 0 if self._sides is None else self._sides.get(name, 0)

    def reaches(self, a: str, b: str) -> bool:
        """Whether nodes *a* and *b* (or ``"kv"``, the JetStream server) can reach each other."""
        for name in (a, b):
            if name != KV and not self._live(name):
                return False
        return self._side(a) == self._side(b)

    def reaches_kv(self, name: str) -> bool:
        """Whether node *name* can reach the JetStream server (its KV store)."""
        return self.reaches(name, KV)

    def partition(self, groups: Sequence[Iterable[str]]) -> str:
        """Split the nodes into *groups* (the rest form one more); return how the trace says it.

        The JetStream server (``"kv"``) is on the side of the group that
        names it, else of the largest group (the first of the largest).

        Raises:
            ValueError: an unknown node, or one named in two groups.
        """
        sides = self.sides_of(groups)
        before = {name: self.reaches_kv(name) for name in self.nodes}
        self._sides = {name: side for side, group in enumerate(sides) for name in group}
        lost = self._purge(lambda channel: not self.reaches(*channel))
        self._count_reconnects(before)
        shown = " | ".join("{" + ", ".join(group) + "}" for group in sides)
        return f"{shown}" + (f" ({lost} in flight lost)" if lost else "")

    def sides_of(self, groups: Sequence[Iterable[str]]) -> list[list[str]]:
        """The sides of a partition into *groups*, each in node order, ``"kv"`` placed.

        Raises:
            ValueError: an unknown node, or one named in two groups.
        """
        known = [*self.nodes, KV]
        placed: dict[str, int] = {}
        for index, group in enumerate(groups):
            if isinstance(group, str):
                raise ValueError(f"a partition's group is a set of node names, got {group!r}")
            for name in group:
                if name not in known:
                    raise ValueError(f"no node {name!r} to partition (the nodes: {self.nodes})")
                if name in placed:
                    raise ValueError(f"node {name!r} is in two groups of the partition")
                placed[name] = index
        count = len(groups)
        rest = [name for name in self.nodes if name not in placed]
        if rest:
            for name in rest:
                placed[name] = count
            count += 1
        if KV not in placed:
            sizes = [sum(1 for side in placed.values() if side == i) for i in range(count)]
            placed[KV] = sizes.index(max(sizes))
        return [
            [name for name in known if placed.get(name) == index]
            for index in range(count)
            if any(side == index for side in placed.values())
        ]

    def heal(self) -> None:
        """Every node reaches every other again (and the JetStream server)."""
        before = {name: self.reaches_kv(name) for name in self.nodes}
        self._sides = None
        self._count_reconnects(before)

    def _count_reconnects(self, before: dict[str, bool]) -> None:
        # A member that reaches the server again has reconnected: its
        # store counts it, and the membership watches anew.
        for name, reached in before.items():
            if not reached and self.reaches_kv(name):
                self.kv_reconnects[name] = self.kv_reconnects.get(name, 0) + 1

    def cut(self, name: str) -> int:
        """Cut node *name* off (it crashed); return how many packets to it were lost."""
        client = self.clients.get(name)
        if client is None:
            return 0
        before = {n: self.reaches_kv(n) for n in self.nodes}
        client.cut = True
        self._count_reconnects(before)
        return self._purge(lambda channel: channel[1] == name)

    def _purge(self, lost: Callable[[tuple[str, str]], bool]) -> int:
        count = 0
        for channel in list(self._channels):
            if channel[0] != channel[1] and lost(channel):
                count += len(self._channels.pop(channel))
        return count

    # ------------------------------------------------------------ traffic

    def publish(self, client: SimulatedClient, msg: SimulatedMsg) -> None:
        """Put *msg* in flight to every matching subscription (one member of each queue group)."""
        if client.cut:
            return  # a crashed node: nothing it sends leaves
        tokens = msg.subject.split(".")
        targets: list[SimulatedSubscription] = []
        groups: dict[str, list[SimulatedSubscription]] = {}
        for other in self.clients.values():
            if other.is_closed:
                continue
            for subscription in other.subscriptions:
                if subscription.matches(tokens):
                    if subscription.queue:
                        groups.setdefault(subscription.queue, []).append(subscription)
                    else:
                        targets.append(subscription)
        for members in groups.values():
            targets.append(members[self._pick.randrange(len(members))])
        if not targets:
            return
        text = self._describe(msg.subject)
        sender = client.name
        for subscription in targets:
            receiver = subscription.client.name
            channel = (sender, receiver)
            if sender != receiver and not self.reaches(sender, receiver):
                why = "crashed" if subscription.client.cut else "partition"
                self.record(sender, receiver, "lost", f"{text} ({why})")
                continue
            packet = Packet(self.next_seq(), channel, subscription, msg, text)
            self._channels.setdefault(channel, deque()).append(packet)
        self.changed()

    def ready(self) -> list[Packet]:
        """The packets that may be delivered now (the head of each channel, if not delayed)."""
        now = self.clock.now()
        return [
            queue[0] for queue in self._channels.values() if queue and queue[0].not_before <= now
        ]

    def next_delayed(self) -> float:
        """The earliest time a delayed packet may go (``math.inf``: none is delayed)."""
        return min(
            (queue[0].not_before for queue in self._channels.values() if queue),
            default=math.inf,
        )

    def in_flight(self) -> int:
        """How many packets are in flight."""
        return sum(len(queue) for queue in self._channels.values())

    def take(self, packet: Packet) -> tuple[str, str, str, str]:
        """Deliver (or fault) *packet*, a channel's head; its step: sender, to, kind, text."""
        sender, receiver = packet.channel
        fault = self._fault_for(packet)
        if isinstance(fault, NetworkDelay):
            packet.not_before = self.clock.now() + fault.seconds
            return sender, receiver, "delay", f"{packet.text} by {fault.seconds:g} s"
        queue = self._channels[packet.channel]
        queue.popleft()
        if not queue:
            del self._channels[packet.channel]
        if isinstance(fault, NetworkDrop):
            return sender, receiver, "drop", packet.text
        if isinstance(fault, NetworkDuplicate):
            copy = Packet(
                self.next_seq(), packet.channel, packet.subscription, packet.msg, packet.text
            )
            copy.inspected = True
            self._channels.setdefault(packet.channel, deque()).appendleft(copy)
        packet.subscription.push(packet.msg)
        return sender, receiver, "nats" if fault is None else "duplicate", packet.text

    def _fault_for(self, packet: Packet) -> NetworkFault | None:
        if packet.inspected or not self._faults:
            return None
        packet.inspected = True
        sender, receiver = packet.channel
        if sender == receiver:
            return None  # a node's message to itself crosses no network
        # Every fault counts every message it matches; the first one due strikes.
        due = None
        for index, fault in enumerate(self._faults):
            if fault.sender in (None, sender) and fault.to in (None, receiver):
                self._seen[index] += 1
                if due is None and self._seen[index] == fault.nth:
                    due = index
        if due is None:
            return None
        fault = self._faults.pop(due)
        del self._seen[due]
        return fault

    def _describe(self, subject: str) -> str:
        """A name for a subject that is the same in every run (no random ids), and its count."""
        tokens = subject.split(".")
        text = subject
        if tokens[0] == self.prefix and len(tokens) >= 2:
            kind = tokens[1]
            if kind == "link" and len(tokens) == 4:
                number = self._links.setdefault(tokens[2], len(self._links) + 1)
                text = f"link {number}"
            elif kind == "accept":
                text = "link request"
            elif kind == "lookup":
                text = "lookup"
            elif kind == "claim":
                text = "claim"
            elif kind == "group" and len(tokens) == 3:
                text = f"group {tokens[2]}"
        elif tokens[0] == "_INBOX":
            text = "flush" if len(tokens) == 3 else "answer"
        else:
            text = _HEX.sub("*", subject)
        number = self._numbers[text] = self._numbers.get(text, 0) + 1
        return f"{text} #{number}"
