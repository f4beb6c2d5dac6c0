"""Job queue metrics: what a queue counts as its jobs run, are retried, fail or are cancelled."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from prometheus_client.parser import text_string_to_metric_families

from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobQueue, Retry
from actorlib.observability import OpenTelemetryMetrics, prometheus_text
from tests.jobs import tasks

pytestmark = pytest.mark.anyio

FLAKY_CALLS: list[int] = []


async def flaky_once() -> str:
    """Fails on its first call, succeeds on the second."""
    FLAKY_CALLS.append(1)
    if len(FLAKY_CALLS) == 1:
        raise RuntimeError("first attempt fails")
    return "second time lucky"


async def _work(queue: JobQueue) -> None:
    """One success, one retried then successful job, one failure for good, one cancel."""
    FLAKY_CALLS.clear()
    assert await (await queue.submit(tasks.add, 1, 2)).result() == 3
    flaky = await queue.submit(flaky_once, retry=Retry(2, Backoff(min=0.0, max=0.0)))
    assert await flaky.result() == "second time lucky"
    bad = await queue.submit(tasks.fail, "no", retry=Retry(1))
    with pytest.raises(ValueError, match="no"):
        await bad.result()
    later = await queue.submit(tasks.add, 0, 0, delay=3600)
    assert await later.cancel()


async def test_queue_statistics_count_submits_attempts_outcomes_and_times() -> None:
    async with ActorSystem("jobs-metrics") as system, JobQueue(system, name="work") as queue:
        await _work(queue)
        stats = queue.statistics()
    assert (stats.submitted, stats.attempts) == (4, 4)
    assert (stats.succeeded, stats.retried, stats.failed, stats.cancelled) == (2, 1, 1, 1)
    assert stats.wait_seconds >= 0
    assert stats.run_seconds > 0


async def test_prometheus_text_renders_a_queues_counters_beside_its_systems() -> None:
    async with ActorSystem("jobs-prom") as system, JobQueue(system, name="work") as queue:
        await _work(queue)
        text = prometheus_text(system, queue)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    work = (("queue", "work"),)
    assert samples["actorlib_jobs_submitted_total", work] == 4
    assert samples["actorlib_jobs_attempts_total", work] == 4
    assert samples["actorlib_jobs_succeeded_total", work] == 2
    assert samples["actorlib_jobs_retried_total", work] == 1
    assert samples["actorlib_jobs_failed_total", work] == 1
    assert samples["actorlib_jobs_cancelled_total", work] == 1
    assert samples["actorlib_jobs_running", work] == 0
    assert samples["actorlib_jobs_run_time_seconds_total", work] > 0
    assert ("actorlib_jobs_wait_time_seconds_total", work) in samples


async def test_opentelemetry_instruments_read_a_watched_queue() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = OpenTelemetryMetrics(provider)
    try:
        async with ActorSystem("jobs-otel") as system, JobQueue(system, name="work") as queue:
            metrics.watch(queue)
            await _work(queue)
            data = reader.get_metrics_data()
        assert data is not None
        points = {
            metric.name: point
            for scope in data.resource_metrics[0].scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
            if dict(point.attributes or {}) == {"queue": "work"}
        }
        retried = points["actorlib.jobs.retried"]
        assert isinstance(retried, NumberDataPoint)
        assert retried.value == 1
        assert "actorlib.jobs.run.time" in points
    finally:
        provider.shutdown()


async def test_handler_time_is_refused_for_a_queue() -> None:
    metrics = OpenTelemetryMetrics(MeterProvider())
    async with ActorSystem("jobs-refuse") as system:
        queue = JobQueue(system, name="work")
        with pytest.raises(TypeError, match="handler_time times the handlers of an ActorSystem"):
            metrics.watch(queue, handler_time=True)
