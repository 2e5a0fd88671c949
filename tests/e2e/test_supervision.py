"""Live supervision end to end: a supervisor listens, whispers, barges, stops; a supervised
call that ends takes the supervision with it. The supervised call is never disturbed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from e2e_support import FAST_CALL, WAIT_S, Core

from actors.supervision_actor import GetSupervisionView, SupervisionView
from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, Party, SupervisionMode, WorkstationMode
from core.ids import agent_channel_id, call_bridge_id, customer_channel_id
from core.views import AgentView, CallView
from evscallpro.root import SupervisorEntry

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


def supervised_core(make_core: Callable[..., Core]) -> Core:
    return make_core(
        supervisors=(SupervisorEntry(supervisor_id="s1", endpoint=LOCAL.format("answer")),)
    )


def wait_monitored(
    core: Core, call_id: str, expected: tuple[tuple[str, SupervisionMode], ...], after: int = 0
) -> CallView:
    """The call's published view says who monitors it (what the agent and wallboard see)."""

    def match(v: Any) -> bool:
        return isinstance(v, CallView) and v.call_id == call_id and v.monitored_by == expected

    view = core.views.wait_for(match, after=after)
    assert view is not None, f"call {call_id} never showed monitored_by={expected}"
    return view


def supervision_view(core: Core, call_id: str) -> SupervisionView | None:
    ref = core.app.supervision_ref(call_id, "s1")
    return None if ref is None else ref.ask(GetSupervisionView(), timeout=2)


def wait_channels_gone(sim: SimulatorThread, ids: set[str]) -> bool:
    deadline = time.monotonic() + 10
    tick = threading.Event()
    while time.monotonic() < deadline:
        if not ids & {c["id"] for c in sim.state()["channels"]}:
            return True
        tick.wait(0.02)
    return False


def bridge_members(sim: SimulatorThread, bridge_id: str) -> set[str]:
    for bridge in sim.state()["bridges"]:
        if bridge["id"] == bridge_id:
            return set(bridge["channels"])
    return set()


def bridge_of(sim: SimulatorThread, channel_id: str) -> tuple[str, set[str]] | None:
    """(bridge id, members) of the bridge Asterisk says the channel is in, if any."""
    for bridge in sim.state()["bridges"]:
        if channel_id in bridge["channels"]:
            return bridge["id"], set(bridge["channels"])
    return None


def wait_clean(sim: SimulatorThread, sid: str) -> list[str]:
    """Wait until no channel or bridge of the supervision is left; returns what is left."""
    deadline = time.monotonic() + 15
    tick = threading.Event()
    leftovers: list[str] = []
    while time.monotonic() < deadline:
        state = sim.state()
        leftovers = [c["id"] for c in state["channels"] if c["id"].startswith(sid)]
        leftovers += [b["id"] for b in state["bridges"] if b["id"].startswith(sid)]
        leftovers += [b for b in state["dissolving_bridges"] if b.startswith(sid)]
        if not leftovers:
            break
        tick.wait(0.05)
    return leftovers


