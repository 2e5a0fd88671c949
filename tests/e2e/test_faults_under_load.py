"""Faults under load, small: the real product (`evscallpro serve` in its own process) against
the ARI simulator (its own process), a few agents placing about one call a second over the
gateway's WebSocket, each fault of load-tests/faults.py injected once while calls run.

One run (module fixture) gives one cycle per fault; each test below checks its fault's
cycle: a clean state within the bound (no channel or bridge left in the simulator, no call
in progress, every agent available again in the core and on screen), every call the core
created recorded exactly once in DuckDB (read after `serve` stopped). The full-size run is
load-tests/faults_bench.py (BENCHMARKS.md, "Faults under load").
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

LOAD_TESTS = Path(__file__).resolve().parents[2] / "load-tests"
sys.path.insert(0, str(LOAD_TESTS))

import faults  # noqa: E402  (load-tests/faults.py: shared with the benchmark)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

SPEC = faults.FaultSpec(
    agents=4,
    rate=1.0,
    ring_s=0.3,
    talk_s=1.5,
    lead_s=2.0,
    during_s=1.0,
    refuse_s=3.0,  # the benchmark refuses for 10 s
    delay_ms=1500.0,  # the benchmark delays by 5 s
    agent_ring_s=8,  # an agent's answer lost in an outage ends the call by then
    clean_timeout_s=20.0,
    # a leaked leg or bridge stays (the orphan sweep runs every 60 s): no need to wait long
    clean_timeout_for={"hangup_5xx": 8.0, "bridge_delete_5xx": 8.0},
)

@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> faults.RunResult:
    folder = tmp_path_factory.mktemp("faults")
    result = asyncio.run(faults.run_faults(SPEC, folder, log=lambda line: None))
    print(result.summary())
    return result


def check_cycle(run: faults.RunResult, fault: str) -> None:
    cycle = run.cycle(fault)
    assert cycle.created > 0, f"{fault}: no call was created during the cycle"
    assert cycle.clean, f"{fault}: not clean after the bound, left {cycle.left}"
    assert cycle.missing == [], f"{fault}: calls without a record {cycle.missing}"
    assert cycle.duplicates == {}, f"{fault}: records written twice {cycle.duplicates}"


def test_baseline_cycle_is_clean(run: faults.RunResult) -> None:
    check_cycle(run, "baseline")


def test_events_socket_dropped(run: faults.RunResult) -> None:
    check_cycle(run, "events_socket_dropped")


def test_reconnects_refused(run: faults.RunResult) -> None:
    check_cycle(run, "reconnects_refused")


def test_simulator_restarted(run: faults.RunResult) -> None:
    check_cycle(run, "simulator_restarted")


def test_events_delayed(run: faults.RunResult) -> None:
    check_cycle(run, "events_delayed")


def test_hangup_5xx(run: faults.RunResult) -> None:
    check_cycle(run, "hangup_5xx")


def test_bridge_delete_5xx(run: faults.RunResult) -> None:
    check_cycle(run, "bridge_delete_5xx")


def test_originate_5xx(run: faults.RunResult) -> None:
    check_cycle(run, "originate_5xx")


def test_core_sigkilled_and_restarted(run: faults.RunResult) -> None:
    check_cycle(run, "core_sigkilled")
    assert run.serve_starts == 2


def test_browsers_dropped_and_reconnected(run: faults.RunResult) -> None:
    check_cycle(run, "browsers_dropped")


def test_whole_run_one_record_per_call_nothing_left(run: faults.RunResult) -> None:
    """Across the run: one record per call, no channel or bridge left."""
    assert run.calls_created > 0
    assert run.records_duckdb == run.calls_created
    assert run.records_missing == [] and run.records_unknown == []
    assert run.duplicates_jsonl == {} and run.duplicates_stdout == {}
    assert run.agents_stuck == []
    assert (run.channels_left, run.bridges_left) == (0, 0)
