"""The load harness's own arithmetic (load-tests/: product.py, loadgen.py, floor.py): the
figures BENCHMARKS.md prints come from these, so they are checked here without any process."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

LOAD_TESTS = Path(__file__).resolve().parents[2] / "load-tests"
sys.path.insert(0, str(LOAD_TESTS))

import floor  # noqa: E402  (load-tests/floor.py)
import loadgen  # noqa: E402  (load-tests/loadgen.py)
import product  # noqa: E402  (load-tests/product.py)

from core.call import CallMachine  # noqa: E402
from core.call_config import CallRequest, CallSettings  # noqa: E402
from core.call_inputs import CallStart  # noqa: E402

H = "evscallpro_event_to_command_seconds"


def histogram(counts: dict[str, float]) -> dict[str, float]:
    """Cumulative buckets as /metrics shows them, plus _count."""
    out = {f'{H}_bucket{{le="{le}"}}': n for le, n in counts.items()}
    out[f"{H}_count"] = counts["+Inf"]
    return out


def test_parse_metrics_reads_labels_and_plain_series() -> None:
    text = (
        "# HELP evscallpro_calls_in_progress x\n"
        "evscallpro_calls_in_progress 3.0\n"
        'evscallpro_agents{state="available"} 12.0\n'
        f'{H}_bucket{{le="+Inf"}} 7.0\n'
        "python_gc_objects_collected_total 1.0\n"
    )
    assert product.parse_metrics(text) == {
        "evscallpro_calls_in_progress": 3.0,
        'evscallpro_agents{state="available"}': 12.0,
        f'{H}_bucket{{le="+Inf"}}': 7.0,
    }


def test_histogram_quantiles_count_only_what_happened_between_the_scrapes() -> None:
    before = histogram({"0.001": 10, "0.005": 10, "0.025": 10, "+Inf": 10})
    # 100 more: 50 under 1 ms, 45 more under 5 ms, 5 more under 25 ms
    after = histogram({"0.001": 60, "0.005": 105, "0.025": 110, "+Inf": 110})
    q = product.histogram_quantiles(before, after, H)
    assert q == {"count": 100, "p50": 0.001, "p90": 0.005, "p99": 0.025}


def test_histogram_quantiles_after_a_restart_use_the_new_process_alone() -> None:
    before = histogram({"0.001": 500, "0.005": 900, "0.025": 1000, "+Inf": 1000})
    after = histogram({"0.001": 1, "0.005": 2, "0.025": 4, "+Inf": 4})  # counters from 0
    q = product.histogram_quantiles(before, after, H)
    assert q["count"] == 4
    assert q["p50"] == 0.005 and q["p99"] == 0.025


def test_histogram_quantiles_of_nothing_is_empty() -> None:
    same = histogram({"0.001": 5, "+Inf": 5})
    assert product.histogram_quantiles(same, same, H) == {}


def test_peak_from_records_counts_calls_up_at_once() -> None:
    records = [
        {"started_at": 0.0, "ended_at": 10.0},
        {"started_at": 1.0, "ended_at": 2.0},
        {"started_at": 1.5, "ended_at": 3.0},
        {"started_at": 5.0, "ended_at": 6.0},
    ]
    assert loadgen.peak_from_records(records) == 3
    assert loadgen.peak_from_records([]) == 0


def test_the_simulator_mix_is_drawn_from_the_seed() -> None:
    mix = loadgen.parse_mix("answer=0.5,busy=0.5")
    a = loadgen.sim_config(random.Random(7), mix, 0.5, 1.0, 4.0, 90.0)
    b = loadgen.sim_config(random.Random(7), mix, 0.5, 1.0, 4.0, 90.0)
    c = loadgen.sim_config(random.Random(8), mix, 0.5, 1.0, 4.0, 90.0)
    assert a == b
    assert a != c
    text, slots = a
    assert len(slots) == loadgen.PROFILE_SLOTS and set(slots) <= {"answer", "busy"}
    for slot, kind in enumerate(slots):
        assert f'pattern = "PJSIP/+3362{slot}*", profile = "lg-c{slot}"' in text
        assert f'[profiles.lg-c{slot}]\nkind = "{kind}"' in text


def test_a_bad_mix_is_refused_in_words() -> None:
    with pytest.raises(SystemExit, match="kind=weight"):
        loadgen.parse_mix("answer")


def test_floor_replay_feeds_fresh_machines_and_checks_them() -> None:
    recorder = floor.InputRecorder()
    recorder.install()
    try:
        request = CallRequest(
            call_id="floor1",
            agent_id="a1",
            agent_endpoint="PJSIP/+33611111111@trunk",
            customer_number="+33622222222",
            customer_endpoint="PJSIP/+33622222222@trunk",
            requested_at=1000.0,
        )
        machine = CallMachine(request, CallSettings(app="t", language="en"))
        machine.receive(CallStart(), 1000.0)
        sent = machine.commands_to_send()
        assert floor.ari_commands(sent) >= 1  # the agent leg is dialed
        result = floor.replay(recorder)
        assert (result.calls, result.diverged, result.events) == (1, 0, 0)
        recorder.sent[id(machine)] += 1  # as if the core had sent one more command
        assert floor.replay(recorder).diverged == 1
    finally:
        recorder.uninstall()
    assert CallMachine.receive.__qualname__ == "CallMachine.receive"  # unwrapped again


def test_a_node_scrape_loses_the_labels_each_process_adds() -> None:
    """A node's /metrics carries process="node", node=ID on every sample
    (evscallpro/process_metrics.py): the harness reads one process at a time."""
    text = (
        f'{H}_bucket{{le="0.001",node="n1",process="node"}} 5.0\n'
        f'{H}_bucket{{node="n1",process="node",le="+Inf"}} 8.0\n'
        f'{H}_count{{node="n1",process="node"}} 8.0\n'
        'python_gc_collections_total{generation="0",node="n1",process="node"} 4.0\n'
    )
    after = product.parse_metrics(text)
    assert after == {f'{H}_bucket{{le="0.001"}}': 5.0, f'{H}_bucket{{le="+Inf"}}': 8.0,
                     f"{H}_count": 8.0}  # fmt: skip
    assert product.histogram_quantiles({}, after, H) == {"count": 8.0, "p50": 0.001,
                                                         "p90": float("inf"),
                                                         "p99": float("inf")}  # fmt: skip
    gc_series = product.parse_metrics(text, "python_gc_collections")
    assert gc_series == {'python_gc_collections_total{generation="0"}': 4.0}


def test_the_processes_of_serve_are_named_by_their_role() -> None:
    python = ["/venv/bin/python", "-m", "evscallpro.cli"]
    assert product.role([*python, "node", "--config", "f.toml", "--node", "n1"]) == "node-n1"
    assert product.role([*python, "gateway", "--config", "f.toml"]) == "gateway"
    assert product.role([*python, "analytics", "--config", "f.toml"]) == "analytics"
    assert product.role([*python, "serve", "--config", "node.toml"]) == "serve"
    assert product.role(["/venv/bin/nats-server", "-js", "-p", "4222"]) == "nats-server"
    launcher = ["/venv/bin/python", "-m", "evscallpro.die_with_parent", "--parent", "9", "--"]
    assert product.role([*launcher, *python, "node", "--node", "n2"]) == "node-n2"


def test_process_usage_sees_children_forked_by_any_thread() -> None:
    """serve's supervisor thread forks the node, gateway and analytics processes: /proc lists
    them under that thread, not under the main one."""
    started: list[subprocess.Popen[bytes]] = []
    forker = threading.Thread(
        target=lambda: started.append(subprocess.Popen([sys.executable, "-c", "input()"],
                                                       stdin=subprocess.PIPE)))  # fmt: skip
    forker.start()
    forker.join()
    child = started[0]
    try:
        assert child.pid in product.process_tree_usage(os.getpid())
    finally:
        child.kill()
        child.wait()
