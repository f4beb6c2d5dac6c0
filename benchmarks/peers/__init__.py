"""Other systems doing the scenarios' work, one module per peer, each through its public API."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from benchmarks._scenario import Peer


def peers(
    function: str,
    *,
    unable: Mapping[str, str] | None = None,
    suite: str = "",
    multiprocess: bool = False,
) -> dict[str, Peer]:
    """Every peer's variant of one scenario, named `function` in each peer's module.

    Only the module names are given here: a peer is imported when it runs, so
    one that is not installed shows as n/a. `unable` names the peers that
    cannot do the scenario at all, with the reason shown in their n/a.
    `suite` picks each peer's module for a group of scenarios: ``"savina"``
    for ``benchmarks.peers.pykka_savina`` and so on. `multiprocess` adds
    Thespian on a multiprocess base (ping-pong only: a message between
    processes costs about half a millisecond).
    """
    unable = unable or {}
    chosen = {
        name: attrs.evolve(peer, unavailable=unable[name]) if name in unable else peer
        for name, peer in _all(function, suite).items()
    }
    if multiprocess:
        chosen["thespian-mp"] = Peer(
            "benchmarks.peers.thespian_mp", function, install="thespian", own_runtime=True
        )
    return chosen


def savina_peers(function: str) -> dict[str, Peer]:
    """The peers of the Savina scenarios added after the first four, in ``*_savina`` modules."""
    return peers(function, suite="savina")


def _all(function: str, suite: str) -> dict[str, Peer]:
    def module(peer: str) -> str:
        return f"benchmarks.peers.{peer}_{suite}"  # e.g. pykka_ (the first four) or pykka_savina

    return {
        "asyncio-queue": Peer(
            module("asyncio"), function, install="", backends=("asyncio", "uvloop")
        ),
        "pykka": Peer(module("pykka"), function, install="pykka", own_runtime=True),
        "thespian": Peer(module("thespian"), function, install="thespian", own_runtime=True),
        "xoscar": Peer(
            module("xoscar"), function, install="xoscar", backends=("asyncio", "uvloop")
        ),
    }
