"""`make bench`: the standard scenarios of issue 12, one after another, and their figures
written into BENCHMARKS.md (the section between the `standard:begin` / `standard:end` markers
is rewritten; the rest of the file is left as it is).

Each scenario is one command of load-tests/ with `--json`; its result file gives the figures,
each printed beside its target and the exact command. The whole set is sized for under 15
minutes on a 2-core machine (`--quick` runs each at a small size, to check the harness, in
about 3 minutes; a quick run never rewrites BENCHMARKS.md unless --write is given). A scenario
that fails or passes its bound is reported as such; the next one still runs.

    .venv/bin/python load-tests/standard.py            # full size, rewrites BENCHMARKS.md
    .venv/bin/python load-tests/standard.py --quick    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEGIN = "<!-- standard:begin (load-tests/standard.py rewrites this section) -->"
END = "<!-- standard:end -->"


@dataclass
class Scenario:
    name: str
    script: str
    full: list[str]
    quick: list[str]
    bound_s: float  # the scenario is stopped (and reported failed) after this
    rows: Callable[[dict[str, Any]], list[tuple[str, str, str]]]  # (target, figure, met)


def _ms(d: dict[str, Any], keys: tuple[str, ...] = ("p50", "p99", "max")) -> str:
    if not d or not d.get("n", d.get("count")):
        return "no samples"
    return " / ".join(f"{k} {d[k]:g}" for k in keys if k in d) + " ms"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "not met")


def core_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    p1, p2 = r.get("phase1", {}), r.get("phase2", {})
    core, floor = p1.get("core_ms", {}), p1.get("floor_ms", {})
    rows = [
        (
            f"event -> next command at {r['rate']:g} calls/s: p99 <= 2 ms, max <= 25 ms",
            f"core {_ms(core)}; floor {_ms(floor)}; core/floor {p1.get('core_over_floor')}",
            _met(core.get("p99", 1e9) <= 2 and core.get("max", 1e9) <= 25) if core else "n/a",
        ),
        (
            f"{p1.get('records')} of {r['calls']} calls recorded, outcomes",
            f"{p1.get('outcomes')}; core CPU {p1.get('core_cpu_us_per_event')} µs per ARI "
            f"event, {p1.get('ari_events_per_s')} ARI events/s; cyclic GC {p1.get('gc')}",
            _met(p1.get("outcomes", {}).get("completed") == r["calls"]),
        ),
    ]
    if r.get("hold"):
        ramp = p2.get("ramp_core_ms", {})
        rows.append(
            (
                f"while {r['hold']} calls ramp up at {r['rate']:g}/s: p99 <= 5 ms, max <= 25 ms",
                f"core {_ms(ramp)}; core/phase-1 floor {p2.get('ramp_core_over_phase1_floor')}",
                _met(ramp.get("p99", 1e9) <= 5 and ramp.get("max", 1e9) <= 25) if ramp else "n/a",
            )
        )
        rows.append(
            (
                f"{r['hold']} calls connected in the core process (no agents), RSS",
                f"{p2.get('connected')} connected, core RSS {p2.get('core_rss_mib')} MiB",
                _met(p2.get("connected") == r["hold"] and p2.get("core_rss_mib", 1e9) < 512),
            )
        )
    adoption = p2.get("adoption")
    if adoption:
        rows.append(
            (
                f"a new core (in-process, its journal) adopts the {adoption['held']} live calls "
                "within 5 s of its start",
                f"{adoption['adopted']} adopted, start -> reconciled "
                f"{adoption['start_to_reconciled_s']} s (listing {adoption['listing_s']} s, "
                f"adopting {adoption['adopting_s']} s)",
                _met(adoption["adopted"] == adoption["held"]
                     and adoption["start_to_reconciled_s"] <= 5),
            )
        )
    return rows


def events_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    p1 = r.get("phase1", {})
    core = p1.get("core_ms", {})
    rate = p1.get("ari_events_per_s_peak_1s", 0)
    return [
        (
            "5,000 ARI events/s into one core, p99 <= 5 ms",
            f"{rate:g} ARI events/s in the busiest second ({p1.get('ari_events_per_s')}/s over "
            f"the phase, {r['rate']:g} calls/s); core {_ms(core)}",
            _met(rate >= 5000 and core.get("p99", 1e9) <= 5) if core else "n/a",
        )
    ]


def sustained_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    p1 = r.get("phase1", {})
    done = p1.get("outcomes", {}).get("completed", 0)
    placed = p1.get("placed_per_s") or 0
    return [
        (
            f"{r['rate']:g} new calls/s for {r['calls'] / r['rate']:g} s, every call completing",
            f"{placed} placed/s (asked {r['rate']:g}/s); {done} of {r['calls']} completed "
            f"({p1.get('outcomes')}); core {_ms(p1.get('core_ms', {}))}",
            # the rate must really be held (within 5 %), not only every call completed
            _met(done == r["calls"] and placed >= 0.95 * r["rate"]),
        )
    ]


def per_process(processes: dict[str, dict[str, Any]]) -> str:
    """`pid role` -> its figures, as "role (pid) 9.9% CPU, 71 MiB; ..." ."""
    return "; ".join(
        f"{key.partition(' ')[2]} ({key.partition(' ')[0]}) {p['cpu_percent']}% CPU, "
        f"{p['rss_peak_mib']:.0f} MiB"
        for key, p in processes.items()
    )


def loadgen_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    crash = r.get("crash", {})
    rss = crash.get("node_rss_at_kill_mib", r.get("node_rss_peak_mib"))
    live = crash.get("connected_at_kill", r.get("peak_concurrent_records"))
    ok_missing = not r["records_missing_count"] and not r["duplicates_stdout"]
    ramp = r.get("event_to_command_before_kill_ms") or {}  # seconds -> ms already
    return [
        (
            f"{r['agents']} agents logged in, {live} calls connected at once, node RSS < 512 MiB",
            f"node process RSS {rss} MiB with {live} calls up "
            f"({r.get('node_rss_per_concurrent_call_kib')} KiB per concurrent call), peak over "
            f"the run {r.get('node_rss_peak_mib')} MiB (the restarted node's adoption included); all "
            f"processes {crash.get('product_rss_at_kill_mib', r.get('product_rss_peak_mib'))} MiB;"
            f" per process (CPU over the run, peak RSS): {per_process(r.get('processes') or {})}",
            _met(rss is not None and rss < 512 and (live or 0) >= r["agents"]),
        ),
        (
            "after SIGKILL of the node with the calls up, all adopted within 5 s of its restart",
            f"{crash.get('adopted')} adopted of {crash.get('live_at_kill')} in progress "
            f"({crash.get('connected_at_kill')} connected); the new node's start -> its "
            f"`reconciled` {crash.get('spawn_to_reconciled_s')} s, -> ready "
            f"{crash.get('spawn_to_ready_s')} s (its first start, nothing to adopt: -> "
            f"`reconciled` {crash.get('first_start_to_reconciled_s')} s); kill -> restart "
            f"{crash.get('kill_to_spawn_s')} s"
            f" (supervisor back-off {crash.get('backoff_s')} s)",
            _met(
                bool(crash.get("killed"))
                and crash.get("adopted") == crash.get("live_at_kill")
                and crash.get("spawn_to_reconciled_s", 1e9) <= 5
            )
            if crash
            else "n/a",
        ),
        (
            "zero lost and zero duplicate records",
            f"placed {r['placed']}, created {r['created']}, records {r['records']}, missing "
            f"{r['records_missing_count']}, duplicates {r['duplicates_stdout']} (stdout); "
            f"DuckDB `calls` rows {r['db_calls']}, missing there {r['db_missing_count']}; "
            f"outcomes {r['outcomes']}",
            _met(ok_missing and not r["db_missing_count"]),
        ),
        (
            "customer answer -> 'connected' fragment at the agent's browser",
            _ms(r.get("answer_to_connected_fragment_ms", {})),
            "n/a",
        ),
        (
            f"event -> next command on the node process while {live} calls ramp up at "
            f"{r['rate_asked']:g}/s: p99 <= 5 ms (its own histogram: bucket bounds, no max)",
            f"whole run {json.dumps(r.get('event_to_command_ms'))}; up to the kill (the ramp) "
            f"{json.dumps(r.get('event_to_command_before_kill_ms'))}; the restarted node "
            f"{json.dumps(r.get('event_to_command_after_restart_ms'))}; the node's cyclic GC "
            f"collections by generation {json.dumps(r.get('node_gc_collections'))}",
            _met(ramp.get("p99", 1e9) <= 5) if ramp else "n/a",
        ),
    ]


def stats_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for store in r.get("stores", []):
        target = 50 if store["calls"] <= 1_000_000 else 300
        for period, f in store["periods"].items():
            q, page = f["queries_ms"], f["page_ms"]
            rows.append(
                (
                    f"statistics page queries at {store['calls']:,} calls, {period}, while "
                    f"records are written: <= {target} ms",
                    f"queries median {q['median']:g} / p90 {q['p90']:g} / max {q['max']:g} ms; "
                    f"full page median {page['median']:g} ms ({q['n']} fetches; "
                    f"{store.get('written_during_fetches')} records written meanwhile)",
                    _met(q["median"] <= target),
                )
            )
    return rows


def setup_rows(r: Any) -> list[tuple[str, str, str]]:
    rows = []
    for timing in r if isinstance(r, list) else []:
        conf = timing.get("confirmation_to_customer_ringing", {})
        click = timing.get("click_to_connected", {})
        at_confirmation = timing.get("timing") == "at_confirmation"
        rows.append(
            (
                f"customer ringing <= 300 ms after the agent's confirmation ({timing['timing']})",
                f"p50 {conf.get('p50_ms', 0):.0f} / p99 {conf.get('p99_ms', 0):.0f} ms; click -> "
                f"connected p50 {click.get('p50_ms', 0):.0f} ms; {timing.get('outcomes')}",
                _met(conf.get("p99_ms", 1e9) <= 300) if at_confirmation else "n/a",
            )
        )
    return rows


SCENARIOS = [
    Scenario(
        "core at 60 calls/s, then 1,000 calls ramping at 60/s",
        "core_bench.py",
        ["--calls", "600", "--rate", "60", "--hold", "1000", "--adopt"],
        ["--calls", "60", "--rate", "30", "--hold", "60", "--adopt"],
        240,
        core_rows,
    ),
    Scenario(
        "5,000 ARI events/s",
        "core_bench.py",
        ["--calls", "1500", "--rate", "100", "--hold", "0", "--no-floor"],
        ["--calls", "60", "--rate", "30", "--hold", "0", "--no-floor"],
        200,
        events_rows,
    ),
    Scenario(
        "200 calls/s for 10 s",
        "core_bench.py",
        ["--calls", "2000", "--rate", "200", "--hold", "0", "--lean"],
        ["--calls", "100", "--rate", "50", "--hold", "0", "--lean"],
        200,
        sustained_rows,
    ),
    Scenario(
        "100 calls/s for 5 minutes",
        "core_bench.py",
        ["--calls", "30000", "--rate", "100", "--hold", "0", "--lean"],
        ["--calls", "200", "--rate", "50", "--hold", "0", "--lean"],
        480,
        sustained_rows,
    ),
    Scenario(
        "1,000 agents, 1,000 calls up, SIGKILL of the node and adoption (the whole product)",
        "loadgen.py",
        [
            "--agents", "1000", "--rate", "60", "--duration", "17", "--mix", "answer=1",
            "--ring-min", "1", "--ring-max", "2", "--talk-mean", "60", "--talk-sigma", "0",
            "--talk-max", "60", "--kill-at-live", "1000", "--drain-max", "120",
        ],
        [
            "--agents", "20", "--rate", "4", "--duration", "5", "--mix", "answer=1",
            "--ring-min", "1", "--ring-max", "2", "--talk-mean", "8", "--talk-sigma", "0",
            "--talk-max", "8", "--kill-at-live", "15", "--drain-max", "60",
        ],
        420,
        loadgen_rows,
    ),
    Scenario(
        "statistics page at 1 million calls",
        "stats_bench.py",
        ["--calls", "1000000", "--samples", "10"],
        ["--calls", "20000", "--samples", "3"],
        240,
        stats_rows,
    ),
    Scenario(
        "setup time the agent feels",
        "setup_time_bench.py",
        ["--calls", "20"],
        ["--calls", "5"],
        120,
        setup_rows,
    ),
]


def run(scenario: Scenario, quick: bool, folder: Path) -> tuple[dict[str, Any] | None, str, float]:
    args = scenario.quick if quick else scenario.full
    out = folder / f"{scenario.script}-{SCENARIOS.index(scenario)}.json"
    command = " ".join([".venv/bin/python", f"load-tests/{scenario.script}", *args])
    print(f"== {scenario.name}: {command}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / scenario.script), *args, "--json", str(out)],
            cwd=ROOT,
            timeout=scenario.bound_s,
            check=False,
        )
        status = f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        status = f"stopped at its bound ({scenario.bound_s:.0f} s)"
    took = time.monotonic() - started
    result = json.loads(out.read_text()) if out.exists() else None
    print(f"== {scenario.name}: {status} in {took:.0f} s", flush=True)
    return result, f"{command}  ({status}, {took:.0f} s)", took


def render(results: list[tuple[Scenario, dict[str, Any] | None, str]], load: tuple[Any, ...],
           quick: bool) -> str:  # fmt: skip
    lines = [
        BEGIN,
        "",
        f"### Standard scenarios (`make bench`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"{'Quick sizes (harness check, not the targets). ' if quick else ''}"
        f"Load average at the start {load[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} CPUs). Each row's figure comes from the JSON result of the command "
        "under it; floors and core/floor ratios are in the same run.",
        "",
    ]
    for scenario, result, command in results:
        lines += [f"**{scenario.name}** — `{command}`", ""]
        lines += ["| target | figure | |", "|---|---|---|"]
        if result is None:
            lines.append("| (no result file) | the command failed before writing it | not met |")
        else:
            try:
                rows = scenario.rows(result)
            except (KeyError, TypeError) as exc:
                rows = [("(result file)", f"unreadable: {exc!r}", "n/a")]
            for target, figure, met in rows:
                lines.append(f"| {target} | {figure.replace('|', '/')} | {met} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def rewrite(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section + tail
    else:  # first run: the section goes at the top of "## Core"
        marker = "## Core\n"
        head, found, tail = text.partition(marker)
        text = head + marker + "\n" + section + "\n" + tail if found else text + "\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (harness check)")
    parser.add_argument("--write", action="store_true", help="rewrite BENCHMARKS.md even if --quick")
    parser.add_argument("--only", help="comma-separated scenario numbers (1-based)")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    chosen = SCENARIOS
    if args.only:
        chosen = [SCENARIOS[int(i) - 1] for i in args.only.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="evs-standard-"))
    load = os.getloadavg()
    started = time.monotonic()
    results = []
    for scenario in chosen:
        result, command, _ = run(scenario, args.quick, folder)
        results.append((scenario, result, command))
    section = render(results, load, args.quick)
    print(section)
    print(f"standard scenarios: {time.monotonic() - started:.0f} s; results in {folder}")
    if not args.quick or args.write:
        rewrite(args.benchmarks, section)
        print(f"{args.benchmarks} rewritten (section {BEGIN[:22]}...)")
    return 0 if all(r is not None for _, r, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
