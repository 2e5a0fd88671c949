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

__all__ = [
    "FAST_CALL",
    "TIME_SCALE",
    "WAIT_S",
    "Core",
    "ViewLog",
    "core",
    "core_config",
    "make_core",
    "sim",
    "wait_bridged",
    "wait_channels",
]


def wait_bridged(sim: SimulatorThread, call_id: str, timeout: float = WAIT_S) -> bool:
    """Both legs in the call's bridge in the simulator (the CONNECTED step comes at the
    customer's answer, a moment before the legs are bridged). Polls the simulator's state
    under a deadline: there is no event for it on the core side."""
    legs = {f"{call_id}-agent", f"{call_id}-customer"}
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        for bridge in sim.state()["bridges"]:
            if bridge["id"] == f"{call_id}-bridge" and legs <= set(bridge["channels"]):
                return True
        tick.wait(0.02)
    return False


def wait_channels(sim: SimulatorThread, channel_ids: set[str], timeout: float = WAIT_S) -> bool:
    """The simulator has every one of `channel_ids` (polled under a deadline)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if channel_ids <= {c["id"] for c in sim.state()["channels"]}:
            return True
        tick.wait(0.02)
    return False
