"""OpenTelemetry metrics served in the Prometheus text format on `TRADEMESH_METRICS_PORT` (0: off).

Services create instruments with `opentelemetry.metrics.get_meter(__name__)` at import time; until a
provider is installed (metrics off, or tests) those instruments are the API's no-ops, so recording
costs next to nothing. `start_server` calls `serve_metrics` when the port is set: one
`MeterProvider` per process with a `PrometheusMetricReader`, and prometheus_client's HTTP server
answering `GET /metrics` (what a Prometheus scrape or a metrics adapter for the HPA reads).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

from trademesh.services.core.settings import CoreSettings

logger = logging.getLogger(__name__)

_provider_lock = threading.Lock()
_provider: MeterProvider | None = None


@dataclass(slots=True)
class MetricsEndpoint:
    """A running `/metrics` HTTP server."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server.server_port)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=2)


def _install_provider(service_name: str) -> None:
    global _provider
    with _provider_lock:
        if _provider is not None:
            return  # one provider per process: several servers in one test process share it
        reader = PrometheusMetricReader()
        _provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service_name}))
        metrics.set_meter_provider(_provider)


def serve_metrics(settings: CoreSettings) -> MetricsEndpoint | None:
    """Install the meter provider and serve `/metrics` on the configured port; None when metrics are off."""
    if settings.metrics_port == 0:
        return None
    _install_provider(settings.service_name)
    server, thread = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    endpoint = MetricsEndpoint(server, thread)
    logger.info("metrics on http://%s:%d/metrics", settings.metrics_host, endpoint.port)
    return endpoint
