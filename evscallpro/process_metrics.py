"""Each process's /metrics, with the labels that say which process it is.

In one process the metrics are the default registry's. Once the product runs as several
processes (docs/scale.md), Prometheus scrapes each of them, and the dashboards select and sum
by `node` (the node id for a node process; "gateway" / "analytics" for the others) and
`process`. `LabelledRegistry` adds those labels to every sample at exposition, so no metric
definition changes:

    labels = {"process": "node", "node": "n1"}
    body = generate_latest(LabelledRegistry(labels))
    url = start_metrics_server(labels, port=0)     # its own HTTP server, for node/analytics
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample


class LabelledRegistry:
    """A view of `registry` whose samples all carry `labels` (a sample's own label of the
    same name wins)."""

    def __init__(self, labels: Mapping[str, str], registry: CollectorRegistry = REGISTRY) -> None:
        self.labels = dict(labels)
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            labelled.samples = [
                Sample(s.name, {**self.labels, **s.labels}, s.value, s.timestamp, s.exemplar)
                for s in metric.samples
            ]
            yield labelled


def start_metrics_server(labels: Mapping[str, str], port: int = 0, host: str = "127.0.0.1") -> str:
    """Serve /metrics (any path, prometheus_client's server) on `host:port` (0: a free port)
    in a daemon thread; returns its URL."""
    server, _thread = start_http_server(port, addr=host, registry=LabelledRegistry(labels))  # type: ignore[arg-type]
    return f"http://{host}:{server.server_port}/metrics"
