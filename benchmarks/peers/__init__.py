"""Other systems doing the scenarios' work, one module per peer, each through its public API."""

from __future__ import annotations

from benchmarks._scenario import Peer


def peers(function: str) -> dict[str, Peer]:
    """Every peer's variant of one scenario, named `function` in each peer's module.

    Only the module names are given here: a peer is imported when it runs, so
    one that is not installed shows as n/a.
    """
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
