"""Compare what a simulator did with what the real Asterisk 22 recorded.

Rules (issue 2):
- REST: same status, same body JSON type and key set, recursively; lists of objects keep
  their length; error bodies keep their message text.
- Events: per (WebSocket, stream) the same sequence of signatures (`trace_model.signature`).
  Any order recorded in one of the runs is accepted. Failing that, one documented
  relaxation: the README's ordering variance (`Dial ""`, ChannelStateChange Ringing and
  `Dial RINGING` in any order, one ChannelConnectedLine more or less). A relaxed match is
  reported as a note, never silently.
- Each event has the key set (recursively) of the same event in some recorded run, and
  the same call-flow values (`trace_values`: states, causes, URIs, members...).
Server-generated strings (timestamps, Local/PJSIP/Snoop name counters) are compared by
shape: hex counters and digits are masked before comparison.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trace_values import best_value_diff

Json = Any
StreamKey = tuple[str, str]


@dataclass(frozen=True)
class Mismatch:
    kind: str  # rest-status, rest-shape, rest-message, event-order, event-shape, ws-status ...
    where: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.detail}"


# ---------------------------------------------------------------- JSON shapes

_SHAPED_KEYS = frozenset({"timestamp", "creationtime"})
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DIGIT = re.compile(r"\d")


def string_shape(value: str) -> str:
    """Mask what the server generates: 8-hex counters and digits."""
    return _DIGIT.sub("9", _HEX8.sub("HHHHHHHH", value))


def _category(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shape_diff(expected: Json, got: Json, path: str = "$") -> list[str]:
    """Differences in JSON type and key sets between two values, empty when alike."""
    exp_cat, got_cat = _category(expected), _category(got)
    if exp_cat != got_cat:
        return [f"{path}: expected {exp_cat}, got {got_cat}"]
    if exp_cat == "object":
        return _object_diff(expected, got, path)
    if exp_cat == "list":
        return _list_diff(expected, got, path)
    if exp_cat == "string" and _is_shaped(path) and string_shape(expected) != string_shape(got):
        return [f"{path}: expected a value shaped {expected!r}, got {got!r}"]
    return []


def _is_shaped(path: str) -> bool:
    last = path.rsplit(".", 1)[-1]
    return last in _SHAPED_KEYS or path.endswith(("channel.name", "peer.name", "$.name"))


def _object_diff(expected: dict[str, Json], got: dict[str, Json], path: str) -> list[str]:
    out = []
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        out.append(f"{path}: missing keys {missing}")
    if extra:
        out.append(f"{path}: unexpected keys {extra}")
    for key in sorted(set(expected) & set(got)):
        out.extend(shape_diff(expected[key], got[key], f"{path}.{key}"))
    return out


def _list_diff(expected: list[Json], got: list[Json], path: str) -> list[str]:
    structured = any(_category(v) in ("object", "list") for v in (*expected, *got))
    if structured:
        if len(expected) != len(got):
            return [f"{path}: expected {len(expected)} items, got {len(got)}"]
        out = []
        for index, (exp, act) in enumerate(zip(expected, got, strict=True)):
            out.extend(shape_diff(exp, act, f"{path}[{index}]"))
        return out
    exp_cats = {_category(v) for v in expected}
    got_cats = {_category(v) for v in got}
    if exp_cats and got_cats and exp_cats != got_cats:
        return [f"{path}: expected items of {sorted(exp_cats)}, got {sorted(got_cats)}"]
    return []


def best_shape_diff(candidates: Sequence[Json], got: Json, path: str = "$") -> list[str]:
    """Empty if `got` has the shape of any candidate, else the diff against the first."""
    if not candidates:
        return [f"{path}: nothing recorded to compare with"]
    diffs = [shape_diff(c, got, path) for c in candidates]
    return [] if any(not d for d in diffs) else diffs[0]


# ---------------------------------------------------------------- REST answers


@dataclass(frozen=True)
class RestAnswer:
    status: int
    content_type: str | None
    body: Json  # parsed JSON, or None, or {"<binary>": size} for non-JSON bodies


def _main_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def _error_text(body: Json) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


def compare_rest(where: str, recorded: Sequence[RestAnswer], got: RestAnswer) -> list[Mismatch]:
    """`recorded` holds the answer of each run (main first); any run's shape is accepted."""
    main = recorded[0]
    statuses = {r.status for r in recorded}
    if got.status not in statuses:
        return [Mismatch("rest-status", where, f"expected {main.status}, got {got.status}"
                         f" (body {got.body!r:.200})")]
    same_status = [r for r in recorded if r.status == got.status]
    out = []
    if _main_type(got.content_type) not in {_main_type(r.content_type) for r in same_status}:
        out.append(Mismatch("rest-content-type", where,
                            f"expected {main.content_type!r}, got {got.content_type!r}"))
    diff = best_shape_diff([r.body for r in same_status], got.body)
    if diff:
        out.append(Mismatch("rest-shape", where, "; ".join(diff)))
    values = best_value_diff([r.body for r in same_status], got.body)
    if values:
        out.append(Mismatch("rest-value", where, "; ".join(values)))
    if got.status >= 400:
        wanted = {_error_text(r.body) for r in same_status}
        if _error_text(got.body) not in wanted:
            out.append(Mismatch("rest-message", where,
                                f"expected {sorted(map(str, wanted))}, got {got.body!r:.200}"))
    return out


