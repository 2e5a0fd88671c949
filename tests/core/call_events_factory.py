"""Small builders of typed ARI events and a driver for CallMachine unit tests."""

from __future__ import annotations

from typing import Any, TypeVar

from core.ari_commands import AriCommand, AriCommandFailed, AriCommandSucceeded
from core.ari_events import (
    Bridge,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelStateChange,
    Dial,
    Playback,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from core.call import CallCommand, CallMachine
from core.call_config import CallRequest, CallSettings
from core.call_events import CallEnded, CallEvent
from core.call_inputs import CallInput
from core.domain import WorkstationMode
from core.records import CallRecord

T = TypeVar("T")


def channel(cid: str, state: str = "Up") -> Channel:
    return Channel(id=cid, state=state)


def stasis_start(cid: str, state: str = "Up", *args: str) -> StasisStart:
    return StasisStart(channel=channel(cid, state), args=list(args))


def state_change(cid: str, state: str) -> ChannelStateChange:
    return ChannelStateChange(channel=channel(cid, state))


def dial(cid: str, status: str) -> Dial:
    return Dial(peer=channel(cid, "Down"), dialstatus=status)


def hangup_request(
    cid: str, cause: int, soft: bool = False, tech: int | None = None
) -> ChannelHangupRequest:
    return ChannelHangupRequest(channel=channel(cid), cause=cause, soft=soft, tech_cause=tech)


def destroyed(cid: str, cause: int, text: str = "", tech: int | None = None) -> ChannelDestroyed:
    return ChannelDestroyed(channel=channel(cid), cause=cause, cause_txt=text, tech_cause=tech)


def stasis_end(cid: str) -> StasisEnd:
    return StasisEnd(channel=channel(cid))


def dtmf(cid: str, digit: str) -> ChannelDtmfReceived:
    return ChannelDtmfReceived(channel=channel(cid), digit=digit, duration_ms=100)


def playback_finished(pid: str, state: str = "done") -> PlaybackFinished:
    return PlaybackFinished(playback=Playback(id=pid, state=state))


def entered_bridge(bid: str, cid: str, members: list[str]) -> ChannelEnteredBridge:
    return ChannelEnteredBridge(bridge=Bridge(id=bid, channels=members), channel=channel(cid))


def ok(command: AriCommand, status: int = 200, body: Any = None) -> AriCommandSucceeded:
    return AriCommandSucceeded(command=command, status=status, body=body)


def failed(command: AriCommand, status: int, message: str) -> AriCommandFailed:
    return AriCommandFailed(command=command, status=status, message=message)


def request(
    call_id: str = "c1",
    agent_endpoint: str = "PJSIP/+33611111111@trunk",
    customer_number: str = "+33622222222",
    customer_endpoint: str = "PJSIP/+33622222222@trunk",
    contact_id: str | None = "k1",
) -> CallRequest:
    return CallRequest(
        call_id=call_id,
        agent_id="a1",
        agent_endpoint=agent_endpoint,
        customer_number=customer_number,
        customer_endpoint=customer_endpoint,
        workstation=WorkstationMode.MOBILE,
        contact_id=contact_id,
        requested_at=100.0,
    )


class Driver:
    """Feeds a CallMachine and keeps everything it said, in order."""

    def __init__(self, machine: CallMachine) -> None:
        self.m = machine
        self.commands: list[CallCommand] = []
        self.events: list[CallEvent] = []
        self.now = 100.0

    @classmethod
    def make(cls, settings: CallSettings | None = None, **req: Any) -> Driver:
        return cls(CallMachine(request(**req), settings or CallSettings()))

    def feed(self, *inputs: CallInput, dt: float = 1.0) -> list[CallCommand]:
        """Feed inputs (each `dt` seconds after the previous); return the new commands."""
        new: list[CallCommand] = []
        for inp in inputs:
            self.now += dt
            self.m.receive(inp, self.now)
            out = self.m.commands_to_send()
            new.extend(out)
            self.commands.extend(out)
            self.events.extend(self.m.events_emitted())
        return new

    def of(self, kind: type[T], commands: list[CallCommand] | None = None) -> list[T]:
        source = self.commands if commands is None else commands
        return [c for c in source if isinstance(c, kind)]

    def ended(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallEnded)]

    def record(self) -> CallRecord:
        records = self.ended()
        assert len(records) == 1, f"expected one CallEnded, got {len(records)}"
        return records[0]
