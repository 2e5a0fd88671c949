"""Test support: an owner machine run together with the bridge machines it opens, in one
thread, the way the actors run them (SupervisionActor + one BridgeActor per bridge), and a
small synchronous Asterisk that answers the commands the way the traces say a real one does.

`Hosted` has the Replayable surface (receive / commands_to_send / events_emitted /
is_finished), so `call_replay.Replay` drives it like a single machine.
"""

from __future__ import annotations

from typing import Any

from call_events_factory import channel, destroyed, failed, hangup_request, ok, stasis_end

from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    DestroyBridge,
    HangupChannel,
    OriginateChannel,
    RecordBridge,
    RemoveFromBridge,
    SnoopChannel,
    StopRecording,
)
from core.ari_events import (
    Bridge,
    BridgeDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisStart,
)
from core.bridge import BridgeMachine, OpenBridge, OrderBridge
from core.timers import CancelTimer, StartTimer, TimerFired

_BRIDGE_COMMANDS = (CreateBridge, DestroyBridge, RecordBridge, RemoveFromBridge, AddToBridge)


class Hosted:
    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.bridges: dict[str, BridgeMachine] = {}
        self.opened: list[str] = []  # bridge ids in the order they were opened
        self._out: list[Any] = []
        self._at = 0.0

    @property
    def is_finished(self) -> bool:
        return bool(self.owner.is_finished)

    def receive(self, inp: Any, at: float) -> None:
        self._at = at
        to_owner = True
        match inp:
            case AriCommandSucceeded(command=cmd) | AriCommandFailed(command=cmd):
                bid = getattr(cmd, "bridge_id", None)
                if isinstance(cmd, _BRIDGE_COMMANDS) and bid in self.bridges:
                    self.bridges[bid].receive(inp)
                    to_owner = False
                elif isinstance(cmd, StopRecording):
                    to_owner = False
            case TimerFired(name=name) if name.startswith("bridge:"):
                _, bid, local = name.split(":", 2)
                if bid in self.bridges:
                    self.bridges[bid].receive(TimerFired(local))
                to_owner = False
            case ChannelEnteredBridge() | ChannelLeftBridge():
                if inp.bridge.id in self.bridges:
                    self.bridges[inp.bridge.id].receive(inp)
            case BridgeDestroyed() | RecordingStarted() | RecordingFinished() | RecordingFailed():
                for bridge in self.bridges.values():
                    bridge.receive(inp)
                to_owner = False
        if to_owner:
            self.owner.receive(inp, at)
        self._pump()

    def _pump(self) -> None:
        busy = True
        while busy:
            busy = False
            for command in self.owner.commands_to_send():
                busy = True
                match command:
                    case OpenBridge(bridge_id=bid, name=name):
                        machine = BridgeMachine(bid, name)
                        self.bridges[bid] = machine
                        self.opened.append(bid)
                        machine.open()
                    case OrderBridge(bridge_id=bid, order=order):
                        self.bridges[bid].receive(order)
                    case _:
                        self._out.append(command)
            for bid, machine in list(self.bridges.items()):
                for command in machine.commands_to_send():
                    busy = True
                    if isinstance(command, StartTimer):
                        command = StartTimer(f"bridge:{bid}:{command.name}", command.seconds)
                    elif isinstance(command, CancelTimer):
                        command = CancelTimer(f"bridge:{bid}:{command.name}")
                    self._out.append(command)
                for report in machine.reports_emitted():
                    busy = True
                    self.owner.receive(report, self._at)

    def commands_to_send(self) -> list[Any]:
        out, self._out = self._out, []
        return out

    def events_emitted(self) -> list[Any]:
        return list(self.owner.events_emitted())


def left_bridge(bid: str, cid: str) -> ChannelLeftBridge:
    return ChannelLeftBridge(bridge=Bridge(id=bid), channel=channel(cid))


