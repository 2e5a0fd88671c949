"""core.leg against the ARI facts of tests/fixtures/ari-traces/README.md, one leg at a time."""

from __future__ import annotations

from call_events_factory import destroyed, dial, hangup_request, state_change

from core.domain import LegRole
from core.leg import FailureKind, Leg

LOCAL = "Local/x@sim-phones"


def local_leg() -> Leg:
    return Leg(LegRole.CUSTOMER, LOCAL, "c1-customer")


def test_local_busy_is_read_from_the_dial_status_when_the_first_half_says_0() -> None:
    leg = local_leg()
    leg.observe(state_change("c1-customer", "Ringing"), 1.0)
    leg.observe(dial("c1-customer", "BUSY"), 2.0)
    leg.observe(destroyed("c1-customer", 0, "Unknown"), 2.1)
    assert leg.failure_kind() == FailureKind.BUSY
    record = leg.record()
    assert (record.hangup_cause, record.dial_status) == (17, "BUSY")


def test_local_congestion_is_read_from_the_second_half_without_a_dial_status() -> None:
    leg = local_leg()
    leg.observe(destroyed("c1-customer-2", 34, "Circuit/channel congestion"), 2.0)
    leg.observe(destroyed("c1-customer", 0, "Unknown"), 2.1)
    assert leg.failure_kind() == FailureKind.CONGESTION
    assert leg.record().hangup_cause == 34


def test_our_delete_says_32_soft_the_real_cause_is_in_channel_destroyed() -> None:
    leg = local_leg()
    leg.observe(state_change("c1-customer", "Up"), 1.0)
    leg.hangup_sent = True
    leg.observe(hangup_request("c1-customer", 32, soft=True), 2.0)
    assert not leg.remote_hangup  # a soft 32 is our own DELETE, not the far end
    assert leg.best_cause() == 0
    leg.observe(destroyed("c1-customer", 17, "User busy"), 2.1)
    record = leg.record()
    assert (record.hangup_cause, record.hangup_cause_text) == (17, "User busy")


def test_pjsip_far_end_hangup_request_carries_cause_and_sip_status() -> None:
    leg = Leg(LegRole.CUSTOMER, "PJSIP/+33600000001@carrier", "c1-customer")
    assert leg.local2_id is None
    leg.observe(hangup_request("c1-customer", 17, tech=486), 1.0)
    assert leg.remote_hangup and leg.going
    leg.observe(dial("c1-customer", "BUSY"), 1.1)
    leg.observe(destroyed("c1-customer", 17, "User busy"), 1.2)
    assert leg.failure_kind() == FailureKind.BUSY
    assert leg.record().tech_cause == 486
