"""End-to-end helpers that look into the simulator. The simulator + core fixtures, FAST_CALL
and ViewLog are defined once in tests/support/sim_core.py and re-exported here for the
e2e tests (importable under a unique module name)."""

from __future__ import annotations

import threading
import time

from support.sim_core import (
    FAST_CALL,
    TIME_SCALE,
    WAIT_S,
    Core,
    ViewLog,
    core,
    core_config,
    make_core,
    sim,
)

from asterisk.sim.testing import SimulatorThread
from core.ids import agent_channel_id, call_bridge_id, customer_channel_id

__all__ = [
    "FAST_CALL",
    "TIME_SCALE",
    "WAIT_S",
    "Core",
    "ViewLog",
    "bridged_in_sim",
    "core",
    "core_config",
    "make_core",
    "sim",
    "wait_channels",
]


def bridged_in_sim(sim: SimulatorThread, call_id: str) -> bool:
    """Both legs are in the call's bridge in the simulator, now (a one-shot look at
    Asterisk's side; to wait for the bridge, wait for the call's `connected` step)."""
    legs = {agent_channel_id(call_id), customer_channel_id(call_id)}
    return any(
        bridge["id"] == call_bridge_id(call_id) and legs <= set(bridge["channels"])
        for bridge in sim.state()["bridges"]
    )


def wait_channels(sim: SimulatorThread, channel_ids: set[str], timeout: float = WAIT_S) -> bool:
    """The simulator has every one of `channel_ids` (polled under a deadline)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if channel_ids <= {c["id"] for c in sim.state()["channels"]}:
            return True
        tick.wait(0.02)
    return False
