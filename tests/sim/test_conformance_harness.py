"""The conformance harness itself: comparators and replayer must be able to fail.

No simulator here. The replayer runs against `trace_playback`, a fake server that plays a
recorded trace back: its own trace must pass, a doctored one must not.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from trace_check import check, own_recordings, scenario_prefix
from trace_compare import (
    Mismatch,
    RestAnswer,
    accepted_orders,
    compare_event_shapes,
    compare_orders,
    compare_rest,
    relaxed_equal,
    shape_diff,
    string_shape,
)
from trace_known import split_known
from trace_model import Scenario, TraceError, load, scenario, scenarios, signature, stream_of
from trace_playback import serving
from trace_replay import Replayer, Target
from trace_values import value_diff

Json = Any
FAST = 200.0  # playback has no phones: pace recorded gaps 200x faster


# ---------------------------------------------------------------- inventory


def test_every_recorded_scenario_is_listed_with_its_reruns() -> None:
    found = scenarios()
    names = [sc.name.split("-", 1)[0] for sc in found]
    assert names == [f"S{n:02d}" for n in range(1, 15)] + [f"P{n:02d}" for n in range(1, 11)]
    for sc in found:
        assert len(sc.runs) >= 2, f"{sc.name} has no rerun to learn ordering variance from"
        for path in sc.runs:
            assert load(path)["steps"], path


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no recorded scenario"):
        scenario("S99")


# ---------------------------------------------------------------- shapes


def test_shape_diff_accepts_same_keys_with_other_values() -> None:
    a = {"id": "x", "state": "Up", "caller": {"name": "A", "number": "1"}, "n": 1}
    b = {"id": "y", "state": "Down", "caller": {"name": "", "number": "2"}, "n": 7}
    assert shape_diff(a, b) == []


@pytest.mark.parametrize(
    ("got", "needle"),
    [
        ({"id": "x"}, "missing keys ['caller']"),
        ({"id": "x", "caller": {"name": "", "number": ""}, "soft": True}, "unexpected keys"),
        ({"id": "x", "caller": {"name": ""}}, "$.caller: missing keys ['number']"),
        ({"id": 3, "caller": {"name": "", "number": ""}}, "$.id: expected string, got number"),
        ({"id": "x", "caller": []}, "$.caller: expected object, got list"),
    ],
)
def test_shape_diff_reports_key_and_type_differences(got: Json, needle: str) -> None:
    expected = {"id": "x", "caller": {"name": "", "number": ""}}
    diff = shape_diff(expected, got)
    assert any(needle in d for d in diff), diff


def test_lists_of_objects_keep_their_length_scalar_lists_do_not() -> None:
    assert shape_diff([{"a": 1}], []) == ["$: expected 1 items, got 0"]
    assert shape_diff({"channels": ["a"]}, {"channels": ["a", "1795726706.262"]}) == []


def test_server_generated_strings_compare_by_shape() -> None:
    ts = "2026-11-26T20:54:51.378+0000"
    assert string_shape(ts) == string_shape("2027-01-02T03:04:05.006+0000")
    name = "Local/answer@sim-phones-00000056;1"
    assert string_shape(name) == string_shape("Local/answer@sim-phones-0000007a;1")
    event = {"timestamp": ts, "channel": {"name": name}}
    assert shape_diff(event, {"timestamp": "yesterday", "channel": {"name": name}})
    assert shape_diff(event, {"timestamp": ts, "channel": {"name": "Local/answer;1"}})


# ---------------------------------------------------------------- REST


def test_rest_comparison_checks_status_shape_and_error_text() -> None:
    ok = [RestAnswer(404, "application/json", {"message": "Channel not found"})]
    assert compare_rest("r", ok, RestAnswer(404, "application/json", {"message": "Channel not found"})) == []
    kinds = {m.kind for m in compare_rest("r", ok, RestAnswer(400, "application/json", {"message": "x"}))}
    assert kinds == {"rest-status"}
    kinds = {m.kind for m in compare_rest("r", ok, RestAnswer(404, "application/json", {"error": "Channel not found"}))}
    assert kinds == {"rest-shape"}
    kinds = {m.kind for m in compare_rest("r", ok, RestAnswer(404, "application/json", {"message": "Bridge not found"}))}
    assert kinds == {"rest-message"}
    kinds = {m.kind for m in compare_rest("r", ok, RestAnswer(404, "text/plain", {"message": "Channel not found"}))}
    assert kinds == {"rest-content-type"}


# ---------------------------------------------------------------- event order

ANSWERED = ["Dial:", "ChannelStateChange:Ringing", "Dial:RINGING", "ChannelStateChange:Up",
            "Dial:ANSWER", "ChannelVarset:STASISSTATUS", "StasisStart"]


def test_a_reordered_sequence_fails_the_comparator() -> None:
    accepted = {("first", "c1"): [ANSWERED]}
    reordered = [*ANSWERED[:4], "StasisStart", "Dial:ANSWER", "ChannelVarset:STASISSTATUS"]
    mismatches, notes = compare_orders(accepted, {("first", "c1"): reordered})
    assert [m.kind for m in mismatches] == ["event-order"]
    assert notes == []


def test_missing_extra_and_unexpected_streams_fail() -> None:
    accepted = {("first", "c1"): [ANSWERED]}
    assert compare_orders(accepted, {("first", "c1"): ANSWERED[:-1]})[0]
    assert compare_orders(accepted, {("first", "c1"): [*ANSWERED, "StasisEnd"]})[0]
    assert compare_orders(accepted, {})[0]
    assert compare_orders(accepted, {("first", "c1"): ANSWERED, ("first", "c2"): ["Dial:"]})[0]
    # the same events on the other WebSocket are not the same stream
    assert compare_orders(accepted, {("second", "c1"): ANSWERED})[0]


def test_any_recorded_order_is_accepted() -> None:
    run1 = {("first", "c1"): ["A", "B"]}
    run2 = {("first", "c1"): ["B", "A"]}
    accepted = accepted_orders([run1, run2])
    assert compare_orders(accepted, {("first", "c1"): ["B", "A"]}) == ([], [])
    assert compare_orders(accepted, {("first", "c1"): ["A", "A"]})[0]


def test_the_readme_relaxation_is_reported_and_narrow() -> None:
    swapped = ["ChannelStateChange:Ringing", "Dial:", *ANSWERED[2:]]
    late_dial = ["ChannelStateChange:Ringing", "Dial:RINGING", "Dial:", *ANSWERED[3:]]
    assert relaxed_equal(swapped, ANSWERED)
    assert relaxed_equal(late_dial, ANSWERED)
    extra_cl = [*ANSWERED, "ChannelConnectedLine"]
    assert relaxed_equal(extra_cl, ANSWERED)
    assert relaxed_equal(ANSWERED, extra_cl)
    assert not relaxed_equal([*ANSWERED, "ChannelConnectedLine", "ChannelConnectedLine"], ANSWERED)
    assert not relaxed_equal([*ANSWERED, "ChannelVarset:BRIDGEPEER"], ANSWERED)
    # the ring trio may not move across the answer
    assert not relaxed_equal(["Dial:", "ChannelStateChange:Ringing", "ChannelStateChange:Up",
                              "Dial:RINGING", *ANSWERED[4:]], ANSWERED)
    mismatches, notes = compare_orders({("first", "c1"): [ANSWERED]}, {("first", "c1"): swapped})
    assert mismatches == [] and len(notes) == 1


def test_event_fields_are_compared_per_occurrence() -> None:
    recorded = [{("first", "c1"): [("Dial:", {"type": "Dial", "peer": {"id": "c1"}, "forward": ""})]}]
    good = {("first", "c1"): [("Dial:", {"type": "Dial", "peer": {"id": "c1"}, "forward": ""})]}
    bad = {("first", "c1"): [("Dial:", {"type": "Dial", "peer": {"id": "c1"}, "caller": {}})]}
    assert compare_event_shapes(recorded, good) == []
    [mismatch] = compare_event_shapes(recorded, bad)
    assert mismatch.kind == "event-shape" and "caller" in mismatch.detail and "forward" in mismatch.detail


def test_signatures_and_streams_follow_the_call_flow_fields() -> None:
    dial = {"type": "Dial", "dialstatus": "BUSY", "peer": {"id": "c1"}}
    assert (signature(dial), stream_of(dial)) == ("Dial:BUSY", "c1")
    destroyed: dict[str, Any] = {"type": "ChannelDestroyed", "cause": 17, "channel": {"id": "c1-2"}}
    assert (signature(destroyed), stream_of(destroyed)) == ("ChannelDestroyed:17", "c1-2")
    finished = {"type": "PlaybackFinished", "playback": {"id": "pb", "state": "failed"}}
    assert (signature(finished), stream_of(finished)) == ("PlaybackFinished:failed", "playback:pb")
    assert stream_of({"type": "ApplicationReplaced"}) == "app:ApplicationReplaced"


# ---------------------------------------------------------------- replayer vs playback


async def _replay_against(
    sc: Scenario, served: dict[str, Json]
) -> tuple[list[Mismatch], list[str]]:
    """(mismatches, server protocol errors + replay waits that timed out)."""
    async with serving(served) as (base_url, playback):
        target = Target(base_url, "evscallpro", "secret")
        observed = await Replayer(load(sc.main), target, time_scale=FAST,
                                  min_event_timeout_s=0.5).run()
    report = check(sc, observed)
    return report.mismatches, playback.protocol_errors + [
        f"wait timed out {w}" for w in observed.timed_out_waits
    ]


@pytest.mark.parametrize("sc", scenarios(), ids=lambda sc: sc.name.split("-", 1)[0])
async def test_replaying_a_trace_against_its_own_playback_passes(sc: Scenario) -> None:
    mismatches, problems = await _replay_against(sc, load(sc.main))
    assert problems == []
    assert mismatches == [], "\n".join(map(str, mismatches))


def _doctored(name: str) -> tuple[Scenario, dict[str, Json]]:
    sc = scenario(name)
    return sc, copy.deepcopy(load(sc.main))


def _event_steps(trace: dict[str, Json], etype: str, stream: str) -> list[int]:
    return [i for i, s in enumerate(trace["steps"])
            if s["kind"] == "event" and s["type"] == etype and stream_of(s["event"]) == stream]


async def test_swapped_events_in_one_stream_fail_the_replay() -> None:
    sc, trace = _doctored("S01")
    [answer] = [i for i in _event_steps(trace, "Dial", "s01-agent")
                if trace["steps"][i]["event"]["dialstatus"] == "ANSWER"]
    [start] = _event_steps(trace, "StasisStart", "s01-agent")
    steps = trace["steps"]
    steps[answer]["event"], steps[start]["event"] = steps[start]["event"], steps[answer]["event"]
    mismatches, _ = await _replay_against(sc, trace)
    assert any(m.kind == "event-order" and "s01-agent " in m.where for m in mismatches), mismatches


async def test_a_wrong_status_a_missing_key_and_a_dropped_event_fail_the_replay() -> None:
    sc, trace = _doctored("S02")
    steps = trace["steps"]
    response = next(s for s in steps if s["kind"] == "response")
    response["status"] = 201
    [destroyed, *_] = [i for i, s in enumerate(steps) if s["kind"] == "event"
                       and s["type"] == "ChannelDestroyed"]
    del steps[destroyed]["event"]["cause_txt"]
    dial = next(s for s in steps if s["kind"] == "event" and s["type"] == "Dial")
    steps.remove(dial)
    mismatches, _ = await _replay_against(sc, trace)
    kinds = {m.kind for m in mismatches}
    assert {"rest-status", "event-shape", "event-order"} <= kinds, mismatches


async def test_a_refused_websocket_where_one_was_accepted_fails() -> None:
    sc, trace = _doctored("S12")
    probe = next(s for s in trace["steps"] if s.get("action") == "probe_handshake_failed")
    probe["status"] = 403
    mismatches, _ = await _replay_against(sc, trace)
    assert [m.kind for m in mismatches] == ["ws-status"], mismatches


def test_stored_recordings_are_compared_as_a_fresh_server_would_list_them() -> None:
    s12 = load(scenario("S12").main)
    assert scenario_prefix(s12) == "s12"
    listed = [{"name": "s01-rec", "format": "wav"}, {"name": "s12-rec", "format": "wav"}]
    assert own_recordings(listed, "s12") == [{"name": "s12-rec", "format": "wav"}]
    assert own_recordings({"name": "s01-rec"}, "s12") == {"name": "s01-rec"}  # not a list


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "cannot read trace"),
        ('{"steps": {}}', "`steps` list"),
        ('{"steps": [{"kind": "event"}]}', "lacks `kind` or `t_ms`"),
        ('{"steps": [{"kind": "event", "t_ms": 1}]}', "has no `event` object"),
    ],
)
def test_a_malformed_trace_is_a_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TraceError, match=needle):
        load(path)


def test_a_bad_time_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        Replayer(load(scenario("S02").main), Target("http://127.0.0.1:9", "u", "p"), time_scale=0)


def test_known_differences_are_narrow() -> None:
    extra = "\n--- recorded\n+++ simulator\n@@ -5,2 +5,4 @@\n ChannelStateChange:Up\n"
    accepted = Mismatch("event-order", "stream s13-cust-2 (ws first)",
                        extra + "+ChannelDialplan:Wait\n+ChannelCallerId")
    failing, known = split_known("S13-websocket-disconnect", [accepted])
    assert failing == [] and len(known) == 1
    for detail in (extra + "+ChannelDialplan:Wait\n+ChannelDestroyed:16",
                   extra + "-ChannelDialplan:Answer\n+ChannelDialplan:Wait"):
        other = Mismatch("event-order", "stream s13-cust-2 (ws first)", detail)
        assert split_known("S13-websocket-disconnect", [other])[0] == [other]
    assert split_known("S01-happy-path", [accepted])[0] == [accepted]


def test_call_flow_values_are_compared_server_generated_ones_are_not() -> None:
    destroyed: dict[str, Any] = {"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing",
                 "timestamp": "t1", "channel": {"id": "c1", "name": "Local/a@x-0000000a;1",
                                                "state": "Up", "dialplan": {"app_name": "AppDial2"}}}
    same = copy.deepcopy(destroyed)
    same["timestamp"], same["channel"]["name"] = "t2", "Local/a@x-0000000b;1"
    assert value_diff(destroyed, same) == []
    other = copy.deepcopy(destroyed)
    other["cause"], other["channel"]["dialplan"]["app_name"] = 17, "Stasis"
    assert value_diff(destroyed, other) == [
        "$.cause: expected 16, got 17",
        "$.channel.dialplan.app_name: expected 'AppDial2', got 'Stasis'",
    ]


def test_bridge_members_ignore_the_recorder_uniqueid_and_lists_pair_by_id() -> None:
    bridge = {"bridge": {"channels": ["a", "b"], "technology": "softmix"}}
    with_recorder = {"bridge": {"channels": ["b", "1795726706.262", "a"], "technology": "softmix"}}
    assert value_diff(bridge, with_recorder) == []
    assert value_diff(bridge, {"bridge": {"channels": ["a"], "technology": "softmix"}})
    listed = [{"id": "a", "state": "Up"}, {"id": "b", "state": "Ring"}]
    assert value_diff(listed, list(reversed(listed))) == []
    assert value_diff(listed, [{"id": "a", "state": "Up"}, {"id": "b", "state": "Up"}]) == [
        "$[id=b].state: expected 'Ring', got 'Up'"]


def test_only_meaningful_variables_have_their_value_compared() -> None:
    status = {"variable": "STASISSTATUS", "value": ""}
    assert value_diff(status, {"variable": "STASISSTATUS", "value": "SUCCESS"})
    peer = {"variable": "BRIDGEPEER", "value": "Local/a@x-0000000a;1"}
    assert value_diff(peer, {"variable": "BRIDGEPEER", "value": "PJSIP/carrier-00000001"}) == []