# ---------------------------------------------------------------- event order

RING_TRIO = frozenset({"Dial:", "ChannelStateChange:Ringing", "Dial:RINGING"})
CONNECTED_LINE = "ChannelConnectedLine"


def _canonical(seq: Sequence[str]) -> list[str]:
    """Sort each contiguous run of the README's interchangeable ring-start events."""
    out: list[str] = []
    run: list[str] = []
    for sig in (*seq, None):
        if sig is not None and sig in RING_TRIO:
            run.append(sig)
            continue
        out.extend(sorted(run))
        run = []
        if sig is not None:
            out.append(sig)
    return out


def relaxed_equal(got: Sequence[str], accepted: Sequence[str]) -> bool:
    """Equal up to the README's documented variance, and nothing more."""
    a, b = _canonical(got), _canonical(accepted)
    if a == b:
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) != len(shorter) + 1:
        return False
    for index, sig in enumerate(longer):
        if sig == CONNECTED_LINE and longer[:index] + longer[index + 1:] == shorter:
            return True
    return False


def accepted_orders(runs: Iterable[dict[StreamKey, list[str]]]) -> dict[StreamKey, list[list[str]]]:
    """Per stream, every distinct order recorded (a run without the stream accepts [])."""
    runs = list(runs)
    keys = {k for run in runs for k in run}
    accepted: dict[StreamKey, list[list[str]]] = {}
    for key in keys:
        orders: list[list[str]] = []
        for run in runs:
            seq = run.get(key, [])
            if seq not in orders:
                orders.append(seq)
        accepted[key] = orders
    return accepted


def compare_orders(
    accepted: dict[StreamKey, list[list[str]]], got: dict[StreamKey, list[str]]
) -> tuple[list[Mismatch], list[str]]:
    """Mismatches, and notes naming each stream accepted only through the relaxation."""
    mismatches: list[Mismatch] = []
    notes: list[str] = []
    for key in sorted(set(accepted) | set(got)):
        seq = got.get(key, [])
        orders = accepted.get(key, [[]])
        where = f"stream {key[1]} (ws {key[0]})"
        if seq in orders:
            continue
        if any(relaxed_equal(seq, order) for order in orders):
            notes.append(f"{where}: accepted through the README relaxation: {seq}")
            continue
        diff = "\n".join(difflib.unified_diff(orders[0], seq, "recorded", "simulator", lineterm="", n=2))
        mismatches.append(Mismatch("event-order", where, "\n" + diff))
    return mismatches, notes


def occurrence_index(seq: Sequence[str]) -> list[int]:
    """For each position, how many earlier items share its signature."""
    seen: dict[str, int] = {}
    out = []
    for sig in seq:
        out.append(seen.get(sig, 0))
        seen[sig] = seen.get(sig, 0) + 1
    return out


# ---------------------------------------------------------------- event fields

SigBody = tuple[str, dict[str, Json]]


def compare_event_shapes(
    runs: Sequence[dict[StreamKey, list[SigBody]]], got: dict[StreamKey, list[SigBody]]
) -> list[Mismatch]:
    """The n-th `sig` event of a stream must have the keys of the n-th `sig` of some run.

    Events with no recorded counterpart are left to `compare_orders`, which reports them.
    """
    out: list[Mismatch] = []
    for key, items in sorted(got.items()):
        nth = occurrence_index([sig for sig, _ in items])
        for (sig, body), n in zip(items, nth, strict=True):
            candidates = []
            for run in runs:
                same = [b for s, b in run.get(key, []) if s == sig]
                if n < len(same):
                    candidates.append(same[n])
            if not candidates:
                continue
            where = f"stream {key[1]} (ws {key[0]}) {sig} #{n + 1}"
            diff = best_shape_diff(candidates, body)
            if diff:
                out.append(Mismatch("event-shape", where, "; ".join(diff)))
            values = best_value_diff(candidates, body)
            if values:
                out.append(Mismatch("event-value", where, "; ".join(values)))
    return out