def test_listen_whisper_barge_stop(make_core: Callable[..., Core], sim: SimulatorThread) -> None:
    core = supervised_core(make_core)
    # Through the CallCenter API, so the agent actor is in the loop (it is told too).
    assert core.app.log_in("a1") is None
    assert core.app.place_call("a1", "+33600000001") is None  # answers, stays up
    connected = core.views.wait_for(
        lambda v: isinstance(v, CallView) and v.step == CallStep.CONNECTED
    )
    assert connected is not None
    req = connected
    sid = f"{req.call_id}-sup-s1"

    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.LISTEN),))
    view = supervision_view(core, req.call_id)
    assert view is not None and view.state == "listening"
    private = bridge_members(sim, f"{sid}-bridge-1")
    assert f"{sid}-leg" in private and any(c.startswith(f"{sid}-snoop") for c in private)

    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.WHISPER) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.WHISPER),), after=mark)

    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.BARGE) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.BARGE),), after=mark)
    assert f"{sid}-leg" in bridge_members(sim, call_bridge_id(req.call_id))

    mark = len(core.views.views)
    assert core.app.stop_supervision("s1", req.call_id) is None
    wait_monitored(core, req.call_id, (), after=mark)
    # The agent's own view showed the monitoring too (the agent can be told).
    assert any(
        isinstance(v, AgentView) and v.call is not None and v.call.monitored_by
        for v in core.views.views
    )
    # The supervised call is still up: the agent and the customer are still bridged.
    assert {agent_channel_id(req.call_id), customer_channel_id(req.call_id)} <= bridge_members(
        sim, call_bridge_id(req.call_id)
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
    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    wait_monitored(core, req.call_id, (("s1", SupervisionMode.LISTEN),))
    supervision = core.app.supervision_ref(req.call_id, "s1")
    sim.far_end_hangup(customer_channel_id(req.call_id), 16)
    assert core.record(req.call_id).outcome == CallOutcome.COMPLETED
    assert supervision.actor_stopped.wait(10), "the supervision outlived its call"
    sid = f"{req.call_id}-sup-s1"
    assert wait_channels_gone(sim, {f"{sid}-leg"})


def test_supervision_refusals(make_core: Callable[..., Core]) -> None:
    core = supervised_core(make_core)
    refusal = core.app.supervise("nobody", "c1", SupervisionMode.LISTEN)
    assert refusal is not None and refusal.code == "unknown_supervisor"
    refusal = core.app.supervise("s1", "no-such-call", SupervisionMode.LISTEN)
    assert refusal is not None and refusal.code == "unknown_call"
    refusal = core.app.stop_supervision("s1", "no-such-call")
    assert refusal is not None and refusal.code == "not_supervising"


def test_busy_supervisor_leaves_no_snoop_or_private_bridge(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core(
        supervisors=(SupervisorEntry(supervisor_id="s1", endpoint=LOCAL.format("busy")),)
    )
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    assert core.app.supervise("s1", req.call_id, SupervisionMode.LISTEN) is None
    supervision = core.app.supervision_ref(req.call_id, "s1")
    assert supervision is not None
    assert supervision.actor_stopped.wait(15), "the supervision of a busy phone never ended"
    sid = f"{req.call_id}-sup-s1"
    leftovers = wait_clean(sim, sid)
    assert leftovers == [], f"left behind: {leftovers}"
    # The supervised call is untouched.
    assert {agent_channel_id(req.call_id), customer_channel_id(req.call_id)} <= bridge_members(
        sim, call_bridge_id(req.call_id)
    )
    assert core.app.hang_up_call(req.call_id, by="a1")
    assert core.record(req.call_id).outcome == CallOutcome.COMPLETED


@pytest.mark.parametrize(
    ("phone", "listens"), [("answer-dtmf1", True), ("voicemail", False), ("answer", False)]
)
def test_a_supervisors_mobile_presses_1_before_it_hears_or_joins_the_call(
    make_core: Callable[..., Core], sim: SimulatorThread, phone: str, listens: bool
) -> None:
    """Like an agent's mobile: a voicemail (or anyone not pressing 1) never joins the call."""
    core = make_core(
        call=msgspec.structs.replace(
            FAST_CALL, acceptance_by_workstation={"mobile": True, "softphone": False}
        ),
        supervisors=(
            SupervisorEntry(
                supervisor_id="s1",
                endpoint=LOCAL.format(phone),
                workstation=WorkstationMode.MOBILE,
            ),
        ),
    )
    req = core.call(
        LOCAL.format("answer"), LOCAL.format("answer"), workstation=WorkstationMode.SOFTPHONE
    )
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None  # both bridged
    mark = len(core.views.views)
    assert core.app.supervise("s1", req.call_id, SupervisionMode.BARGE) is None
    leg = f"{req.call_id}-sup-s1-leg"
    if listens:
        wait_monitored(core, req.call_id, (("s1", SupervisionMode.BARGE),), after=mark)
        assert leg in bridge_members(sim, call_bridge_id(req.call_id))
    else:
        live = core.app.live
        assert live.wait_until(lambda live: not live.supervisions, WAIT_S), "never ended"
        assert not any(
            isinstance(v, CallView) and v.monitored_by for v in core.views.views[mark:]
        )
        assert leg not in bridge_members(sim, call_bridge_id(req.call_id))
        assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None  # undisturbed
    assert core.app.hang_up_call(req.call_id, by="a1")
    core.record(req.call_id)


def test_modes_switched_as_a_person_does_each_reached_and_true(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    """Issue 10 item 18: listen -> whisper -> barge -> listen -> barge -> whisper on a
    simulator that keeps a deleted bridge's id taken (409 / 404) and throws a channel out of
    a bridge dissolving under it. Each mode is reached, and whenever the screen shows it,
    Asterisk has the supervisor's leg where the mode says."""
    core = supervised_core(make_core)
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sid, call_bridge = f"{req.call_id}-sup-s1", f"{req.call_id}-bridge"
    modes = [
        SupervisionMode.LISTEN,
        SupervisionMode.WHISPER,
        SupervisionMode.BARGE,
        SupervisionMode.LISTEN,
        SupervisionMode.BARGE,
        SupervisionMode.WHISPER,
    ]
    private_ids: list[str] = []
    for mode in modes:
        mark = len(core.views.views)
        assert core.app.supervise("s1", req.call_id, mode) is None
        wait_monitored(core, req.call_id, (("s1", mode),), after=mark)
        where = bridge_of(sim, f"{sid}-leg")
        assert where is not None, f"{mode}: the screen says {mode}, the leg is in no bridge"
        bridge_id, members = where
        if mode == SupervisionMode.BARGE:
            assert bridge_id == call_bridge
            assert {f"{req.call_id}-agent", f"{req.call_id}-customer"} <= members
        else:
            assert bridge_id.startswith(f"{sid}-bridge-")
            assert any(m.startswith(f"{sid}-snoop-") for m in members)
            private_ids.append(bridge_id)
    # listen -> whisper keeps its private bridge; each new one has a new id, none reused
    assert private_ids == [f"{sid}-bridge-{n}" for n in (1, 1, 2, 3)], private_ids
    mark = len(core.views.views)
    assert core.app.stop_supervision("s1", req.call_id) is None
    wait_monitored(core, req.call_id, (), after=mark)
    leftovers = wait_clean(sim, sid)
    assert leftovers == [], f"left behind: {leftovers}"
    # The supervised call is untouched.
    assert {f"{req.call_id}-agent", f"{req.call_id}-customer"} == bridge_members(sim, call_bridge)
    assert core.app.hang_up_call(req.call_id, by="a1")
    assert core.record(req.call_id).outcome == CallOutcome.COMPLETED
