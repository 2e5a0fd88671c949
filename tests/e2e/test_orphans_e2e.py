"""The orphan sweep end to end: a channel of our app whose call this core does not run is hung
up (at once on its StasisStart, or by the periodic sweep), a live call is never touched, and
a call recovery adopts is left to recovery."""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable

from e2e_support import WAIT_S, Core, bridged_in_sim, core_config, wait_channels
from prometheus_client import REGISTRY

from actors.recovery import ReconcileReport
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.domain import CallStep
from evscallpro.root import CallCenterApp

LOCAL = "Local/{}@sim-phones"


def originate_orphan(sim: SimulatorThread, call_id: str, role: str = "customer") -> str:
    """POST /channels into our app, as a late originate of a call the core does not know."""
    channel_id = f"{call_id}-{role}"
    query = urllib.parse.urlencode(
        {
            "endpoint": LOCAL.format("answer"),
            "app": "evscallpro",
            "appArgs": f"{role},{call_id}",
            "channelId": channel_id,
        }
    )
    token = base64.b64encode(f"{sim.username}:{sim.password}".encode()).decode()
    request = urllib.request.Request(
        f"{sim.ari_url}/channels?{query}",
        method="POST",
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as answer:
        assert answer.status == 200
    return channel_id


def wait_gone(sim: SimulatorThread, channel_id: str, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if channel_id not in {c["id"] for c in sim.state()["channels"]}:
            return True
        tick.wait(0.02)
    return False


def wait_hung_up_total(app: CallCenterApp, total: int, timeout: float = WAIT_S) -> bool:
    """The sweeper counted `total` hang-ups (it counts once the DELETE has answered, which
    can be a moment after the simulator dropped the channel)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        sweeper = app.orphan_sweeper
        if sweeper is not None and sweeper.hung_up_total == total:
            return True
        tick.wait(0.02)
    return False


def orphan_metric() -> float:
    return REGISTRY.get_sample_value("evscallpro_orphan_channels_hung_up_total") or 0.0


def test_stasis_start_nobody_owns_is_hung_up_and_the_live_call_is_not_touched(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core(orphan_sweep_s=3600.0)  # only the StasisStart trigger can sweep in time
    live = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(live.call_id, CallStep.CONNECTED) is not None
    before = orphan_metric()

    orphan = originate_orphan(sim, "ghost1")
    assert wait_gone(sim, orphan), "the orphan is still up"

    assert wait_hung_up_total(core.app, 1)
    assert orphan_metric() == before + 1
    # The live call is untouched: both legs still bridged, no record, still owned.
    assert bridged_in_sim(sim, live.call_id)
    assert live.call_id in core.app.live_call_ids()
    assert core.sink.wait_for(lambda r: r.call_id == live.call_id, 0.2) is None
    assert core.app.hang_up_call(live.call_id)
    assert core.record(live.call_id).call_id == live.call_id


def test_periodic_sweep_finds_an_orphan_whose_stasis_start_went_unnoticed(
    sim: SimulatorThread,
) -> None:
    app = CallCenterApp(core_config(sim, orphan_sweep_s=0.2), sink=MemoryRecordSink())
    app._unowned_stasis = lambda channel_id: None  # type: ignore[method-assign]
    app.start(wait_for_link_s=WAIT_S)
    try:
        orphan = originate_orphan(sim, "ghost2", role="agent")
        assert wait_channels(sim, {orphan})
        assert wait_gone(sim, orphan), "the periodic sweep did not hang the orphan up"
        assert wait_hung_up_total(app, 1)
    finally:
        app.stop()


def quiet_core(sim: SimulatorThread) -> CallCenterApp:
    """A core that sweeps neither on StasisStart nor (within a test) periodically."""
    app = CallCenterApp(core_config(sim, orphan_sweep_s=3600.0), sink=MemoryRecordSink())
    app._unowned_stasis = lambda channel_id: None  # type: ignore[method-assign]
    app.start(wait_for_link_s=WAIT_S)
    return app


def wait_up(sim: SimulatorThread, channel_id: str, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if {c["id"]: c["state"] for c in sim.state()["channels"]}.get(channel_id) == "Up":
            return True
        tick.wait(0.02)
    return False


def test_a_call_recovery_adopts_is_not_swept(sim: SimulatorThread) -> None:
    """A leg of our app up before the core starts (left by a previous core) is recovery's:
    adopted, not swept, even by a sweep that runs every 50 ms."""
    previous = quiet_core(sim)
    try:
        orphan = originate_orphan(sim, "ghost3")
        assert wait_up(sim, orphan)  # answered and in Stasis
    finally:
        previous.stop()  # leaves Asterisk's channels up
    assert wait_up(sim, orphan, timeout=0.5)

    reports: list[ReconcileReport] = []
    sink = MemoryRecordSink()
    app = CallCenterApp(
        core_config(sim, orphan_sweep_s=0.05), sink=sink, on_reconciled=reports.append
    )
    sim.refuse_websockets(0.6)  # the sweep runs ~10 times before recovery can reconcile
    app.start(wait_for_link_s=WAIT_S)
    try:
        assert reports and reports[0].adopted == ("ghost3",)
        record = sink.wait_for(lambda r: r.call_id == "ghost3", WAIT_S)
        assert record is not None and record.recovered
        assert wait_gone(sim, orphan)
        sweeper = app.orphan_sweeper
        assert sweeper is not None
        sweeps = sweeper.sweeps
        tick = threading.Event()
        deadline = time.monotonic() + WAIT_S
        while sweeper.sweeps < sweeps + 3 and time.monotonic() < deadline:
            tick.wait(0.02)
        assert sweeper.sweeps >= sweeps + 3
        assert sweeper.hung_up_total == 0  # recovery ended it, not the sweep
    finally:
        app.stop()
