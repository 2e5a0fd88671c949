"""Ends the core did not see, end to end on the simulator (issue 10, items 12 and 21): a
customer who hangs up while the events socket is down, the agent clicking hang-up meanwhile;
Asterisk restarted (a crash, or `core restart now` hanging every channel up first)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_support import WAIT_S, Core

from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, Party
from core.ids import customer_channel_id
from core.leg import END_NOT_SEEN, END_TELEPHONY_RESTARTED

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


def test_customer_hangs_up_during_an_outage_and_the_agent_clicks_hang_up(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core()
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sim.refuse_websockets(2.0)  # the outage lasts: no reconnect before the click
    core.app.link_up.clear()
    sim.drop_websockets()
    sim.far_end_hangup(customer_channel_id(req.call_id), 16)  # never delivered to the core
    assert core.app.hang_up_call(req.call_id, by="a1")  # the agent sees a live call
    assert core.views.wait_step(req.call_id, CallStep.ENDING) is not None
    assert core.app.link_up.wait(WAIT_S)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER  # not "the agent hung up from the UI"
    assert record.reason == "customer_gone_before_hangup_from_ui"
    leg = record.customer_leg
    assert leg is not None
    assert leg.hangup_cause == 0 and leg.hangup_cause_text == END_NOT_SEEN  # unknown, said


def test_simulator_restart_names_the_restart_in_every_record(
    core: Core, sim: SimulatorThread
) -> None:
    connected = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    ringing = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert core.views.wait_step(connected.call_id, CallStep.CONNECTED) is not None
    assert core.views.wait_step(ringing.call_id, CallStep.CUSTOMER_DIALING) is not None
    sim.restart()  # a crash: everything vanishes without an event, startup_time changes
    for req in (connected, ringing):
        record = core.record(req.call_id)
        assert record.outcome == CallOutcome.TELEPHONY_RESTARTED
        assert record.reason == "telephony_restarted"
        assert record.hung_up_first == Party.SYSTEM
        assert record.agent_leg.hangup_cause_text == END_TELEPHONY_RESTARTED
    assert core.record(connected.call_id).connected_at is not None
    # the registry learns each end by a told message, just after the record: wait for it
    assert core.app.live.wait_until(lambda live: not live.calls, WAIT_S), core.app.live_call_ids()


def test_core_restart_now_hang_ups_are_not_normal_hang_ups(
    core: Core, sim: SimulatorThread
) -> None:
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sim.restart(hang_up_first=True)  # soft hang-up requests (cause 4), Destroyed 16, restart
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.TELEPHONY_RESTARTED  # not "completed"
    assert record.reason == "telephony_shutdown"
    assert record.hung_up_first == Party.SYSTEM
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 16
