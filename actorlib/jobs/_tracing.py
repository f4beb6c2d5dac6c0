"""Spans of a job's submit and attempts, through the system's Tracing hook (actorlib._hooks).

The submit span's context is stored with the job (`JobRecord.trace`, a
traceparent), so the attempt span continues the trace on whichever worker,
on whichever host, runs the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._model import JobRecord

if TYPE_CHECKING:
    from actorlib._hooks import Tracing

    from ._execute import Attempt, Outcome
    from ._store import JobStore


async def add_traced(
    tracing: Tracing, queue: str, store: JobStore, records: list[JobRecord]
) -> list[tuple[JobRecord, bool]]:
    """`store.add_many` in a submit span whose context each record carries."""
    first = records[0]
    attributes: dict[str, str | int] = {
        "actorlib.job.queue": queue,
        "actorlib.job.name": first.name,
        "actorlib.job.count": len(records),
    }
    if len(records) == 1:
        attributes["actorlib.job.id"] = first.id
    return await _add_in_span(
        tracing, f"actorlib.job.submit {first.name}", attributes, store, records
    )


async def tick_traced(
    tracing: Tracing, queue: str, periodic: str, store: JobStore, record: JobRecord
) -> tuple[JobRecord, bool]:
    """`store.add` of a periodic job's tick in a span of its own: a new trace per tick.

    Each queue sharing the store enqueues the same tick; the one whose record
    the store keeps (``actorlib.job.created`` 1) is the trace its run continues.
    """
    attributes: dict[str, str | int] = {
        "actorlib.job.queue": queue,
        "actorlib.job.name": record.name,
        "actorlib.job.periodic": periodic,
        "actorlib.job.id": record.id,
    }
    [added] = await _add_in_span(
        tracing, f"actorlib.job.tick {periodic}", attributes, store, [record]
    )
    return added


async def _add_in_span(
    tracing: Tracing,
    name: str,
    attributes: dict[str, str | int],
    store: JobStore,
    records: list[JobRecord],
) -> list[tuple[JobRecord, bool]]:
    with tracing.span(name, None, "producer", attributes) as span:
        trace = tracing.export(span.context)
        for record in records:
            record.trace = trace
        try:
            added = await store.add_many(records)
        except Exception as error:
            span.finish("error", error, {})
            raise
        created = sum(1 for _, new in added if new)
        span.finish("ok", None, {"actorlib.job.created": created})
        return added


def _outcome(outcome: Outcome) -> str:
    if outcome.error is None:
        return "succeeded"
    return "cancelled" if outcome.cancelled else "error"


async def run_traced(tracing: Tracing, queue: str, attempt: Attempt) -> Outcome:
    """Run *attempt* in a span under its job's submit span (a new trace without one)."""
    record = attempt.record
    parent = tracing.load(record.trace) if record.trace is not None else None
    attributes: dict[str, str | int] = {
        "actorlib.job.queue": queue,
        "actorlib.job.id": record.id,
        "actorlib.job.name": record.name,
        "actorlib.job.attempt": record.attempts,
        "actorlib.job.max_attempts": record.retry.attempts,
    }
    with tracing.span(
        f"actorlib.job.attempt {record.name}", parent, "consumer", attributes
    ) as span:
        outcome = await attempt.run()
        span.finish(_outcome(outcome), outcome.error, {})
        return outcome
