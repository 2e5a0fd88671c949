"""Is the telephony core hearing Asterisk? The one check behind `/healthz`.

A core whose Stasis app was taken over (another events socket under its app name:
`ApplicationReplaced`) or whose ARI link is down still runs, and its pages still load, but
no call can be placed or followed: `/healthz` must say so (503 with the reason) so that a
load balancer, a Prometheus probe or an operator sees it.

The core's own health view (`core.telephony.TelephonyHealth` through
`telephony_health()`, when the core offers one) is read first;
until then the link is read duck-typed from the composition root (`CallCenterApp.link`:
`replaced`, `connected`, `last_error`). A `CallCenter` with neither (the tests' fake core)
is taken as healthy. Keep every way of reading it in this one function.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def telephony_problem(call_center: Any) -> str | None:
    """None when the core hears Asterisk, else an operator-readable reason (no secret)."""
    health = getattr(call_center, "telephony_health", None)
    if callable(health):  # core.telephony.TelephonyHealth: ok, why_unavailable(), reason
        view = health()
        if getattr(view, "ok", True):
            return None
        why = getattr(view, "why_unavailable", None)
        text = why() if callable(why) else getattr(view, "reason", "")
        return str(text or "telephony unavailable")
    link = getattr(call_center, "link", _MISSING)
    if link is _MISSING:
        return None  # not the product's core (a test double): nothing to check
    if link is None:
        return "telephony core not running (no ARI link)"
    if getattr(link, "replaced", False):
        app = getattr(link, "app", "?")
        return (
            f"Stasis app {app!r} lost: another events socket took it over "
            "(ApplicationReplaced); restart the core after stopping the other process"
        )
    if not getattr(link, "connected", True):
        error = getattr(link, "last_error", "")
        return "ARI link down" + (f" ({error})" if error else "")
    return None
