"""Recovery building blocks without sockets: grouping Asterisk's channels into calls, the
adopted-call machine ending cleanly, and the live-calls journal surviving a crash."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from actors.call_journal import CallJournal
from core.ari_events import Bridge, Channel
from core.call_config import CallRequest
from core.domain import CallOutcome
from core.recovery_call import adopted_request, lost_call_record
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


def test_adopted_request_comes_from_channel_variables() -> None:
    calls = live_calls(
        [chan("c1-agent"), chan("c1-agent-2"), chan("c1-customer")],
        [Bridge(id="c1-bridge", channels=["c1-agent", "c1-customer"])],
        {
            "c1-agent": {
                "EVS_AGENT_ID": "a1",
                "EVS_CUSTOMER_NUMBER": "+33600000001",
                "EVS_WORKSTATION": "softphone",
            }
        },
    )
    request = adopted_request(calls[0], at=100.0)
    assert request.agent_id == "a1" and request.customer_number == "+33600000001"
    assert request.workstation == "softphone" and request.requested_at == 100.0


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
