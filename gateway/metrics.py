"""Prometheus metrics of the gateway (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CLIENTS = Gauge("evscallpro_gateway_clients", "Open browser WebSocket connections", ["role"])
MESSAGES_SENT = Counter(
    "evscallpro_gateway_messages_sent_total", "WebSocket frames sent to browsers", ["role"]
)
ACTIONS = Counter(
    "evscallpro_gateway_actions_total", "Browser actions received, by action and result",
    ["action", "result"],
)
LOGINS = Counter("evscallpro_gateway_logins_total", "Login attempts by result", ["result"])
HANDSHAKES_REFUSED = Counter(
    "evscallpro_gateway_ws_refused_total", "WebSocket handshakes refused", ["reason"]
)

AGENT_SENT = MESSAGES_SENT.labels("agent")
WALLBOARD_SENT = MESSAGES_SENT.labels("supervisor")
