"""Replays a recorded ARI trace through a CallMachine on a virtual clock.

The trace's events are renamed to the machine's ids (the recorder chose its own), decoded with
`core.ari_events.decode_event` and fed to the machine when they concern its channels,
playbacks, bridge or recording. A REST response of the trace is fed back as the outcome of the
machine's own command of the same kind and target, when the machine sent one. Timers the
machine starts fire on the virtual clock (trace time) before any later step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    CreateChannel,
    DestroyBridge,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    SnoopChannel,
)
from core.ari_events import (
    ChannelEnteredBridge,
    ChannelLeftBridge,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    UnhandledEvent,
    decode_event,
    event_channel_id,
)
from core.call import CallMachine
from core.call_events import CallEnded
from core.timers import CancelTimer, StartTimer, TimerFired

C = TypeVar("C")

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ari-traces"


def load_trace(name: str, run: str = "") -> dict[str, Any]:
    """`run`: "" for the first recording, "run2"/"run3" for the reruns (ordering variance)."""
    base = TRACES / "pjsip" if name.startswith("P") else TRACES
    if run:
        base = base / "reruns" / run
    matches = sorted(base.glob(f"{name}*.json"))
    assert matches, f"no trace {name} in {base}"
    return json.loads(matches[0].read_text())


def _rename(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_rename(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _rename(v, ids) for k, v in value.items()}
    return value


class Replayable(Protocol):
    @property
    def is_finished(self) -> bool: ...

    def receive(self, inp: Any, at: float) -> Any: ...

    def commands_to_send(self) -> Sequence[Any]: ...

    def events_emitted(self) -> Sequence[Any]: ...


class Replay:
    def __init__(
        self,
        machine: Replayable,
        ids: dict[str, str],
        concerns: Callable[[Any], bool] | None = None,
    ) -> None:
        self.machine = machine
        self.ids = ids
        self._concerns_fn = concerns
        self.now = 0.0
        self.timers: dict[str, float] = {}
        self.sent: list[tuple[float, Any]] = []
        self.events: list[Any] = []
        self._answered: set[int] = set()
        self._requests: dict[Any, dict[str, Any]] = {}

    # -------------------------------------------------------------- driving
    def feed(self, inp: Any, at: float | None = None) -> None:
        at = self.now if at is None else at
        self.now = max(self.now, at)
        self.machine.receive(inp, self.now)
        self._collect()

    def advance(self, until: float) -> None:
        """Fire every timer due up to `until` (trace seconds)."""
        while self.timers and not self.machine.is_finished:
            name, deadline = min(self.timers.items(), key=lambda item: item[1])
            if deadline > until:
                break
            del self.timers[name]
            self.feed(TimerFired(name), deadline)
        self.now = max(self.now, until)

    def run(
        self,
        trace: dict[str, Any],
        *,
        start: float | None = None,
        until: float | None = None,
        inject: dict[str, Any] | None = None,
    ) -> None:
        """Replay steps with start <= t < until (seconds); `inject` feeds an input at the
        note whose text contains the key (e.g. the UI hang-up)."""
        for step in trace["steps"]:
            at = step["t_ms"] / 1000.0
            if start is not None and at < start:
                continue
            if until is not None and at >= until:
                break
            self.advance(at)
            kind = step["kind"]
            if kind == "event":
                self._event(step["event"], at)
            elif kind == "request":
                self._requests[step["id"]] = step
            elif kind == "response":
                self._response(step, at)
            elif kind == "note" and inject:
                for needle, inp in inject.items():
                    if needle in step.get("text", ""):
                        self.feed(inp, at)

    def finish(self, horizon: float = 120.0) -> None:
        """Let the machine's own timers run out (the trace ended before the machine)."""
        self.advance(self.now + horizon)

    # -------------------------------------------------------------- results
    def commands(self, kind: type[C]) -> list[C]:
        return [c for _, c in self.sent if isinstance(c, kind)]

    def all_commands(self) -> list[Any]:
        return [c for _, c in self.sent]

    def record(self) -> Any:
        ended = [e for e in self.events if isinstance(e, CallEnded)]
        assert len(ended) == 1, f"expected exactly one CallEnded, got {len(ended)}"
        return ended[0].record

    # -------------------------------------------------------------- internals
    def _collect(self) -> None:
        for command in self.machine.commands_to_send():
            if isinstance(command, StartTimer):
                self.timers[command.name] = self.now + command.seconds
            elif isinstance(command, CancelTimer):
                self.timers.pop(command.name, None)
            self.sent.append((self.now, command))
        self.events.extend(self.machine.events_emitted())

    def _concerns(self, event: Any) -> bool:
        if isinstance(event, UnhandledEvent):
            return False
        if self._concerns_fn is not None:
            return self._concerns_fn(event)
        m = self.machine
        assert isinstance(m, CallMachine)
        match event:
            case PlaybackStarted() | PlaybackContinuing() | PlaybackFinished():
                return bool(event.playback.id in m.playback_ids())
            case RecordingStarted() | RecordingFinished() | RecordingFailed():
                return bool(event.recording.name == m.call_id)
            case ChannelEnteredBridge() | ChannelLeftBridge():
                return bool(event.bridge.id == m.bridge_id)
        channel_id = event_channel_id(event)
        return channel_id is not None and channel_id in m.channel_ids()

    def _event(self, raw: dict[str, Any], at: float) -> None:
        event = decode_event(_rename(raw, self.ids))
        if self._concerns(event):
            self.feed(event, at)  # type: ignore[arg-type]

    def _response(self, step: dict[str, Any], at: float) -> None:
        request = self._requests.get(step["id"])
        if request is None:
            return
        command = self._match(request)
        if command is None:
            return
        status = int(step["status"])
        if status < 400:
            self.feed(
                AriCommandSucceeded(command=command, status=status, body=step.get("body")), at
            )
        else:
            body = step.get("body") or {}
            message = body.get("message") or body.get("error") or ""
            self.feed(AriCommandFailed(command=command, status=status, message=message), at)

    def _match(self, request: dict[str, Any]) -> Any:
        method, path = request["method"], request["path"]
        params = {**(request.get("query") or {}), **(request.get("body") or {})}
        params = _rename(params, self.ids)
        parts = [self.ids.get(p, p) for p in path.split("/")]
        wanted: tuple[type, str] | None = None
        if method == "POST" and path == "/ari/channels":
            wanted = (OriginateChannel, params.get("channelId", ""))
        elif method == "POST" and path == "/ari/channels/create":
            wanted = (CreateChannel, params.get("channelId", ""))
        elif method == "POST" and re.fullmatch(r"/ari/channels/[^/]+/dial", path):
            wanted = (DialChannel, parts[3])
        elif method == "DELETE" and re.fullmatch(r"/ari/channels/[^/]+", path):
            wanted = (HangupChannel, parts[3])
        elif method == "POST" and re.fullmatch(r"/ari/channels/[^/]+/play/[^/]+", path):
            wanted = (PlayMedia, parts[5])
        elif method == "POST" and path == "/ari/bridges":
            wanted = (CreateBridge, params.get("bridgeId", ""))
        elif method == "POST" and re.fullmatch(r"/ari/bridges/[^/]+/addChannel", path):
            wanted = (AddToBridge, parts[3])
        elif method == "POST" and re.fullmatch(r"/ari/bridges/[^/]+/record", path):
            wanted = (RecordBridge, parts[3])
        elif method == "POST" and re.fullmatch(r"/ari/channels/[^/]+/snoop", path):
            wanted = (SnoopChannel, params.get("snoopId", ""))
        elif method == "DELETE" and re.fullmatch(r"/ari/bridges/[^/]+", path):
            wanted = (DestroyBridge, parts[3])
        if wanted is None:
            return None
        kind, target = wanted
        for index, (_, command) in enumerate(self.sent):
            if index in self._answered or not isinstance(command, kind):
                continue
            if _target(command) == target and not isinstance(command, StartTimer | CancelTimer):
                self._answered.add(index)
                return command
        return None


def _target(command: Any) -> str:
    if isinstance(command, SnoopChannel):
        return command.snoop_id
    data = msgspec.structs.asdict(command)
    for key in ("channel_id", "bridge_id"):
        if key in data:
            if isinstance(command, PlayMedia):
                return command.playback_id
            return str(data[key])
    return ""
