"""Random input sequences: the call machine never raises, never hits its own error path, and
once every leg is gone (and its guard timers fired) it has emitted exactly one CallEnded."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from call_events_factory import (
    Driver,
    destroyed,
    dial,
    dtmf,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_end,
    stasis_start,
    state_change,
)

from core.ari_commands import AddToBridge, CreateBridge, StartMusicOnHold, StartRinging
from core.ari_events import UnhandledEvent
from core.call_config import CallSettings, CustomerDialMethod, CustomerDialTiming
from core.call_inputs import CallStart, HangupFromUi
from core.domain import CallStep
from core.timers import CancelTimer, StartTimer, TimerFired

AGENT, CUSTOMER = "c1-agent", "c1-customer"
TIMERS = ["agent_answer", "agent_confirm", "announce", "customer_answer", "bridge", "notice"]


def random_input(rng: random.Random, d: Driver) -> Any:
    cid = rng.choice([AGENT, CUSTOMER, "c1-agent-2", "c1-customer-2", "stranger"])
    choices = [
        lambda: stasis_start(cid, rng.choice(["Up", "Down"])),
        lambda: state_change(cid, rng.choice(["Ringing", "Up", "Busy"])),
        lambda: dial(cid, rng.choice(["", "RINGING", "PROGRESS", "ANSWER", "BUSY", "NOANSWER"])),
        lambda: hangup_request(cid, rng.choice([16, 17, 32, 1, 21]), soft=rng.random() < 0.5),
        lambda: stasis_end(cid),
        lambda: destroyed(cid, rng.choice([0, 16, 17, 19, 21, 34, 1])),
        lambda: dtmf(AGENT, rng.choice(["1", "2", "#"])),
        lambda: playback_finished(f"c1-pb-{rng.choice(['announce', 'press1', 'notice'])}"),
        lambda: entered_bridge("c1-bridge", cid, [AGENT, CUSTOMER]),
        lambda: TimerFired(rng.choice(TIMERS)),
        lambda: HangupFromUi(by="a1"),
        lambda: UnhandledEvent(type="ChannelTalkingStarted"),
    ]
    sent = [c for c in d.commands if not isinstance(c, StartTimer | CancelTimer)]
    if sent:
        command = rng.choice(sent)
        choices.append(lambda: ok(command))  # type: ignore[arg-type]
        choices.append(lambda: failed(command, rng.choice([0, 400, 404, 409, 500]), "x"))  # type: ignore[arg-type]
    return rng.choice(choices)()


def happy_prefix(d: Driver, rng: random.Random) -> None:
    """Walk the normal path up to a random step, so the noise hits every step."""
    creating = d.m.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL
    steps: list[Any] = [stasis_start(AGENT, "Up")]
    if d.m.settings.acceptance:
        steps.append(dtmf(AGENT, "1"))
    announced = len(steps)
    if creating:
        steps += [stasis_start(CUSTOMER, "Down"), dial(CUSTOMER, "RINGING")]
        steps.append(state_change(CUSTOMER, "Up"))
    else:
        steps += [dial(CUSTOMER, "RINGING"), stasis_start(CUSTOMER, "Up")]
    if d.m.settings.customer_dial_timing == CustomerDialTiming.AT_CONFIRMATION:
        announced = rng.randint(announced, len(steps))  # the prompt ends while it rings
    steps.insert(announced, playback_finished("c1-pb-announce"))
    steps.append(ok(CreateBridge(bridge_id="c1-bridge", name="c1")))
    steps.append(ok(AddToBridge(bridge_id="c1-bridge", channel_ids=(AGENT, CUSTOMER))))
    for inp in steps[: rng.randint(0, len(steps))]:
        d.feed(inp)


def test_random_inputs_never_break_the_machine(caplog: pytest.LogCaptureFixture) -> None:
    """400 seeded random calls, one test; a failure names its seed."""
    for seed in range(400):
        caplog.clear()
        try:
            random_call(seed, caplog)
        except AssertionError as exc:
            exc.add_note(f"seed {seed}")
            raise


def random_call(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    settings = CallSettings(
        acceptance=rng.random() < 0.5,
        customer_dial_method=rng.choice(list(CustomerDialMethod)),
        customer_dial_timing=rng.choice(list(CustomerDialTiming)),
    )
    d = Driver.make(settings, agent_endpoint=rng.choice(["PJSIP/x", "Local/x@sim-phones"]))
    d.feed(CallStart())
    happy_prefix(d, rng)
    reached = d.m.step
    for _ in range(rng.randint(1, 12)):
        d.feed(random_input(rng, d))
    # Whatever happened, the legs end and the guards fire: the call must close, once.
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16), TimerFired("notice"))
    d.feed(TimerFired("ending"), HangupFromUi(by="a1"), TimerFired("ending"))
    assert d.m.step in (CallStep.ENDED, CallStep.FAILED, CallStep.REJECTED), reached
    record = d.record()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], f"seed {seed}: the machine hit its own error path"
    assert record.ended_at >= record.started_at
    assert record.agent_leg.ended_at is not None
    assert d.events[-1].record == record  # type: ignore[union-attr]
    # hold audio is never started once the customer answered (the bridge was asked for)
    kinds = [type(c) for c in d.commands]
    if CreateBridge in kinds:
        later = kinds[kinds.index(CreateBridge) :]
        assert StartMusicOnHold not in later and StartRinging not in later
