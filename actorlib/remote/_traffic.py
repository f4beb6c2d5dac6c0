"""What crosses each peer's links: frames, bytes and connections, kept per peer node."""

from __future__ import annotations

import attrs


@attrs.frozen
class LinkStatistics:
    """A snapshot of the traffic with one peer node (`NodeTransport.link_statistics`).

    The counters add up every link to that peer since this node started: a
    reconnect starts a new link but not new counters.

    Attributes:
        peer: the peer's node id.
        connected: whether a link to it is up now.
        links: links established with it so far (the first, then reconnects).
        frames_sent: frames sent to it (heartbeats and acknowledgements included).
        frames_received: frames received from it.
        bytes_sent: bytes of the frames sent, before sealing (the MAC and
            the transport's framing not counted).
        bytes_received: bytes of the frames received, after unsealing.
    """

    peer: str
    connected: bool
    links: int
    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int

    @property
    def reconnects(self) -> int:
        """Links established after the first."""
        return max(0, self.links - 1)


class Traffic:
    """The mutable counters behind `LinkStatistics` (one per peer, kept by the node)."""

    __slots__ = ("bytes_received", "bytes_sent", "frames_received", "frames_sent", "links")

    def __init__(self) -> None:
        self.links = 0
        self.frames_sent = 0
        self.frames_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    def snapshot(self, peer: str, connected: bool) -> LinkStatistics:
        """The counters now, as a frozen `LinkStatistics`."""
        return LinkStatistics(
            peer=peer,
            connected=connected,
            links=self.links,
            frames_sent=self.frames_sent,
            frames_received=self.frames_received,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
        )
