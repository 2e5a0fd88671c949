"""Every branch of the Connect-to-Phone call, end to end: the real actors and call machine
against the ARI simulator (time-scaled). Each test waits for the call's one record."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pykka
import pytest
from e2e_support import FAST_CALL, WAIT_S, Core

from actors.call_actor import CallActor
from asterisk.sim.testing import SimulatorThread
from core.domain import AgentState, CallOutcome, CallStep, Party, WorkstationMode
from core.ids import agent_channel_id, customer_channel_id
from core.records import CallRecord
from core.views import AgentView, CallView

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


def assert_complete_record(record: CallRecord) -> None:
    """What every record must carry whatever the outcome."""
    assert record.agent_leg.channel_id == agent_channel_id(record.call_id)
    assert record.ended_at >= record.started_at
    assert record.steps and record.steps[0].step == CallStep.REQUESTED
    assert record.steps[-1].step in (CallStep.ENDED, CallStep.FAILED)
    assert record.agent_leg.ended_at is not None


def leftover_channels(sim: SimulatorThread, call_id: str) -> list[str]:
    """The call's legs the simulator still has (Local ;2 halves may lag: not counted)."""
    legs = (agent_channel_id(call_id), customer_channel_id(call_id))
    return [c["id"] for c in sim.state()["channels"] if c["id"] in legs]


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_happy_path_customer_hangs_up(core: Core, sim: SimulatorThread) -> None:
    reactions = sample("evscallpro_event_to_command_seconds_count")
    originates = sample("evscallpro_ari_commands_total", op="originate", result="ok")
    stasis = sample("evscallpro_ari_events_total", type="StasisStart")
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer-hangup5"))
    record = core.record(req.call_id)
    # Prometheus: the core counted its ARI traffic and timed its reactions.
    assert sample("evscallpro_ari_commands_total", op="originate", result="ok") == originates + 2
    assert sample("evscallpro_ari_events_total", type="StasisStart") >= stasis + 2
    assert sample("evscallpro_event_to_command_seconds_count") >= reactions + 3
    assert sample("evscallpro_ari_connected") == 1.0
    assert_complete_record(record)
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.recording_name == req.call_id
    assert record.connected_at is not None
    assert record.customer_leg is not None and record.customer_leg.billable_seconds > 0
    assert record.agent_leg.billable_seconds >= record.customer_leg.billable_seconds
    steps = [s.step for s in record.steps]
    assert CallStep.CONNECTED in steps and CallStep.CUSTOMER_DIALING in steps
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    # Nothing left behind: no routes, no channels in the simulator. The call's actor tells
    # the Switchboard to release its routes after the record, then stops: wait for the stop,
    # so the release is in the Switchboard's inbox ahead of the stats question.
    for ref in pykka.ActorRegistry.get_by_class(CallActor):
        assert ref.actor_stopped.wait(WAIT_S), "a call actor did not stop after its record"
    assert core.app.switchboard_stats().routes == 0
    assert leftover_channels(sim, req.call_id) == []


@pytest.mark.parametrize(
    ("agent", "outcome"),
    [
        ("busy", CallOutcome.AGENT_BUSY),
        ("noanswer", CallOutcome.AGENT_NO_ANSWER),
        ("unallocated", CallOutcome.AGENT_UNREACHABLE),
        ("congestion", CallOutcome.AGENT_UNREACHABLE),
    ],
)
def test_agent_leg_fails(core: Core, agent: str, outcome: CallOutcome) -> None:
    req = core.call(LOCAL.format(agent), LOCAL.format("answer"))
    record = core.record(req.call_id)
    assert_complete_record(record)
    assert record.outcome == outcome, record.reason
    assert record.customer_leg is None  # the customer was never dialled
    assert record.connected_at is None


