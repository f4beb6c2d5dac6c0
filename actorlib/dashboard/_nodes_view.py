"""What the dashboard shows of a remote system: its node, its links per peer, its clusters.

A reader: it looks at the transport's node (its links and their traffic
counters) and at the clusters joined on the system, on each request. It
never imports actorlib.cluster: a system whose process never imported it
has joined no cluster.
"""

from __future__ import annotations

import sys
from typing import Any

from .. import ActorSystem
from ..remote import LinkStatistics


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _link_row(stats: LinkStatistics, link: Any) -> dict[str, object]:
    """One peer: its traffic since this node started, and its link now (if any)."""
    session = None if link is None else getattr(link.channel, "session", None)
    if link is None or link.closed:
        state = "down"
    else:
        state = "connected" if session is not None else "connecting"
    count = stats.rtt_count
    return {
        "peer": stats.peer,
        "address": None if link is None else link.address,
        # The first 4 bytes of the link's transcript hash: enough to tell links apart.
        "link_id": None if session is None else session.link_id[:4].hex(),
        "state": state,
        "outbox": 0 if link is None else len(link.outbox),
        "pending_asks": 0 if link is None else len(link.pending),
        "frames_sent": stats.frames_sent,
        "frames_received": stats.frames_received,
        "bytes_sent": stats.bytes_sent,
        "bytes_received": stats.bytes_received,
        "rtt_ms": _ms(stats.rtt_last),
        "rtt_mean_ms": _ms(stats.rtt_total / count) if count else None,
        "reconnects": stats.reconnects,
    }


def _clusters(system: ActorSystem) -> list[dict[str, object]]:
    module = sys.modules.get("actorlib.cluster")
    if module is None:
        return []  # never imported in this process: no cluster joined
    return [
        {
            "name": cluster.name,
            "node": cluster.node_id,
            "members": [
                {
                    "node_id": member.node_id,
                    "address": member.address,
                    "roles": sorted(member.roles),
                    "joined": member.joined,
                    "actors": member.actors,
                    "ready": member.ready,
                    "kinds": sorted(member.kinds),
                }
                for member in cluster.members()
            ],
        }
        for cluster in module.joined_clusters(system)
    ]


def nodes(system: ActorSystem) -> dict[str, object] | None:
    """This node, a row per peer it has linked with, and its clusters' members.

    None when the system has no started remote transport.
    """
    try:
        # actorlib.remote's transports have a node once the system started.
        node: Any = getattr(system.transport, "node", None)
    except RuntimeError:  # not started yet
        return None
    if node is None:
        return None
    links = node.links
    return {
        "node": node.node_id,
        "address": node.address,
        "links": [_link_row(stats, links.get(stats.peer)) for stats in node.link_statistics()],
        "clusters": _clusters(system),
    }
