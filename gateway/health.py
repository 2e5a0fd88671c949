"""Is the telephony core hearing Asterisk? The one check behind `/healthz`.

A core whose Stasis app was taken over (another events socket under its app name:
`ApplicationReplaced`) or whose ARI link is down still runs, and its pages still load, but
no call can be placed or followed: `/healthz` must say so (503 with the reason) so that a
load balancer, a Prometheus probe or an operator sees it.

The core says it itself: `CallCenter.telephony_health()` (gateway/ports.py) returns a
`core.telephony.TelephonyHealth` snapshot (never blocks); `why_unavailable()` is the reason,
one line with no secret.

A call center of several nodes (docs/scale.md: `evscallpro gateway` with
bus.remote_call_center.RemoteCallCenter) also says how each node is: a call center that has
`node_health()` gets it listed on /healthz (ARI link up, Stasis app held, heard on the bus).
"""

from __future__ import annotations

from typing import Any

from gateway.ports import CallCenter


def telephony_problem(call_center: CallCenter) -> str | None:
    """None when the core hears Asterisk, else an operator-readable reason (no secret)."""
    health = call_center.telephony_health()
    if health.ok:
        return None
    return health.why_unavailable() or "telephony unavailable"


def node_details(call_center: CallCenter) -> list[dict[str, Any]] | None:
    """Each node's health when the call center has several (an optional
    `node_health()` method), else None (one core in this process)."""
    node_health = getattr(call_center, "node_health", None)
    if node_health is None:
        return None
    details: list[dict[str, Any]] = node_health()
    return details
