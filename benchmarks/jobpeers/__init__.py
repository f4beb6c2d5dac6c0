"""Other job queues doing the job scenarios' work on the local Redis, one module per peer."""

from __future__ import annotations

from benchmarks._scenario import Peer


def peers(function: str, *, sqlite: bool) -> dict[str, Peer]:
    """Every peer's variant of one job scenario, named `function` in each peer's module.

    A peer is imported when it runs, so one that is not installed, or whose
    Redis is down, shows as n/a. With `sqlite`, actorlib's own SQLite store
    is listed too (as ``actorlib-sqlite``), for scenarios whose actorlib row
    is the memory store.
    """
    found = {
        "arq": Peer("benchmarks.jobpeers.arq_", function, install="arq", backends=("asyncio",)),
        "dramatiq": Peer(
            "benchmarks.jobpeers.dramatiq_", function, install="dramatiq[redis]", own_runtime=True
        ),
        "celery": Peer(
            "benchmarks.jobpeers.celery_", function, install="celery[redis]", own_runtime=True
        ),
    }
    if sqlite:
        ours = Peer("benchmarks.jobs", f"sqlite_{function}", install="")
        found = {"actorlib-sqlite": ours, **found}
    return found
