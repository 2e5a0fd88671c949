"""Random input sequences for the supervision and agent machines: no exception escapes, no
internal error path is hit, and the invariants hold."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from call_events_factory import (
    destroyed,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    stasis_end,
    stasis_start,
)

from core.agent import (
    AgentMachine,
    LogIn,
    LogOut,
    Pause,
    Refusal,
    SetAvailable,
    SetWorkstation,
    SubmitDisposition,
)
from core.call_config import CallRequest
from core.call_events import CallEnded
from core.domain import AgentState, CallOutcome, Party, SupervisionMode, WorkstationMode
from core.records import CallRecord, LegRecord
from core.supervision import (
    CallFinished,
    SetSupervisionMode,
    StartSupervision,
    StopSupervision,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionState,
)
from core.timers import CancelTimer, StartTimer, TimerFired

SID = "c1-sup-s1"


def test_supervision_random_inputs(caplog: pytest.LogCaptureFixture) -> None:
    """200 seeded random supervisions, one test; a failure names its seed."""
    for seed in range(200):
        caplog.clear()
        try:
            random_supervision(seed, caplog)
        except AssertionError as exc:
            exc.add_note(f"seed {seed}")
            raise


def random_supervision(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    m = SupervisionMachine("c1", "s1", "PJSIP/agent-1002", "c1-agent", "c1-bridge")
    sent: list[Any] = []
    events: list[Any] = []

    def feed(inp: Any) -> None:
        m.receive(inp, 1.0)
        sent.extend(m.commands_to_send())
        events.extend(m.events_emitted())

    feed(StartSupervision(rng.choice(list(SupervisionMode))))
    for _ in range(rng.randint(1, 30)):
        ids = [f"{SID}-leg", f"{SID}-snoop-1", f"{SID}-snoop-2", f"{SID}-snoop-3", "x"]
        cid = rng.choice(ids)
        options: list[Any] = [
            stasis_start(cid, "Up"),
            stasis_end(cid),
            destroyed(cid, rng.choice([16, 17, 19])),
            hangup_request(cid, 16),
            entered_bridge(rng.choice([f"{SID}-bridge", "c1-bridge"]), cid, []),
            SetSupervisionMode(rng.choice(list(SupervisionMode))),
            TimerFired(rng.choice(["supervisor_answer", "ending"])),
        ]
        if rng.random() < 0.1:
            options.append(rng.choice([StopSupervision(), CallFinished()]))
        ari = [c for c in sent if not isinstance(c, StartTimer | CancelTimer)]
        if ari:
            command = rng.choice(ari)
            options += [ok(command), failed(command, rng.choice([0, 404, 409, 500]), "x")]
        feed(rng.choice(options))
    feed(StopSupervision())
    feed(destroyed(f"{SID}-leg", 16))
    feed(TimerFired("ending"))
    assert m.state in (SupervisionState.ENDED, SupervisionState.FAILED)
    assert len([e for e in events if isinstance(e, SupervisionEnded)]) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _record(call_id: str, outcome: CallOutcome) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        agent_id="a1",
        customer_number="+33622222222",
        workstation=WorkstationMode.MOBILE,
        agent_leg=LegRecord(role="agent", endpoint="x", channel_id="x"),  # type: ignore[arg-type]
        outcome=outcome,
        hung_up_first=Party.AGENT,
        started_at=0.0,
        ended_at=1.0,
    )


def test_agent_random_inputs(caplog: pytest.LogCaptureFixture) -> None:
    """200 seeded random agent days, one test; a failure names its seed."""
    for seed in range(200):
        caplog.clear()
        try:
            random_agent_day(seed, caplog)
        except AssertionError as exc:
            exc.add_note(f"seed {seed}")
            raise


def random_agent_day(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    m = AgentMachine(
        "a1",
        workstation=WorkstationMode.MOBILE,
        mobile_number="0611111111",
        softphone_endpoint=rng.choice([None, "agent-1001"]),
        wrap_up_max_s=rng.choice([None, 30.0]),
    )
    calls: list[str] = []
    for step in range(rng.randint(1, 40)):
        call_id = rng.choice(calls) if calls and rng.random() < 0.7 else f"c{step}"
        options: list[Any] = [
            LogIn(),
            LogOut(),
            SetAvailable(),
            Pause(reason=rng.choice(["", "lunch"])),
            SetWorkstation(
                rng.choice(list(WorkstationMode)), rng.choice([None, "0612", "0622222222"])
            ),
            SubmitDisposition(call_id=call_id, code=rng.choice(["", "sale"])),
            CallEnded(record=_record(call_id, rng.choice(list(CallOutcome)))),
            TimerFired("wrap_up"),
        ]
        if rng.random() < 0.3:
            result = m.request_call(rng.choice(["0622222222", "12", "0899234567"]), f"c{step}", 1.0)
            if isinstance(result, CallRequest):
                calls.append(result.call_id)
                assert m.state == AgentState.ON_CALL
            else:
                assert isinstance(result, Refusal) and result.code and result.detail
        else:
            refusal = m.receive(rng.choice(options), 1.0)
            assert refusal is None or (refusal.code and refusal.detail)
        view = m.view()
        assert view.state == m.state
        assert (view.call is None) or m.state == AgentState.ON_CALL
        assert (view.awaiting_disposition is None) == (m.state != AgentState.WRAP_UP)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
