"""Recovery building blocks without sockets: grouping Asterisk's channels into calls, the
adopted-call machine ending cleanly, and the live-calls journal surviving a crash."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from actors.call_journal import CallJournal
from core.ari_commands import AriCommandFailed, DestroyBridge, HangupChannel
from core.ari_events import Bridge, Channel, decode_event
from core.call_config import CallRequest
from core.call_events import CallEnded
from core.call_inputs import HangupFromUi
from core.domain import CallOutcome, CallStep, Party
from core.recovery_call import RecoveredCallMachine, adopted_request, lost_call_record
from core.recovery_scan import live_calls


def chan(cid: str, state: str = "Up", app_data: str = "") -> Channel:
    return msgspec.convert(
        {
            "id": cid,
            "name": "Local/x@sim-phones-0001;1",
            "state": state,
            "dialplan": {"app_name": "Stasis", "app_data": app_data},
        },
        Channel,
    )


def test_live_calls_groups_legs_halves_and_bridge() -> None:
    channels = [
        chan("c1-agent", app_data="evscallpro,agent,c1"),
        chan("c1-agent-2"),
        chan("c1-customer", app_data="evscallpro,customer,c1"),
        chan("c1-customer-2"),
        chan("c2-agent", state="Ringing"),
        chan("unrelated"),
    ]
    bridges = [Bridge(id="c1-bridge", channels=["c1-agent", "c1-customer"])]
    calls = live_calls(channels, bridges, {"c1-agent": {"EVS_AGENT_ID": "a1"}})
    by_id = {c.call_id: c for c in calls}
    assert set(by_id) == {"c1", "c2"}
    c1 = by_id["c1"]
    assert c1.bridged and c1.bridge_id == "c1-bridge"
    assert c1.agent is not None and c1.agent.local2_id == "c1-agent-2"
    assert c1.variables == {"EVS_AGENT_ID": "a1"}
    assert not by_id["c2"].bridged


def adopted(call_id: str = "c1") -> RecoveredCallMachine:
    calls = live_calls(
        [chan(f"{call_id}-agent"), chan(f"{call_id}-agent-2"), chan(f"{call_id}-customer")],
        [Bridge(id=f"{call_id}-bridge", channels=[f"{call_id}-agent", f"{call_id}-customer"])],
        {f"{call_id}-agent": {"EVS_AGENT_ID": "a1", "EVS_CUSTOMER_NUMBER": "+33600000001"}},
    )
    request = adopted_request(calls[0], at=100.0)
    assert request.agent_id == "a1" and request.customer_number == "+33600000001"
    return RecoveredCallMachine(calls[0], request, at=100.0)


def test_adopted_call_customer_hangs_up_then_agent_is_hung_up_and_record_written() -> None:
    m = adopted()
    assert m.step == CallStep.CONNECTED
    m.events_emitted()
    m.receive(
        decode_event(
            {"type": "ChannelHangupRequest", "channel": {"id": "c1-customer"}, "cause": 16}
        ),
        110.0,
    )
    assert HangupChannel(channel_id="c1-agent") in m.commands_to_send()
    m.receive(
        decode_event(
            {
                "type": "ChannelDestroyed",
                "channel": {"id": "c1-customer"},
                "cause": 16,
                "cause_txt": "Normal Clearing",
            }
        ),
        110.1,
    )
    assert not m.is_finished  # the agent leg is still going away
    m.receive(
        decode_event({"type": "ChannelDestroyed", "channel": {"id": "c1-agent"}, "cause": 16}),
        110.2,
    )
    assert m.is_finished
    assert DestroyBridge(bridge_id="c1-bridge") in m.commands_to_send()
    ended = [e for e in m.events_emitted() if isinstance(e, CallEnded)]
    assert len(ended) == 1
    record = ended[0].record
    assert record.outcome == CallOutcome.COMPLETED and record.recovered
    assert record.hung_up_first == Party.CUSTOMER
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 16


def test_adopted_call_ui_hangup_and_404_count_as_gone() -> None:
    m = adopted("c5")
    m.receive(HangupFromUi(by="a1"), 120.0)
    sent = m.commands_to_send()
    assert {c.channel_id for c in sent if isinstance(c, HangupChannel)} == {
        "c5-agent",
        "c5-customer",
    }
    for cid in ("c5-agent", "c5-customer"):
        m.receive(
            AriCommandFailed(
                command=HangupChannel(channel_id=cid), status=404, message="Channel not found"
            ),
            120.1,
        )
    assert m.is_finished
    record = next(e for e in m.events_emitted() if isinstance(e, CallEnded)).record
    assert record.hung_up_first == Party.UI and record.outcome == CallOutcome.COMPLETED


def test_unbridged_leftover_is_hung_up_at_once() -> None:
    calls = live_calls([chan("c7-agent", state="Up")], [], {})
    m = RecoveredCallMachine(calls[0], adopted_request(calls[0], 1.0), at=1.0)
    assert m.step == CallStep.ENDING
    assert HangupChannel(channel_id="c7-agent") in m.commands_to_send()


def test_journal_keeps_live_calls_across_a_crash(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "live.jsonl")
    req = CallRequest(
        call_id="j1",
        agent_id="a1",
        agent_endpoint="Local/answer@sim-phones",
        customer_number="+33600000001",
        customer_endpoint="x",
        requested_at=time.time(),
    )
    journal.started(req, 1.0)
    journal.connected("j1", 2.0)
    journal.started(msgspec.structs.replace(req, call_id="j2"), 3.0)
    journal.ended("j2", 4.0)
    with (tmp_path / "live.jsonl").open("ab") as fh:
        fh.write(b"{half a line")  # what a SIGKILL mid-write could leave
    reopened = CallJournal(tmp_path / "live.jsonl")
    live = reopened.live_calls()
    assert list(live) == ["j1"] and live["j1"].connected_at == 2.0
    reopened.compact()
    assert list(CallJournal(tmp_path / "live.jsonl").live_calls()) == ["j1"]
    record = lost_call_record(
        live["j1"].request, live["j1"].last_step, live["j1"].connected_at, 9.0
    )
    assert record.outcome == CallOutcome.COMPLETED and record.recovered
    assert record.reason == "ended_while_core_away"
