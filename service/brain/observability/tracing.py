"""OpenTelemetry traces: configured only by the standard OTEL_* variables, off without an exporter.

When on, incoming requests (ASGI), psycopg and redis calls make spans; trace ids go into logs and
onto the latency histogram as exemplars.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

log = logging.getLogger("brain.tracing")
_configured = False


def configure(exporter: str | None) -> bool:
    """Set up the tracer provider once per process; True when tracing is on."""
    global _configured
    if exporter is None:
        return False
    if _configured:
        return True
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()  # endpoint, headers... from OTEL_EXPORTER_OTLP_*
    provider = TracerProvider(resource=Resource.create({"service.name": "brain"}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(enable_commenter=False)
    RedisInstrumentor().instrument()
    _configured = True
    log.info("tracing on, exporting to %s", exporter)
    return True


_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")


def _route(scope: dict[str, Any]) -> str:
    return scope.get("path_template") or "unmatched"


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Spans are named by route template, like the metrics: no ids, no data in names."""
    route = _route(scope)
    return f"{scope.get('method', '')} {route}", {"http.route": route}


def _scrub(span: Any, scope: dict[str, Any]) -> None:
    """Replace the raw URL (ids, query strings: data, perhaps secrets) by the route template."""
    if span is not None and span.is_recording():
        for attribute in _URL_ATTRIBUTES:
            span.set_attribute(attribute, _route(scope))


def asgi_middleware(app: Any) -> Any:
    """Every HTTP request a server span (runs after routing, so the route template is known)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls="health/live,health/ready,metrics",
        default_span_details=_span_details,
        server_request_hook=_scrub,
        exclude_spans=["receive", "send"],
    )


def active() -> bool:
    """Whether this process traces (and the Redis and psycopg calls are instrumented)."""
    return _configured


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
