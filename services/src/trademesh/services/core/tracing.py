"""OpenTelemetry tracing, chosen by settings: off (default), console or OTLP/gRPC."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from trademesh.services.core.settings import CoreSettings, TracingExporter


def configure_tracing(settings: CoreSettings) -> TracerProvider | None:
    """Install a tracer provider exporting spans as configured; return it so it can be flushed."""
    if settings.tracing_exporter is TracingExporter.NONE:
        return None
    exporter: SpanExporter
    if settings.tracing_exporter is TracingExporter.CONSOLE:
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True)
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
