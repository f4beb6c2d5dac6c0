"""What crosses each peer's links: frames, bytes, connections and round-trip times."""

from __future__ import annotations

import bisect
from collections.abc import Callable

import attrs

#: Upper bounds of the round-trip-time buckets, in seconds (50 µs to 10 s).
RTT_BUCKETS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Called with (peer node id, seconds) for each round trip measured (`add_round_trip_sink`).
RoundTripSink = Callable[[str, float], None]


@attrs.frozen
class LinkStatistics:
    """A snapshot of the traffic with one peer node (`NodeTransport.link_statistics`).

    The counters add up every link to that peer since this node started: a
    reconnect starts a new link but not new counters.

    Round-trip times are measured by a ping item inside a sealed (authenticated)
    frame the link sends anyway, answered at once by the peer's reader: at most
    one in flight, and at most one a second (see docs/observability.md).

    Attributes:
        peer: the peer's node id.
        connected: whether a link to it is up now.
        links: links established with it so far (the first, then reconnects).
        frames_sent: frames sent to it (heartbeats and acknowledgements included).
        frames_received: frames received from it.
        bytes_sent: bytes of the frames sent, before sealing (the MAC and
            the transport's framing not counted).
        bytes_received: bytes of the frames received, after unsealing.
        rtt_last: the latest round-trip time, in seconds (None: none measured yet).
        rtt_bounds: the round-trip-time buckets' upper bounds, in seconds, ascending.
        rtt_counts: round trips per bucket (not cumulative); one more than
            *rtt_bounds*: the last counts those above the largest bound.
        rtt_total: the sum of all round-trip times measured, in seconds.
    """

    peer: str
    connected: bool
    links: int
    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int
    rtt_last: float | None = None
    rtt_bounds: tuple[float, ...] = RTT_BUCKETS
    rtt_counts: tuple[int, ...] = (0,) * (len(RTT_BUCKETS) + 1)
    rtt_total: float = 0.0

    @property
    def reconnects(self) -> int:
        """Links established after the first."""
        return max(0, self.links - 1)

    @property
    def rtt_count(self) -> int:
        """How many round trips were measured."""
        return sum(self.rtt_counts)


class Traffic:
    """The mutable counters behind `LinkStatistics` (one per peer, kept by the node)."""

    __slots__ = (
        "bytes_received",
        "bytes_sent",
        "frames_received",
        "frames_sent",
        "links",
        "peer",
        "rtt_counts",
        "rtt_last",
        "rtt_total",
        "sinks",
    )

    def __init__(self, peer: str, sinks: list[RoundTripSink]) -> None:
        self.peer = peer
        self.sinks = sinks  # the transport's, shared: a sink added later sees this peer too
        self.links = 0
        self.frames_sent = 0
        self.frames_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.rtt_last: float | None = None
        self.rtt_counts = [0] * (len(RTT_BUCKETS) + 1)
        self.rtt_total = 0.0

    def round_trip(self, seconds: float) -> None:
        """Count one round trip of *seconds*, and pass it to each sink."""
        self.rtt_last = seconds
        self.rtt_counts[bisect.bisect_left(RTT_BUCKETS, seconds)] += 1
        self.rtt_total += seconds
        for sink in self.sinks:
            sink(self.peer, seconds)

    def snapshot(self, connected: bool) -> LinkStatistics:
        """The counters now, as a frozen `LinkStatistics`."""
        return LinkStatistics(
            peer=self.peer,
            connected=connected,
            links=self.links,
            frames_sent=self.frames_sent,
            frames_received=self.frames_received,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
            rtt_last=self.rtt_last,
            rtt_counts=tuple(self.rtt_counts),
            rtt_total=self.rtt_total,
        )
