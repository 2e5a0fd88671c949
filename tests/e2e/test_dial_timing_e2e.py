"""The customer is dialed the moment the agent answers (customer_dial_timing =
at_confirmation, the default), on the simulator: the customer's phone rings while the agent
still hears the "customer is being called" prompt; with after_announcement it does not."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from e2e_support import FAST_CALL, Core, wait_channels

from asterisk.sim.testing import SimulatorThread
from core.call_config import CallPrompts, CustomerDialTiming
from core.domain import CallOutcome, CallStep
from core.ids import customer_channel_id, playback_id

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"
# A prompt long enough to look at (10 x 4.9 s of simulated sound, 2.5 wall seconds at the
# tests' time scale), with a guard that never cuts it here.
LONG_PROMPT = msgspec.structs.replace(
    FAST_CALL,
    prompts=CallPrompts(customer_being_called=("sound:ss-noservice",) * 10),
    prompt_guard_s=60.0,
)


def announcing(sim: SimulatorThread, call_id: str) -> bool:
    return any(p["id"] == playback_id(call_id, "announce") for p in sim.state()["playbacks"])


def test_the_customer_rings_while_the_agent_still_hears_the_prompt(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core(call=LONG_PROMPT)
    req = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert wait_channels(sim, {customer_channel_id(req.call_id)})
    assert announcing(sim, req.call_id)  # the prompt is not over: dialed at the answer
    assert core.app.hang_up_call(req.call_id)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.CANCELLED
    assert CallStep.ANNOUNCING not in [s.step for s in record.steps]


def test_after_announcement_dials_once_the_prompt_is_over(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    settings = msgspec.structs.replace(
        LONG_PROMPT, customer_dial_timing=CustomerDialTiming.AFTER_ANNOUNCEMENT
    )
    core = make_core(call=settings)
    req = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert wait_channels(sim, {customer_channel_id(req.call_id)})
    assert not announcing(sim, req.call_id)
    assert core.app.hang_up_call(req.call_id)
    record = core.record(req.call_id)
    assert [s.step for s in record.steps].index(CallStep.ANNOUNCING) < [
        s.step for s in record.steps
    ].index(CallStep.CUSTOMER_DIALING)
