"""Issue 10 items 3 and 5 end to end: hang-ups and bridge deletions that Asterisk refuses with
503 are sent again until it confirms; nothing is left up and the record is the true one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from e2e_support import WAIT_S, Core
from test_supervision import supervised_core, wait_clean, wait_monitored

from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, SupervisionMode

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


def wait_no_channels(sim: SimulatorThread, prefix: str, timeout: float = WAIT_S) -> list[str]:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    left: list[str] = []
    while time.monotonic() < deadline:
        left = [c["id"] for c in sim.state()["channels"] if c["id"].startswith(prefix)]
        if not left:
            break
        tick.wait(0.05)
    return left


def test_ui_hangup_refused_with_503_is_retried_and_the_legs_really_end(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core()
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sim.fail_next("DELETE /channels/{channelId}", 3, 503, "Service Unavailable")
    assert core.app.hang_up_call(req.call_id, by="a1")
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED
    # Closed on Asterisk's ChannelDestroyed, not by the ending guard with the legs still up.
    assert record.agent_leg.hangup_cause == 16
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 16
    assert wait_no_channels(sim, req.call_id) == []


def test_private_bridge_deletion_refused_with_503_is_retried_until_gone(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = supervised_core(make_core)
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.LISTEN),))
    sim.fail_next("DELETE /bridges/{bridgeId}", 3, 503, "Service Unavailable")
    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.BARGE) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.BARGE),), after=mark)
    sid = f"{req.call_id}-sup-s1"
    deadline = time.monotonic() + WAIT_S
    tick = threading.Event()
    while time.monotonic() < deadline:  # the private bridge goes despite the 503s
        state = sim.state()
        private = [b["id"] for b in state["bridges"] if b["id"].startswith(f"{sid}-bridge")]
        private += [b for b in state["dissolving_bridges"] if b.startswith(sid)]
        if not private:
            break
        tick.wait(0.05)
    assert private == []
    assert core.app.stop_supervision("s1", req.call_id) is None
    assert wait_clean(sim, sid) == []
    assert core.app.hang_up_call(req.call_id, by="a1")
    assert core.record(req.call_id).outcome == CallOutcome.COMPLETED
