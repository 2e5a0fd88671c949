"""Random inputs during and after a mid-call switch (core/call_switch.py): the machine never
raises nor takes its own error path, a call back in `connected` never leaves the customer on
hold, the customer is never taken out of the bridge, and once every leg is gone the call has
ended with exactly one record listing every agent leg."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from call_events_factory import (
    destroyed,
    dtmf,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_end,
    stasis_start,
)
from test_core_call_switch import BRIDGE, CUSTOMER, ENDPOINT, OLD, SETTINGS, connected

from core.ari_commands import HangupChannel, StartMusicOnHold, StopMusicOnHold
from core.call_inputs import HangupFromUi, SwitchAgentLeg
from core.domain import CallStep, WorkstationMode
from core.timers import CancelTimer, StartTimer, TimerFired

LEGS = [OLD, CUSTOMER, "c1-agent-s1", "c1-agent-s2"]
TIMERS = ["switch_answer", "switch_confirm", "switch_bridge", "bridge", "ending"]


def random_input(rng: random.Random, d: Any) -> Any:
    cid = rng.choice(LEGS)
    target = rng.choice(list(WorkstationMode))
    choices = [
        lambda: stasis_start(cid, rng.choice(["Up", "Down"])),
        lambda: hangup_request(cid, rng.choice([16, 17, 19, 32]), soft=rng.random() < 0.3),
        lambda: stasis_end(cid),
        lambda: destroyed(cid, rng.choice([0, 16, 17, 19, 21, 34])),
        lambda: dtmf(cid, rng.choice(["1", "2"])),
        lambda: playback_finished(f"c1-pb-{rng.choice(['switch-hold', 'switch-press1'])}"),
        lambda: entered_bridge(BRIDGE, cid, [CUSTOMER, cid]),
        lambda: TimerFired(rng.choice(TIMERS)),
        lambda: HangupFromUi(by=rng.choice(["a1", "softphone_offline"])),
        lambda: SwitchAgentLeg(target=target, endpoint=ENDPOINT[target]),
    ]
    sent = [c for c in d.commands if not isinstance(c, StartTimer | CancelTimer)]
    if sent:
        command = rng.choice(sent[-6:])
        choices.append(lambda: ok(command))
        choices.append(lambda: failed(command, rng.choice([0, 400, 404, 500]), "x"))
    return rng.choice(choices)()


def hold_left_on(commands: list[Any]) -> bool:
    on = False
    for c in commands:
        if isinstance(c, StartMusicOnHold) and c.channel_id == CUSTOMER:
            on = True
        elif isinstance(c, StopMusicOnHold) and c.channel_id == CUSTOMER:
            on = False
    return on


def test_random_inputs_around_a_switch(caplog: pytest.LogCaptureFixture) -> None:
    for seed in range(300):
        caplog.clear()
        rng = random.Random(seed)
        d = connected(rng.choice(list(WorkstationMode)), SETTINGS)
        target = WorkstationMode.MOBILE if d.m.workstation == "softphone" else "softphone"
        d.feed(SwitchAgentLeg(target=target, endpoint=ENDPOINT[target]))  # type: ignore[index]
        for _ in range(rng.randint(1, 14)):
            d.feed(random_input(rng, d))
            if d.m.step == CallStep.CONNECTED and not d.m.customer_leg().going:
                assert not hold_left_on(d.commands), f"seed {seed}: customer left on hold"
        assert not any(type(c).__name__ == "RemoveFromBridge" for c in d.commands), seed
        for cid in LEGS:
            d.feed(destroyed(cid, 16))
        d.feed(HangupFromUi(by="a1"), TimerFired("ending"), TimerFired("ending"))
        assert d.m.step in (CallStep.ENDED, CallStep.FAILED), f"seed {seed}: {d.m.step}"
        record = d.record()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [], f"seed {seed}: {errors}"
        switched = [c for c in d.commands if isinstance(c, HangupChannel)]
        assert switched or record.outcome  # the end was asked for or seen
        if record.agent_legs:
            assert record.agent_legs[0].channel_id == OLD
            assert all(leg.ended_at is not None for leg in record.agent_legs)
