"""OpenTelemetry tracing: off unless an OTLP endpoint is configured, with the standard variables
OTEL_EXPORTER_OTLP_ENDPOINT (base URL, e.g. http://collector:4318) or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (full URL), over OTLP/HTTP (protobuf).

When on, every Django request (pages, API, health) and every Celery task publish and run is a
span; the trace context rides in the Celery message headers, so the step a worker runs joins the
trace of the request that created its task. OTEL_SERVICE_NAME names the service (default "amas");
the other OTEL_* variables (sampler, headers, batch delays) work as the SDK documents. Log records
carry trace_id and span_id while a span is active (apps/core/logging.py).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

log = logging.getLogger(__name__)

_enabled = False


def configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def enabled() -> bool:
    return _enabled


def install() -> bool:
    """Set up the tracer provider and instrument Django and Celery, once per process. Runs from an
    AppConfig.ready(), before Django builds its middleware chain (the instrumentor adds its own)."""
    global _enabled
    if _enabled or not configured():
        return _enabled
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "amas"),
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource)
    # BatchSpanProcessor re-creates its export thread after a fork (prefork Celery children).
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    _enabled = True
    log.info("OpenTelemetry tracing on, exporting over OTLP/HTTP")
    return True


def current_ids() -> dict[str, Any]:
    """trace_id / span_id of the active span, for log records ({} when tracing is off)."""
    if not _enabled:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
