"""Other systems doing the scenarios' work, one module per peer, each through its public API."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from benchmarks._scenario import Peer


def peers(function: str, *, unable: Mapping[str, str] | None = None) -> dict[str, Peer]:
    """Every peer's variant of one scenario, named `function` in each peer's module.

    Only the module names are given here: a peer is imported when it runs, so
    one that is not installed shows as n/a. `unable` names the peers that
    cannot do the scenario at all, with the reason shown in their n/a.
    """
    unable = unable or {}
    return {
        name: attrs.evolve(peer, unavailable=unable[name]) if name in unable else peer
        for name, peer in _all(function).items()
    }


def _all(function: str) -> dict[str, Peer]:
    return {
        "asyncio-queue": Peer(
            "benchmarks.peers.asyncio_", function, install="", backends=("asyncio", "uvloop")
        ),
        "pykka": Peer("benchmarks.peers.pykka_", function, install="pykka", own_runtime=True),
        "thespian": Peer(
            "benchmarks.peers.thespian_", function, install="thespian", own_runtime=True
        ),
        "xoscar": Peer(
            "benchmarks.peers.xoscar_", function, install="xoscar", backends=("asyncio", "uvloop")
        ),
    }
