"""Metrics of running actor systems: OpenTelemetry instruments and the Prometheus text format.

`prometheus_text(system, queue)` renders every metric of actor systems
(per actor class, per system, per remote peer) and job queues in
Prometheus's text format with nothing more installed; serve it at
``/metrics``. With the ``otel`` extra
(``pip install "actorlib[otel]"``), `OpenTelemetryMetrics` publishes the
same metrics through the OpenTelemetry metrics API, as observable
instruments read when the SDK collects: without an SDK configured they cost
nothing. `time_handlers` adds a histogram of handler times, off by default.
`OpenTelemetryTracing` traces messages, asks and jobs through the
OpenTelemetry trace API, their context carried across actors, remote links
and job workers; off by default, and free while off.
The blocked-loop watchdog is part of every system (``ActorSystem(...,
slow_callback=0.1)``). docs/observability.md lists the metrics and units.
"""

from __future__ import annotations

from ._handler_times import HandlerTimeHistogram, HandlerTimes, time_handlers
from ._otel_metrics import OpenTelemetryMetrics
from ._prometheus import CONTENT_TYPE, prometheus_text
from ._samples import MetricSample, collect
from ._tracing import OpenTelemetryTracing

__all__ = [
    "CONTENT_TYPE",
    "HandlerTimeHistogram",
    "HandlerTimes",
    "MetricSample",
    "OpenTelemetryMetrics",
    "OpenTelemetryTracing",
    "collect",
    "prometheus_text",
    "time_handlers",
]
