"""Is the telephony core hearing Asterisk? The one check behind `/healthz`.

A core whose Stasis app was taken over (another events socket under its app name:
`ApplicationReplaced`) or whose ARI link is down still runs, and its pages still load, but
no call can be placed or followed: `/healthz` must say so (503 with the reason) so that a
load balancer, a Prometheus probe or an operator sees it.

The core says it itself: `CallCenter.telephony_health()` (gateway/ports.py) returns a
`core.telephony.TelephonyHealth` snapshot (never blocks); `why_unavailable()` is the reason,
one line with no secret.
"""

from __future__ import annotations

from gateway.ports import CallCenter


def telephony_problem(call_center: CallCenter) -> str | None:
    """None when the core hears Asterisk, else an operator-readable reason (no secret)."""
    health = call_center.telephony_health()
    if health.ok:
        return None
    return health.why_unavailable() or "telephony unavailable"