@pytest.mark.parametrize(
    ("customer", "outcome"),
    [
        (LOCAL.format("busy"), CallOutcome.CUSTOMER_BUSY),
        (LOCAL.format("noanswer"), CallOutcome.CUSTOMER_NO_ANSWER),
        (LOCAL.format("unallocated"), CallOutcome.CUSTOMER_INVALID_NUMBER),
        (LOCAL.format("congestion"), CallOutcome.CUSTOMER_CONGESTION),
        (LOCAL.format("reject"), CallOutcome.CUSTOMER_REJECTED),
        ("PJSIP/+33600000002@carrier", CallOutcome.CUSTOMER_BUSY),
        ("PJSIP/+33600000004@carrier", CallOutcome.CUSTOMER_INVALID_NUMBER),
        ("PJSIP/+33600000006@carrier", CallOutcome.CUSTOMER_REJECTED),
    ],
)
def test_customer_leg_fails(core: Core, customer: str, outcome: CallOutcome) -> None:
    req = core.call(LOCAL.format("answer"), customer)
    record = core.record(req.call_id)
    assert_complete_record(record)
    assert record.outcome == outcome, record.reason
    assert record.customer_leg is not None and record.customer_leg.answered_at is None
    assert record.connected_at is None
    assert record.agent_leg.answered_at is not None  # the agent heard why, then the leg ended


def test_agent_hangs_up_while_customer_rings(core: Core, sim: SimulatorThread) -> None:
    req = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert core.views.wait_step(req.call_id, CallStep.CUSTOMER_DIALING) is not None
    sim.far_end_hangup(agent_channel_id(req.call_id), 16)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.AGENT_ABANDONED, record.reason
    assert record.customer_leg is not None and record.customer_leg.answered_at is None


@pytest.mark.parametrize("who", ["agent", "customer"])
def test_either_side_hangs_up_while_connected(core: Core, sim: SimulatorThread, who: str) -> None:
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sim.far_end_hangup(f"{req.call_id}-{who}", 16)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party(who)
    assert leftover_channels(sim, req.call_id) == []


def test_ui_hangup_while_connected_and_before_answer(core: Core) -> None:
    connected = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(connected.call_id, CallStep.CONNECTED) is not None
    assert core.app.hang_up_call(connected.call_id, by="a1")
    record = core.record(connected.call_id)
    assert record.outcome == CallOutcome.COMPLETED and record.hung_up_first == Party.UI

    ringing = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert core.views.wait_step(ringing.call_id, CallStep.CUSTOMER_DIALING) is not None
    assert core.app.hang_up_call(ringing.call_id, by="a1")
    record = core.record(ringing.call_id)
    assert record.outcome == CallOutcome.CANCELLED


@pytest.mark.parametrize(
    ("agent", "outcome"),
    [
        ("answer-dtmf1", CallOutcome.COMPLETED),
        ("answer", CallOutcome.AGENT_NOT_CONFIRMED),
        ("voicemail", CallOutcome.AGENT_NOT_CONFIRMED),
    ],
)
def test_acceptance_press_1(
    make_core: Callable[..., Core], agent: str, outcome: CallOutcome
) -> None:
    core = make_core(call=msgspec.structs.replace(FAST_CALL, acceptance=True))
    req = core.call(LOCAL.format(agent), LOCAL.format("answer-hangup3"))
    record = core.record(req.call_id)
    assert record.outcome == outcome, record.reason
    steps = [s.step for s in record.steps]
    assert CallStep.AGENT_CONFIRMING in steps
    if outcome == CallOutcome.AGENT_NOT_CONFIRMED:
        assert record.customer_leg is None


@pytest.mark.parametrize(
    ("mode", "agent_endpoint"),
    [
        (WorkstationMode.MOBILE, "PJSIP/+33600000001@carrier"),
        (WorkstationMode.SOFTPHONE, "PJSIP/agent-1001"),
    ],
)
def test_workstation_modes_through_the_call_center_api(
    core: Core, mode: WorkstationMode, agent_endpoint: str
) -> None:
    app = core.app
    assert app.log_in("a1") is None
    assert app.set_workstation("a1", mode, "+33600000001" if mode == "mobile" else None) is None
    assert app.place_call("a1", "+33600000008") is None  # the customer hangs up after 5 s
    refusal = app.place_call("a1", "+33600000001")
    assert refusal is not None and refusal.code == "agent_on_call"

    record = core.sink.wait_for(lambda r: isinstance(r, CallRecord), 15)
    assert record is not None
    assert record.outcome == CallOutcome.COMPLETED, record.reason
    assert record.workstation == mode
    assert record.agent_leg.endpoint == agent_endpoint
    assert record.customer_leg is not None
    assert record.customer_leg.endpoint == "PJSIP/+33600000008@carrier"

    wrap_up = core.views.wait_for(
        lambda v: isinstance(v, AgentView) and v.state == AgentState.WRAP_UP
    )
    assert wrap_up is not None and wrap_up.awaiting_disposition is not None
    assert app.qualify("a1", record.call_id, "sale") is None
    available = core.views.wait_for(
        lambda v: (
            isinstance(v, AgentView)
            and v.state == AgentState.AVAILABLE
            and v.awaiting_disposition is None
        )
    )
    assert available is not None
    assert any(isinstance(v, CallView) and v.step == CallStep.CONNECTED for v in core.views.views)


