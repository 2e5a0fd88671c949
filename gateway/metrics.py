"""Prometheus metrics of the gateway (default registry, served at /metrics).

Known label combinations start at 0 (see analytics/metrics.py for why): every browser
action x result, every login result. A new action or result is added to the tuples below.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from analytics.metrics import WS_REFUSED_TOTAL
from gateway.actions import AGENT_ACTIONS, SUPERVISOR_ACTIONS

CLIENTS = Gauge("evscallpro_gateway_clients", "Open browser WebSocket connections", ["role"])
MESSAGES_SENT = Counter(
    "evscallpro_gateway_messages_sent_total", "WebSocket frames sent to browsers", ["role"]
)
ACTIONS = Counter(
    "evscallpro_gateway_actions_total", "Browser actions received, by action and result",
    ["action", "result"],
)
LOGINS = Counter("evscallpro_gateway_logins_total", "Login attempts by result", ["result"])
# Refused WebSockets, whatever the reason: one counter, `evscallpro_ws_refused_total{reason}`.
HANDSHAKES_REFUSED = WS_REFUSED_TOTAL

ROLES = ("agent", "supervisor")
ACTION_RESULTS = ("ok", "denied", "error")
LOGIN_RESULTS = ("ok", "failed", "throttled", "malformed", "bad_origin")

AGENT_SENT = MESSAGES_SENT.labels("agent")
WALLBOARD_SENT = MESSAGES_SENT.labels("supervisor")


def _create_known_series() -> None:
    for role in ROLES:
        CLIENTS.labels(role)
    for action in sorted(cls.__name__ for cls in AGENT_ACTIONS | SUPERVISOR_ACTIONS):
        for result in ACTION_RESULTS:
            ACTIONS.labels(action, result)
    ACTIONS.labels("invalid", "bad_message")
    ACTIONS.labels("any", "flood")
    for result in LOGIN_RESULTS:
        LOGINS.labels(result)


_create_known_series()
