"""Recorded ARI traces (tests/fixtures/ari-traces) as plain data the harness can walk.

A trace file is JSON with `steps` in arrival order. This module only loads and classifies
them: which scenarios exist, which reruns each has, which event stream an event belongs to
and the signature under which the comparator orders it. No I/O beyond reading the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ari-traces"
FIRST_CONN = "first"

Json = Any


class TraceError(ValueError):
    """A trace file does not have the shape the harness expects."""


@dataclass(frozen=True)
class Scenario:
    """One recorded scenario and the files of all its runs (the main run first)."""

    name: str
    family: str  # "local" (S01-S14) or "pjsip" (P01-P10)
    runs: tuple[Path, ...]

    @property
    def main(self) -> Path:
        return self.runs[0]


def _runs_of(main: Path) -> tuple[Path, ...]:
    reruns = sorted((main.parent / "reruns").glob(f"*/{main.name}"))
    return (main, *reruns)


def scenarios(root: Path = FIXTURES) -> list[Scenario]:
    """Every recorded scenario: S01-S14 (Local channels) then P01-P10 (PJSIP trunk)."""
    found = [Scenario(p.stem, "local", _runs_of(p)) for p in sorted(root.glob("S*.json"))]
    found += [
        Scenario(p.stem, "pjsip", _runs_of(p)) for p in sorted((root / "pjsip").glob("P*.json"))
    ]
    return found


def scenario(name: str, root: Path = FIXTURES) -> Scenario:
    for sc in scenarios(root):
        if sc.name == name or sc.name.split("-", 1)[0] == name:
            return sc
    raise TraceError(f"no recorded scenario named {name!r} under {root}")


def load(path: Path) -> dict[str, Json]:
    """Read one trace file and check the few keys the harness relies on."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TraceError(f"{path}: cannot read trace: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise TraceError(f"{path}: a trace is an object with a `steps` list")
    for index, step in enumerate(data["steps"]):
        if not isinstance(step, dict) or "kind" not in step or "t_ms" not in step:
            raise TraceError(f"{path}: step {index} lacks `kind` or `t_ms`")
        if step["kind"] == "event" and not isinstance(step.get("event"), dict):
            raise TraceError(f"{path}: event step {index} has no `event` object")
    return data


def conn_of(step: dict[str, Json]) -> str:
    """Which events WebSocket a step belongs to (S13 opens a "second" one)."""
    return str(step.get("conn", FIRST_CONN))


def stream_of(event: dict[str, Json]) -> str:
    """The object an event is about: a channel id, else its playback/recording/bridge.

    Ordering is only compared inside one stream; interleaving between streams varies
    between runs of the real Asterisk and is not part of the contract.
    """
    for key in ("channel", "peer"):
        obj = event.get(key)
        if isinstance(obj, dict) and "id" in obj:
            return str(obj["id"])
    for key, field in (("playback", "id"), ("recording", "name"), ("bridge", "id")):
        obj = event.get(key)
        if isinstance(obj, dict) and field in obj:
            return f"{key}:{obj[field]}"
    return f"app:{event.get('type', '?')}"


def _path(event: dict[str, Json], *keys: str) -> Json:
    value: Json = event
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# The field that tells two events of one type apart in a call flow (Dial status, new
# state, hang-up cause, variable name...). It is part of the ordered signature.
_DISCRIMINATOR: dict[str, tuple[str, ...]] = {
    "Dial": ("dialstatus",),
    "ChannelStateChange": ("channel", "state"),
    "ChannelHangupRequest": ("cause",),
    "ChannelDestroyed": ("cause",),
    "ChannelVarset": ("variable",),
    "ChannelDtmfReceived": ("digit",),
    "ChannelDialplan": ("dialplan_app",),
    "PlaybackStarted": ("playback", "state"),
    "PlaybackContinuing": ("playback", "state"),
    "PlaybackFinished": ("playback", "state"),
    "RecordingStarted": ("recording", "state"),
    "RecordingFinished": ("recording", "state"),
    "RecordingFailed": ("recording", "state"),
}


def signature(event: dict[str, Json]) -> str:
    """`Type` or `Type:discriminator`, e.g. `Dial:RINGING`, `ChannelDestroyed:16`."""
    etype = str(event.get("type", "?"))
    keys = _DISCRIMINATOR.get(etype)
    if keys is None:
        return etype
    value = _path(event, *keys)
    return f"{etype}:{'' if value is None else value}"


@dataclass(frozen=True)
class TraceEvent:
    index: int  # position in `steps`
    t_ms: float
    conn: str
    stream: str
    sig: str
    body: dict[str, Json]


def events_of(data: dict[str, Json]) -> list[TraceEvent]:
    out = []
    for index, step in enumerate(data["steps"]):
        if step["kind"] == "event":
            ev = step["event"]
            out.append(
                TraceEvent(index, float(step["t_ms"]), conn_of(step), stream_of(ev), signature(ev), ev)
            )
    return out


def streams_of(events: list[TraceEvent]) -> dict[tuple[str, str], list[TraceEvent]]:
    """Events grouped by (connection, stream), each list in arrival order."""
    grouped: dict[tuple[str, str], list[TraceEvent]] = {}
    for ev in events:
        grouped.setdefault((ev.conn, ev.stream), []).append(ev)
    return grouped
