"""The worker actor and the messages only it and the scheduler exchange; never touches the store."""

from __future__ import annotations

from typing import Any

import attrs

from .._actor import Actor
from .._ref import ActorRef
from ._core import QueueCore
from ._execute import Attempt, Outcome
from ._model import JobRecord
from ._tracing import run_traced


@attrs.frozen
class _Run:
    attempt: Attempt


@attrs.frozen
class _WorkerReady:
    worker: ActorRef[Any]


@attrs.frozen
class _Finished:
    worker: ActorRef[Any]
    record: JobRecord
    outcome: Outcome


class Worker(Actor):
    """Runs one job at a time; a job's error is its outcome, never the worker's failure."""

    actorlib_traced = False  # each attempt has its span (_tracing.run_traced)

    def __init__(self, core: QueueCore) -> None:
        self.core = core

    async def on_start(self) -> None:
        parent = self.context.parent
        assert parent is not None
        parent.tell(_WorkerReady(self.ref))

    async def receive(self, message: object) -> None:
        assert isinstance(message, _Run)
        attempt = message.attempt
        record = attempt.record
        tracing = self.context.system.tracing
        try:
            if tracing is None:
                outcome = await attempt.run()
            else:
                outcome = await run_traced(tracing, self.core.name, attempt)
        finally:
            self.core.attempts.pop(record.id, None)
        parent = self.context.parent
        assert parent is not None
        parent.tell(_Finished(self.ref, record, outcome))
