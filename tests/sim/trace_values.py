"""Values that must match the recording, beyond key sets: the call-flow facts.

Key sets say a field exists; these say it means the same: states, causes, Dial statuses,
DTMF digits, media and target URIs, formats, bridge technology and members, dialplan
location, caller/connected ids, Stasis args, and the value of the variables the core
sets or reads. Server-generated values (names with counters, timestamps, uniqueids,
Call-IDs, QoS strings, durations) are left to the shape comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Json = Any

COMPARED = frozenset({
    "state", "technology", "bridge_type", "bridge_class", "creator", "video_mode",
    "cause", "cause_txt", "tech_cause", "soft", "dialstatus", "forward", "dialstring",
    "digit", "duration_ms", "media_uri", "next_media_uri", "target_uri", "language",
    "format", "args", "context", "exten", "priority", "app_name", "app_data",
    "dialplan_app", "dialplan_app_data", "caller", "connected", "caller_presentation",
    "caller_presentation_txt", "variable", "channels", "channel_ids", "bridge_ids",
    "resource",
})
# ChannelVarset values worth comparing; BRIDGEPEER, BRIDGEPVTCALLID, RTPAUDIOQOS* carry
# channel names, Call-IDs and measurements.
VARIABLES = frozenset({"STASISSTATUS", "PLAYBACKSTATUS"})
_UNIQUEID = re.compile(r"^\d+\.\d+$")


def _members(value: Json) -> Json:
    """Bridge members as a set; the recorder sometimes shows up as a bare uniqueid."""
    if isinstance(value, list):
        return sorted(str(v) for v in value if not _UNIQUEID.match(str(v)))
    return value


def _varset_value_matters(obj: dict[str, Json]) -> bool:
    variable = str(obj.get("variable", ""))
    return variable in VARIABLES or variable.startswith("EVS_")


def value_diff(expected: Json, got: Json, path: str = "$") -> list[str]:
    """Differences in compared values where both sides have the same structure."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return _dict_values(expected, got, path)
    if isinstance(expected, list) and isinstance(got, list):
        return _list_values(expected, got, path)
    return []


def _dict_values(expected: dict[str, Json], got: dict[str, Json], path: str) -> list[str]:
    out = []
    for key in sorted(set(expected) & set(got)):
        exp, act, where = expected[key], got[key], f"{path}.{key}"
        if key in ("channels", "channel_ids", "bridge_ids"):
            exp, act = _members(exp), _members(act)
        if (key in COMPARED and not isinstance(exp, dict) and exp != act) or (key in ("caller", "connected") and exp != act):
            out.append(f"{where}: expected {exp!r}, got {act!r}")
        else:
            out.extend(value_diff(exp, act, where))
    if (
        "variable" in expected
        and _varset_value_matters(expected)
        and expected.get("value") != got.get("value")
    ):
        out.append(f"{path}.value: expected {expected.get('value')!r}, got {got.get('value')!r}")
    return out


def _key_of(item: Json) -> str | None:
    if isinstance(item, dict):
        for key in ("id", "name"):
            if isinstance(item.get(key), str):
                return f"{key}={item[key]}"
    return None


def _list_values(expected: list[Json], got: list[Json], path: str) -> list[str]:
    if not any(isinstance(v, dict) for v in expected):
        return []
    exp_keys = [_key_of(v) for v in expected]
    got_keys = [_key_of(v) for v in got]
    if None not in exp_keys and sorted(map(str, exp_keys)) == sorted(map(str, got_keys)):
        by_key = dict(zip(got_keys, got, strict=True))
        pairs = [(k, e, by_key[k]) for k, e in zip(exp_keys, expected, strict=True)]
        return [d for k, e, a in pairs for d in value_diff(e, a, f"{path}[{k}]")]
    if len(expected) != len(got):
        return []  # the shape comparison reports the length
    return [d for i, (e, a) in enumerate(zip(expected, got, strict=True))
            for d in value_diff(e, a, f"{path}[{i}]")]


def best_value_diff(candidates: Sequence[Json], got: Json, path: str = "$") -> list[str]:
    """Empty if `got` agrees with any candidate, else the diff against the first."""
    if not candidates:
        return []
    diffs = [value_diff(c, got, path) for c in candidates]
    return [] if any(not d for d in diffs) else diffs[0]