def entered(bid: str, cid: str) -> ChannelEnteredBridge:
    return ChannelEnteredBridge(bridge=Bridge(id=bid), channel=channel(cid))


class FakeAsterisk:
    """Answers a batch of commands as Asterisk 22 does for bridges (traces README, "Later
    facts"): a bridge id once used stays taken (409 on create, 404 on addChannel/DELETE);
    addChannel answers 204 and moves the channel (Left, Entered); a bridge deleted with
    channels in it dissolves after the batch, throwing out those channels wherever they
    moved meanwhile (the supervisor left in no bridge, 1 barge in 5 on a real Asterisk)."""

    def __init__(self, call_bridge: str, members: tuple[str, ...]) -> None:
        self.bridges: dict[str, set[str]] = {call_bridge: set(members)}
        self.taken: set[str] = {call_bridge}
        self.where: dict[str, str | None] = dict.fromkeys(members, call_bridge)
        self.whisper: dict[str, str] = {}  # snoop id -> whisper kind
        self.destroyed: list[str] = []

    def answer(self, commands: list[Any]) -> list[Any]:
        out: list[Any] = []
        dissolving: list[tuple[str, set[str]]] = []
        for c in commands:
            match c:
                case OriginateChannel(channel_id=cid):
                    self.where[cid] = None
                    out += [ok(c), StasisStart(channel=channel(cid, "Up"))]
                case SnoopChannel(snoop_id=sid, whisper=whisper):
                    self.where[sid] = None
                    self.whisper[sid] = whisper
                    out += [ok(c), StasisStart(channel=channel(sid, "Up"))]
                case CreateBridge(bridge_id=bid):
                    if bid in self.taken:
                        out.append(failed(c, 409, f"Bridge with id '{bid}' already exists"))
                    else:
                        self.taken.add(bid)
                        self.bridges[bid] = set()
                        out.append(ok(c))
                case AddToBridge(bridge_id=bid, channel_ids=ids):
                    if bid not in self.bridges:
                        out.append(failed(c, 404, "Bridge not found"))
                    elif any(i not in self.where for i in ids):
                        out.append(failed(c, 400, "Channel not found"))
                    else:
                        out.append(ok(c, 204))
                        for cid in ids:
                            out += self._move(cid, bid)
                case DestroyBridge(bridge_id=bid):
                    if bid not in self.bridges:
                        out.append(failed(c, 404, "Bridge not found"))
                    else:
                        out.append(ok(c, 204))
                        dissolving.append((bid, set(self.bridges[bid])))
                case HangupChannel(channel_id=cid):
                    if cid not in self.where:
                        out.append(failed(c, 404, "Channel not found"))
                    else:
                        out += [ok(c, 204), hangup_request(cid, 32, soft=True)]
                        out += self._move(cid, None)
                        del self.where[cid]
                        out.append(stasis_end(cid))
                        if cid not in self.whisper:  # a snoop sends no ChannelDestroyed
                            out.append(destroyed(cid, 16))
                case _:
                    out.append(ok(c))
        for bid, members in dissolving:
            for cid in members:
                out += self._move(cid, None)  # thrown out of wherever it is now
            for cid in list(self.bridges.get(bid, ())):
                out += self._move(cid, None)
            self.bridges.pop(bid, None)
            self.destroyed.append(bid)
            out.append(BridgeDestroyed(bridge=Bridge(id=bid)))
        return out

    def _move(self, cid: str, bid: str | None) -> list[Any]:
        out: list[Any] = []
        old = self.where.get(cid)
        if old is not None:
            self.bridges[old].discard(cid)
            out.append(left_bridge(old, cid))
        if cid in self.where:
            self.where[cid] = bid
        if bid is not None:
            self.bridges[bid].add(cid)
            out.append(entered(bid, cid))
        return out

    def snoops_in(self, bid: str | None) -> list[str]:
        if bid is None:
            return []
        return [c for c in self.bridges.get(bid, ()) if c in self.whisper]
