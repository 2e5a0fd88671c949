"""Live supervision end to end: a supervisor listens, whispers, barges, stops; a supervised
call that ends takes the supervision with it. The supervised call is never disturbed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import Core, wait_bridged

from actors.bridge_actor import SupervisionView
from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, Party, SupervisionMode
from evscallpro.root import SupervisorEntry

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


def supervised_core(make_core: Callable[..., Core]) -> Core:
    return make_core(
        supervisors=(SupervisorEntry(supervisor_id="s1", endpoint=LOCAL.format("answer")),)
    )


def wait_supervision(core: Core, state: str, after: int = 0) -> SupervisionView:
    def match(v: Any) -> bool:
        return isinstance(v, SupervisionView) and v.state == state

    view = core.views.wait_for(lambda v: match(v) and core.views.views.index(v) >= after)
    assert view is not None, f"supervision never reached {state}"
    return view


def bridge_members(sim: SimulatorThread, bridge_id: str) -> set[str]:
    for bridge in sim.state()["bridges"]:
        if bridge["id"] == bridge_id:
            return set(bridge["channels"])
    return set()


def test_listen_whisper_barge_stop(make_core: Callable[..., Core], sim: SimulatorThread) -> None:
    core = supervised_core(make_core)
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    assert wait_bridged(sim, req.call_id)
    sid = f"{req.call_id}-sup-s1"

    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    wait_supervision(core, "listening")
    private = bridge_members(sim, f"{sid}-bridge")
    assert f"{sid}-leg" in private and any(c.startswith(f"{sid}-snoop") for c in private)

    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.WHISPER) is None
    wait_supervision(core, "whispering", after=mark)

    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.BARGE) is None
    wait_supervision(core, "barging", after=mark)
    assert f"{sid}-leg" in bridge_members(sim, f"{req.call_id}-bridge")

    assert core.app.stop_supervision("s1", req.call_id) is None
    ended = wait_supervision(core, "ended")
    assert ended.ended
    # The supervised call is still up: the agent and the customer are still bridged.
    assert {f"{req.call_id}-agent", f"{req.call_id}-customer"} <= bridge_members(
        sim, f"{req.call_id}-bridge"
    )
    assert core.app.hang_up_call(req.call_id, by="a1")
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED and record.hung_up_first == Party.UI


def test_call_end_ends_its_supervision(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = supervised_core(make_core)
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    assert wait_bridged(sim, req.call_id)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    wait_supervision(core, "listening")
    sim.far_end_hangup(f"{req.call_id}-customer", 16)
    assert core.record(req.call_id).outcome == CallOutcome.COMPLETED
    assert wait_supervision(core, "ended").reason
    sid = f"{req.call_id}-sup-s1"
    leftovers = [c["id"] for c in sim.state()["channels"] if c["id"] == f"{sid}-leg"]
    assert leftovers == []


def test_supervision_refusals(make_core: Callable[..., Core]) -> None:
    core = supervised_core(make_core)
    refusal = core.app.supervise("nobody", "c1", SupervisionMode.LISTEN)
    assert refusal is not None and refusal.code == "unknown_supervisor"
    refusal = core.app.supervise("s1", "no-such-call", SupervisionMode.LISTEN)
    assert refusal is not None and refusal.code == "unknown_call"
    refusal = core.app.stop_supervision("s1", "no-such-call")
    assert refusal is not None and refusal.code == "not_supervising"
