"""Prometheus metrics of a gateway on the bus (RemoteCallCenter): requests to each node by
result, snapshots asked by reason, and the heartbeat's trip from a node to this gateway.

The heartbeat hop (and the view hop, `receive time - ViewChange.published_at`) is `receive time - NodeHealth.at`: both clocks are time.time(), so it is
the bus's latency only where node and gateway share a clock (one machine, or NTP-synced to
well under a millisecond); a negative difference (clock skew) is not observed.

The node asked is the label `target_node`: `node` is the process's own label (`gateway` for
a gateway, evscallpro.process_metrics), which a sample's label of the same name would hide.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

NODE_REQUESTS = Counter(
    "evscallpro_gateway_node_requests_total",
    "Requests sent to nodes, by node and result (ok, refused, unavailable)",
    ["target_node", "result"],
)
SNAPSHOTS = Counter(
    "evscallpro_gateway_snapshots_asked_total",
    "GetSnapshot requests sent to nodes, by node and reason",
    ["target_node", "reason"],
)
NO_RESPONDERS_RETRIES = Counter(
    "evscallpro_gateway_no_responders_retries_total",
    "Requests sent again because nobody was subscribed yet (a node or analytics reconnecting)",
    ["target_node"],
)
HEALTH_HOP = Histogram(
    "evscallpro_gateway_bus_hop_seconds",
    "A node's heartbeat, from its publish to this gateway's receipt",
    ["target_node"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
VIEW_HOP = Histogram(
    "evscallpro_bus_view_hop_seconds",
    "A node's view change, from its publish (ViewChange.published_at) to this gateway's receipt",
    ["target_node"],
    buckets=(0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
             0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0),
)

REQUEST_RESULTS = ("ok", "refused", "unavailable")
SNAPSHOT_REASONS = ("start", "reconnect", "incarnation", "gap", "missed", "request")


def create_node_series(nodes: list[str]) -> None:
    """Every known label combination starts at 0 (a rate over a missing series is no rate)."""
    for node in nodes:
        for result in REQUEST_RESULTS:
            NODE_REQUESTS.labels(node, result)
        for reason in SNAPSHOT_REASONS:
            SNAPSHOTS.labels(node, reason)
        HEALTH_HOP.labels(node)
        NO_RESPONDERS_RETRIES.labels(node)
        VIEW_HOP.labels(node)