def test_call_center_refusals(core: Core) -> None:
    app = core.app
    assert app.place_call("nobody", "+33600000008").code == "unknown_agent"  # type: ignore[union-attr]
    assert app.place_call("a1", "+33600000008").code == "agent_offline"  # type: ignore[union-attr]
    assert app.log_in("a1") is None
    bad = app.place_call("a1", "not a number")
    assert bad is not None and bad.code == "invalid_number"
    assert app.hang_up("a1", "no-such-call") is not None


def test_originate_refused_by_asterisk_ends_the_call_with_its_reason(
    core: Core, sim: SimulatorThread
) -> None:
    sim.fail_next("originate", 1, 500, "Allocation failed")
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert "Allocation failed" in record.reason


def test_start_failure_and_double_stop_leave_nothing_running(sim: SimulatorThread) -> None:
    import threading
    import time

    from e2e_support import core_config

    from evscallpro.root import CallCenterApp

    before = threading.active_count()
    app = CallCenterApp(msgspec.structs.replace(core_config(sim), ari_url="http://127.0.0.1:9"))
    with pytest.raises(RuntimeError, match="did not open"):
        app.start(wait_for_link_s=0.5)
    app.stop()  # a second stop is harmless
    assert app.place_call("a1", "+33600000001").code == "core_stopped"  # type: ignore[union-attr]
    assert app.loop_thread.running is False
    tick = threading.Event()
    deadline = time.monotonic() + 15  # actor threads exit right after their stop message
    while threading.active_count() > before and time.monotonic() < deadline:
        tick.wait(0.05)
    assert threading.active_count() <= before


@pytest.mark.parametrize(
    ("customer", "outcome"),
    [
        (LOCAL.format("answer-hangup3"), CallOutcome.COMPLETED),
        (LOCAL.format("busy"), CallOutcome.CUSTOMER_BUSY),
        ("PJSIP/+33600000009@carrier", None),  # early media, then answers: completed via UI
    ],
)
def test_customer_dialed_with_create_and_dial(
    make_core: Callable[..., Core],
    sim: SimulatorThread,
    customer: str,
    outcome: CallOutcome | None,
) -> None:
    from core.call_config import CustomerDialMethod

    core = make_core(
        call=msgspec.structs.replace(FAST_CALL, customer_dial_method=CustomerDialMethod.CREATE_DIAL)
    )
    req = core.call(LOCAL.format("answer"), customer)
    if outcome is None:
        assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
        assert core.app.hang_up_call(req.call_id, by="a1")
        outcome = CallOutcome.COMPLETED
    record = core.record(req.call_id)
    assert record.outcome == outcome, record.reason
    assert record.customer_leg is not None
    assert leftover_channels(sim, req.call_id) == []


def test_a_workstation_change_alone_reaches_the_desktop(core: Core) -> None:
    """The agent's radio buttons follow a workstation change with no call around it."""
    app = core.app
    assert app.log_in("a1") is None
    assert app.set_workstation("a1", WorkstationMode.SOFTPHONE) is None
    seen = len(core.views.views)
    assert app.set_workstation("a1", WorkstationMode.MOBILE, "+33600000001") is None
    view = core.views.wait_for(
        lambda v: isinstance(v, AgentView) and v.workstation == WorkstationMode.MOBILE,
        after=seen,
    )
    assert view is not None, "no view published after the workstation change"
    assert view.mobile_number == "+33600000001"
