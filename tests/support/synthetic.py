"""Plausible call records for tests and benchmarks (seeded, reproducible); test data, so it
lives under tests/support, outside the product packages.

`generate_calls` builds real `core.records.CallRecord`s (both legs, steps, outcome) so tests
compute expected statistics from the Python objects, independently of the SQL under test.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from core.domain import CallOutcome, CallStep, LegRole, Party, WorkstationMode
from core.records import CallRecord, Disposition, LegRecord, StepTime

# Rough shape of an outbound day: most calls connect, the rest fail on one leg or the other.
OUTCOME_WEIGHTS: dict[CallOutcome, int] = {
    CallOutcome.COMPLETED: 55,
    CallOutcome.CUSTOMER_NO_ANSWER: 15,
    CallOutcome.CUSTOMER_BUSY: 8,
    CallOutcome.CUSTOMER_INVALID_NUMBER: 3,
    CallOutcome.AGENT_NO_ANSWER: 6,
    CallOutcome.AGENT_BUSY: 3,
    CallOutcome.AGENT_ABANDONED: 3,
    CallOutcome.CANCELLED: 2,
    CallOutcome.REJECTED: 3,
    CallOutcome.CUSTOMER_CONGESTION: 2,
}
_CUSTOMER_DIALED = {
    CallOutcome.COMPLETED,
    CallOutcome.CUSTOMER_NO_ANSWER,
    CallOutcome.CUSTOMER_BUSY,
    CallOutcome.CUSTOMER_INVALID_NUMBER,
    CallOutcome.CUSTOMER_CONGESTION,
    CallOutcome.AGENT_ABANDONED,
    CallOutcome.CANCELLED,
}
DISPOSITION_CODES = ("sale", "callback", "not_interested", "wrong_number", "voicemail")


def generate_calls(
    count: int,
    *,
    agents: int = 10,
    start: float = 1_780_000_000.0,  # 2026-05-28T20:26:40Z
    spacing: float = 30.0,
    seed: int = 7,
    prefix: str = "call",
) -> Iterator[CallRecord]:
    rng = random.Random(seed)
    outcomes = list(OUTCOME_WEIGHTS)
    weights = list(OUTCOME_WEIGHTS.values())
    for index in range(count):
        outcome = rng.choices(outcomes, weights)[0]
        agent = f"agent-{index % agents:03d}"  # the last 3 digits pick the workstation
        started = start + index * spacing + rng.random()
        yield _call(f"{prefix}-{index:07d}", agent, outcome, started, rng)


def _call(
    call_id: str, agent: str, outcome: CallOutcome, started: float, rng: random.Random
) -> CallRecord:
    steps = [StepTime(CallStep.REQUESTED, started)]
    if outcome is CallOutcome.REJECTED:
        return CallRecord(
            call_id=call_id,
            agent_id=agent,
            customer_number="+33100000000",
            workstation=WorkstationMode.MOBILE,
            agent_leg=LegRecord(role=LegRole.AGENT, endpoint="", channel_id=""),
            steps=tuple(steps),
            outcome=outcome,
            reason="agent_not_available",
            started_at=started,
            ended_at=started,
        )
    agent_rings = started + 0.05
    agent_answer = agent_rings + rng.uniform(2.0, 8.0)
    steps.append(StepTime(CallStep.AGENT_DIALING, started + 0.01))
    number = f"+3361{rng.randrange(10**7):07d}"
    customer_leg: LegRecord | None = None
    connected: float | None = None
    hung_up_first: Party | None = None
    recording: str | None = None
    ended = agent_answer
    if outcome in _CUSTOMER_DIALED:
        steps += [
            StepTime(CallStep.AGENT_ANSWERED, agent_answer),
            StepTime(CallStep.ANNOUNCING, agent_answer + 0.01),
            StepTime(CallStep.CUSTOMER_DIALING, agent_answer + 2.0),
        ]
        customer_dialed = agent_answer + 2.0
        if outcome is CallOutcome.COMPLETED:
            connected = customer_dialed + rng.uniform(3.0, 15.0)
            talk = round(rng.uniform(10.0, 600.0), 3)
            ended = connected + talk
            hung_up_first = rng.choice((Party.AGENT, Party.CUSTOMER))
            recording = f"rec-{call_id}"
            steps.append(StepTime(CallStep.CONNECTED, connected))
            customer_leg = _leg(LegRole.CUSTOMER, call_id, customer_dialed, connected, ended, 16)
        else:
            ended = customer_dialed + rng.uniform(1.0, 20.0)
            customer_leg = _leg(LegRole.CUSTOMER, call_id, customer_dialed, None, ended, 17)
        agent_leg = _leg(LegRole.AGENT, call_id, started, agent_answer, ended, 16)
    else:
        agent_leg = _leg(LegRole.AGENT, call_id, started, None, ended, 19)
    steps.append(StepTime(CallStep.ENDED, ended))
    return CallRecord(
        call_id=call_id,
        agent_id=agent,
        contact_id=f"contact-{call_id}",
        customer_number=number,
        workstation=WorkstationMode.MOBILE if int(agent[-3:]) % 2 else WorkstationMode.SOFTPHONE,
        agent_leg=agent_leg,
        customer_leg=customer_leg,
        steps=tuple(steps),
        outcome=outcome,
        reason=str(outcome),
        hung_up_first=hung_up_first,
        recording_name=recording,
        started_at=started,
        connected_at=connected,
        ended_at=ended,
    )


def _leg(
    role: LegRole,
    call_id: str,
    dialed: float,
    answered: float | None,
    ended: float,
    cause: int,
) -> LegRecord:
    return LegRecord(
        role=role,
        endpoint=f"PJSIP/{role}-{call_id}@trunk",
        channel_id=f"{call_id}-{role}",
        dialed_at=dialed,
        ringing_at=dialed + 0.05,
        answered_at=answered,
        ended_at=ended,
        hangup_cause=cause,
        hangup_cause_text="Normal Clearing" if cause == 16 else "other",
        dial_status="ANSWER" if answered is not None else "NOANSWER",
        billable_seconds=round(ended - answered, 6) if answered is not None else 0.0,
    )


def dispositions_for(records: list[CallRecord], seed: int = 11) -> list[Disposition]:
    """One disposition for each connected call, submitted 5-60 s after it ended."""
    rng = random.Random(seed)
    return [
        Disposition(
            call_id=r.call_id,
            agent_id=r.agent_id,
            code=rng.choice(DISPOSITION_CODES),
            submitted_at=r.ended_at + rng.uniform(5.0, 60.0),
        )
        for r in records
        if r.connected_at is not None
    ]
