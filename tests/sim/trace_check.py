"""Judge one replay against every recorded run of its scenario.

One environment adjustment, and only one: the recording Asterisk kept the stored
recordings of earlier scenarios (S12 and S14 list s01-rec, s08-rec...). A fresh simulator
per scenario cannot have them, so `GET /ari/recordings/stored` is compared with the
recorded list restricted to this scenario's own recordings (names sharing its prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trace_compare import (
    Mismatch,
    RestAnswer,
    SigBody,
    StreamKey,
    accepted_orders,
    compare_event_shapes,
    compare_orders,
    compare_rest,
)
from trace_model import Scenario, events_of, load, streams_of
from trace_replay import Observation

Json = Any


@dataclass
class Report:
    scenario: str
    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"{self.scenario}: {len(self.mismatches)} mismatch(es)"]
        lines += [f"  {m}" for m in self.mismatches]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def recorded_streams(trace: dict[str, Json]) -> dict[StreamKey, list[SigBody]]:
    return {
        key: [(ev.sig, ev.body) for ev in evs]
        for key, evs in streams_of(events_of(trace)).items()
    }


def scenario_prefix(trace: dict[str, Json]) -> str:
    """`s12-` for S12-error-responses, `p04` for P04-agent-failed (ids start with it)."""
    return str(trace.get("scenario", "")).split("-", 1)[0].lower()


def own_recordings(body: Json, prefix: str) -> Json:
    if not isinstance(body, list) or not prefix:
        return body
    return [item for item in body
            if not isinstance(item, dict) or str(item.get("name", "")).startswith(prefix)]


def _answers_by_request(traces: list[dict[str, Json]]) -> dict[int, list[RestAnswer]]:
    """Each request id's recorded answers, one per run that sent the same request."""
    main = traces[0]
    requests = {s["id"]: (s["method"], s["path"]) for s in main["steps"] if s["kind"] == "request"}
    answers: dict[int, list[RestAnswer]] = {}
    for trace in traces:
        sent = {s["id"]: (s["method"], s["path"]) for s in trace["steps"] if s["kind"] == "request"}
        for step in trace["steps"]:
            rid = step.get("id")
            if step["kind"] != "response" or rid not in requests or sent.get(rid) != requests[rid]:
                continue
            body = step.get("body")
            if requests[rid] == ("GET", "/ari/recordings/stored"):
                body = own_recordings(body, scenario_prefix(trace))
            answers.setdefault(rid, []).append(
                RestAnswer(int(step["status"]), step.get("content_type"), body)
            )
    return answers


def _ws_expectations(main: dict[str, Json]) -> dict[int, int | None]:
    """For each connect/probe step, the status the recording got (101 or the refusal)."""
    expected: dict[int, int | None] = {}
    steps = main["steps"]
    for index, step in enumerate(steps):
        if step["kind"] != "ws" or step.get("action") not in ("connect", "probe_connect"):
            continue
        conn = step.get("conn")
        for later in steps[index + 1:]:
            if later["kind"] == "ws" and later.get("conn") == conn and later.get("action") in (
                "connected", "handshake_failed", "probe_handshake_failed", "probe_connected"
            ):
                expected[index] = later.get("status")
                break
    return expected


def check(scenario: Scenario, observed: Observation) -> Report:
    traces = [load(path) for path in scenario.runs]
    main = traces[0]
    report = Report(scenario.name)
    report.mismatches += [Mismatch("replay-error", "client", e) for e in observed.errors]
    report.notes += [f"wait timed out {m}" for m in observed.timed_out_waits]

    for rid, recorded in sorted(_answers_by_request(traces).items()):
        request = next(s for s in main["steps"] if s["kind"] == "request" and s["id"] == rid)
        where = f"request {rid} {request['method']} {request['path']}"
        got = observed.responses.get(rid)
        if got is None:
            report.mismatches.append(Mismatch("rest-missing", where, "no answer"))
            continue
        report.mismatches += compare_rest(where, recorded, got)

    for index, status in sorted(_ws_expectations(main).items()):
        got_status = observed.ws_status.get(index)
        if got_status != status:
            report.mismatches.append(Mismatch(
                "ws-status", f"ws step {index} {main['steps'][index].get('action')}",
                f"expected {status}, got {got_status}"))

    runs = [recorded_streams(t) for t in traces]
    got_streams = observed.streams()
    orders = accepted_orders({k: [sig for sig, _ in v] for k, v in run.items()} for run in runs)
    order_mismatches, notes = compare_orders(
        orders, {k: [sig for sig, _ in v] for k, v in got_streams.items()}
    )
    report.mismatches += order_mismatches
    report.notes += notes
    report.mismatches += compare_event_shapes(runs, got_streams)
    return report
