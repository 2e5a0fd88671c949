"""TelephonyHealth: whether calls can be placed, and why not, as the link announces."""

from __future__ import annotations

from core.telephony import TelephonyHealth, TelephonyState


def test_health_follows_the_link_and_an_app_taken_over_stays_so() -> None:
    health = TelephonyHealth(app="evscallpro")
    assert health.state == TelephonyState.CONNECTING and not health.ok
    assert health.why_unavailable().startswith("the ARI events socket is not open yet")
    health = health.link_up(1.0)
    assert health.ok and health.why_unavailable() == "" and health.since == 1.0
    health = health.link_down("ClientConnectorError: refused", 2.0)
    assert health.state == TelephonyState.DOWN and not health.ok
    assert health.why_unavailable() == "the ARI link is down (ClientConnectorError: refused)"
    health = health.link_up(3.0).app_replaced("evscallpro", 4.0)
    assert health.state == TelephonyState.APP_REPLACED
    assert "'evscallpro' was taken over" in health.why_unavailable()
    assert "restart the core" in health.why_unavailable()
    # the link stopped for good: nothing it says later makes calls possible again
    assert health.link_up(5.0) == health and health.link_down("closed", 6.0) == health
