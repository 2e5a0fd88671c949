"""The simulated Asterisk: state changes and the ARI events they emit, in Asterisk's order.

Everything runs on one asyncio loop: REST handlers call the public methods, far ends run
as small tasks (`FarEnd`), timers use `loop.call_later`. Every public method either
succeeds or raises `AriError` (status + body) before changing anything. Event order per
channel follows tests/fixtures/ari-traces (see its README): the comments name the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from asterisk.sim.apps import AppRegistry
from asterisk.sim.config import SimConfig
from asterisk.sim.model import (
    CAUSE_TEXT,
    CAUSE_TO_SIP,
    Bridge,
    CallerId,
    Channel,
    ChannelKind,
    Counters,
    Dialplan,
    LiveRecording,
    Playback,
    ari_timestamp,
)
from asterisk.sim.phones import PhoneBook, Step
from asterisk.sim.recordings import KNOWN_FORMATS, RecordingStore

log = logging.getLogger(__name__)

_FOREVER_S = 86400.0
_ANSWER_SETTLE_S = 0.008  # wall clock: Asterisk starts the next app ~8 ms after Answer
_QOS_VARS = (
    ("RTPAUDIOQOS", "ssrc=1;themssrc=2;lp=0;rxjitter=0.000125;rxcount=100;txjitter=0.000125;"
     "txcount=100;rlp=0;rtt=0.000400;rxmes=88.08;txmes=88.08"),
    ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000125;"),
    ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000;"),
    ("RTPAUDIOQOSRTT", "     minrtt=000.000400;     maxrtt=000.000400;"),
    ("RTPAUDIOQOSMES", "   minrxmes=088.080000;   maxrxmes=088.080000;"),
)


class AriError(Exception):
    """An ARI error answer: status and JSON body ({"message": ...} unless said otherwise)."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body = {key: message}


def parse_caller_id(text: str) -> CallerId:
    """`"EVS CallPro" <+33100000000>` -> name, number."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        return CallerId(name.strip().strip('"'), number.strip())
    return CallerId("", text)


class FarEnd:
    """One outbound leg: the far end's script, the dial state and the originate timer."""

    def __init__(
        self,
        engine: Engine,
        channel: Channel,
        local2: Channel | None,
        script: list[Step],
        dialstring: str,
        via_dial: bool,
        endpoint: str,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.local2 = local2
        self.script = script
        self.dialstring = dialstring
        self.via_dial = via_dial
        self.endpoint = endpoint
        self.dial_requested = False
        self.settling = False
        self.answered = False
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    @property
    def is_pjsip(self) -> bool:
        return self.channel.kind is ChannelKind.PJSIP

    def start(self, timeout_s: float) -> None:
        if timeout_s > 0:
            self.timer = self.engine.loop.call_later(
                self.engine.config.scaled(timeout_s), self.engine._dial_timeout, self
            )
        self.task = self.engine.loop.create_task(self._run())

    def stop(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def dial_string_for_event(self, first: bool) -> str:
        # /dial: only the first Dial event carries the dialstring (S10)
        return self.dialstring if (first or not self.via_dial) else ""

    async def _run(self) -> None:
        engine = self.engine
        try:
            if not self.script:
                engine._no_such_extension(self)
                return
            for priority, step in enumerate(self.script, start=1):
                if self.done:
                    return
                engine._dialplan_step(self, priority, step)
                await self._perform(step)
            if not self.done:  # end of dialplan: Asterisk hangs up, cause 16
                engine._far_hangup(self, 16, None)
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must not kill the loop; the leg is cleared instead
            log.exception("far end of %s failed", self.channel.id)

    async def _perform(self, step: Step) -> None:
        engine = self.engine
        app = step.app
        if app == "Wait":
            seconds = step.seconds
            if seconds >= _FOREVER_S:
                await asyncio.Event().wait()
            await asyncio.sleep(engine.config.scaled(seconds))
        elif app == "Ringing":
            engine._far_ringing(self)
        elif app == "Progress":
            engine._far_progress(self)
        elif app == "Answer":
            engine._far_answer(self)
            self.settling = True  # between Answer and the next application
            await asyncio.sleep(_ANSWER_SETTLE_S)
            self.settling = False
        elif app == "Playback":
            await asyncio.sleep(engine.config.scaled(engine.sound_seconds(step.data)))
            if self.local2 is not None and not self.done:
                engine._varset(self.local2, "PLAYBACKSTATUS", "SUCCESS")
        elif app == "SendDTMF":
            for digit in step.data:
                await asyncio.sleep(engine.config.scaled(0.2))
                if self.done:
                    return
                engine.press_digit(self.channel.id, digit)
        elif app == "Hangup":
            engine._far_hangup(self, step.cause, step.tech_cause)
        elif app == "Busy":
            engine._far_fail(self, "BUSY", 17, 486)
        elif app == "Congestion":
            engine._far_fail(self, "CONGESTION", 34, 503)


class Engine:
    def __init__(self, config: SimConfig, recordings_dir: Path) -> None:
        self.config = config
        self.phones = PhoneBook(config)
        self.registry = AppRegistry(config.asterisk_id)
        self.store = RecordingStore(recordings_dir)
        self.counters = Counters()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.channel_playbacks: dict[str, deque[Playback]] = {}
        self.live_recordings: dict[str, LiveRecording] = {}
        self.startup_time = ari_timestamp()
        self.originates = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # ------------------------------------------------------------------ event helpers
    def _emit(self, app: str, kind: str, **fields: Any) -> None:
        event: dict[str, Any] = {"type": kind, "timestamp": ari_timestamp()}
        event.update(fields)
        self.registry.deliver(app, event)

    def _chan_event(self, channel: Channel, kind: str, **fields: Any) -> None:
        if channel.app:
            self._emit(channel.app, kind, channel=channel.json(), **fields)

    def _varset(self, channel: Channel, variable: str, value: str) -> None:
        channel.variables[variable] = value
        if channel.app:
            self._emit(channel.app, "ChannelVarset", variable=variable, value=value,
                       channel=channel.json())

    def _set_state(self, channel: Channel, state: str) -> None:
        if channel.state != state:
            log.debug("channel %s state %s -> %s", channel.id, channel.state, state)
            channel.state = state
            self._chan_event(channel, "ChannelStateChange")

    def _dial_event(self, leg: FarEnd, status: str, first: bool = False) -> None:
        channel = leg.channel
        if channel.app:
            self._emit(channel.app, "Dial", dialstatus=status, forward="",
                       dialstring=leg.dial_string_for_event(first), peer=channel.json())

    def _hangup_request(self, channel: Channel, cause: int, soft: bool = False,
                        tech_cause: int | None = None) -> None:
        fields: dict[str, Any] = {"cause": cause}
        if soft:
            fields["soft"] = True
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        self._chan_event(channel, "ChannelHangupRequest", **fields)

    def _destroyed(self, channel: Channel, cause: int, tech_cause: int | None = None) -> None:
        fields: dict[str, Any] = {"cause": cause, "cause_txt": CAUSE_TEXT.get(cause, "Unknown")}
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        if channel.kind is not ChannelKind.SNOOP:  # S11: a snoop has no ChannelDestroyed
            self._chan_event(channel, "ChannelDestroyed", **fields)
        if channel.pending_callerid:  # S01: a ;2 reports its caller id after dying
            self._emit_callerid(channel)
        self._forget(channel)

    def _forget(self, channel: Channel) -> None:
        if self.channels.get(channel.id) is channel:
            del self.channels[channel.id]
        if channel.app:
            self.registry.remove_channel(channel.app, channel.id)
        queue = self.channel_playbacks.pop(channel.id, None)
        for playback in queue or ():
            if playback.task is not None:
                playback.task.cancel()
            if self.playbacks.get(playback.id) is playback:
                del self.playbacks[playback.id]

    # ------------------------------------------------------------------ lookups
    def channel(self, channel_id: str, message: str = "Channel not found",
                status: int = 404) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AriError(status, message)
        return channel

    def stasis_channel(self, channel_id: str) -> Channel:
        channel = self.channel(channel_id)
        if not channel.in_stasis:
            raise AriError(409, "Channel not in Stasis application")
        return channel

    def bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def sound_seconds(self, name: str) -> float:
        return self.config.sounds.get(name, self.config.default_sound_s)

    # ------------------------------------------------------------------ channel creation
    def _parse_endpoint(self, endpoint: str | None) -> tuple[str, str, str]:
        """-> (tech, resource, trunk_or_context). Raises the S12 errors."""
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        tech, sep, resource = endpoint.partition("/")
        if not sep or not tech or not resource:
            raise AriError(400, "Invalid endpoint specified")
        if tech.lower() == "local":
            exten, _, context = resource.partition("@")
            return "Local", exten, context or "default"
        if tech.upper() == "PJSIP":
            number, at, trunk = resource.partition("@")
            name = trunk if at else number
            if name not in self.config.pjsip_endpoints:
                raise AriError(500, "Allocation failed", key="error")
            return "PJSIP", number, name
        raise AriError(500, "Allocation failed", key="error")

    def _check_ids(self, *ids: str | None) -> None:
        for channel_id in ids:
            if channel_id and channel_id in self.channels:
                raise AriError(409, "Channel with given unique ID already exists")

    def _new_channels(
        self, endpoint: str, app: str, channel_id: str | None, other_id: str | None,
    ) -> tuple[Channel, Channel | None, str]:
        tech, resource, where = self._parse_endpoint(endpoint)
        channel_id = channel_id or self.counters.next_uniqueid()
        self._check_ids(channel_id, other_id)
        if tech == "Local":
            base = f"Local/{resource}@{where}-{self.counters.next_unique()}"
            one = Channel(channel_id, base + ";1", ChannelKind.LOCAL_1, app,
                          Dialplan(where, resource, 1, "AppDial2", "(Outgoing Line)"))
            two_id = other_id or self.counters.next_uniqueid()
            two = Channel(two_id, base + ";2", ChannelKind.LOCAL_2, app,
                          Dialplan(where, resource, 1), state="Ring",
                          creationtime=one.creationtime)
            one.peer, two.peer = two, one
            return one, two, f"{resource}@{where}"
        context = self.config.pjsip_endpoints[where].context
        dialstring = endpoint.partition("/")[2]
        channel = Channel(channel_id, f"PJSIP/{where}-{self.counters.next_unique()}",
                          ChannelKind.PJSIP, app,
                          Dialplan(context, "s", 1, "AppDial2", "(Outgoing Line)"),
                          protocol_id=str(uuid.uuid4()))
        return channel, None, dialstring

    def _register(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        if channel.app:
            self.registry.add_channel(channel.app, channel.id)

    def originate(
        self,
        endpoint: str | None,
        app: str | None,
        app_args: str = "",
        caller_id: str = "",
        timeout_s: float = 30,
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        extension: str | None = None,
    ) -> dict[str, Any]:
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        if not app and not extension:
            raise AriError(400, "Application or extension must be specified")
        one, two, dialstring = self._new_channels(endpoint, app or "", channel_id,
                                                  other_channel_id)
        one.stasis_args = app_args.split(",") if app_args else []
        if caller_id:
            one.caller = parse_caller_id(caller_id)
            one.connected = CallerId(one.caller.name, one.caller.number)
        one.variables.update({k: str(v) for k, v in (variables or {}).items()})  # no event
        self._register(one)
        self.originates += 1
        leg = FarEnd(self, one, two, self.phones.script_for(endpoint), dialstring, False,
                     endpoint)
        one.leg = leg
        if two is not None:
            self._register(two)
            two.leg = leg
            for name, value in reversed((variables or {}).items()):  # S01: on ;2, reversed
                self._varset(two, name, str(value))
            two.caller = CallerId(one.caller.name, one.caller.number)
            two.connected = CallerId(one.caller.name, one.caller.number)
        snapshot = one.json()
        self.loop.call_soon(self._begin_originate, leg, timeout_s)
        return snapshot

    def _begin_originate(self, leg: FarEnd, timeout_s: float) -> None:
        if leg.done:
            return
        two = leg.local2
        if two is not None and leg.script:
            self._chan_event(two, "ChannelCallerId", caller_presentation=0,
                             caller_presentation_txt="Presentation Allowed, Not Screened")
            self._chan_event(two, "ChannelConnectedLine")
        if leg.script:
            self._dial_event(leg, "", first=True)
        leg.start(timeout_s)

    def create(
        self,
        endpoint: str | None,
        app: str | None,
        app_args: str = "",
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
    ) -> dict[str, Any]:
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        if not app:
            raise AriError(400, "Application must be specified")
        one, two, dialstring = self._new_channels(endpoint, app, channel_id, other_channel_id)
        one.dialplan = Dialplan(one.dialplan.context, one.dialplan.exten)
        one.stasis_args = app_args.split(",") if app_args else []
        one.variables.update({k: str(v) for k, v in (variables or {}).items()})
        self._register(one)
        if two is not None:  # S10: with /create no event of the ;2 half reaches the app
            two.app = ""
            self._register(two)
        one.leg = FarEnd(self, one, two, [], dialstring, True, endpoint)
        snapshot = one.json()
        self.loop.call_soon(self._enter_created, one)
        return snapshot

    def _enter_created(self, channel: Channel) -> None:
        """S10 / P05: a created channel runs Stasis at once (ChannelDialplan first)."""
        if channel.id not in self.channels:
            return
        channel.dialplan.app_name = "Stasis"
        channel.dialplan.app_data = ",".join([channel.app, *channel.stasis_args])
        self._chan_event(channel, "ChannelDialplan", dialplan_app="Stasis",
                         dialplan_app_data=channel.dialplan.app_data)
        self._enter_stasis(channel)

    def _enter_stasis(self, channel: Channel, status_var: bool = True) -> None:
        if channel.id not in self.channels or channel.in_stasis:
            return
        channel.in_stasis = True
        channel.dialplan.app_name = "Stasis"
        channel.dialplan.app_data = ",".join([channel.app, *channel.stasis_args])
        if status_var:
            self._varset(channel, "STASISSTATUS", "")
        self._chan_event(channel, "StasisStart", args=list(channel.stasis_args))

    def dial(self, channel_id: str, caller: str | None = None, timeout_s: float = 0) -> None:
        channel = self.channel(channel_id)
        leg = channel.leg
        if not isinstance(leg, FarEnd) or not leg.via_dial or leg.dial_requested:
            raise AriError(409, "Channel is not in the correct state for dialing")
        leg.script = self.phones.script_for(leg.endpoint)
        leg.dial_requested = True
        self.loop.call_soon(self._begin_dial, leg, caller, timeout_s)

    def _begin_dial(self, leg: FarEnd, caller: str | None, timeout_s: float) -> None:
        if leg.done or leg.channel.id not in self.channels:
            return
        caller_channel = self.channels.get(caller or "")
        if caller_channel is not None:  # S10 A / P05: connected line from the caller
            leg.channel.connected = CallerId(caller_channel.caller.name,
                                             caller_channel.caller.number)
            self._chan_event(leg.channel, "ChannelConnectedLine")
        elif caller:
            self._chan_event(leg.channel, "ChannelConnectedLine")
        if leg.script:
            self._dial_event(leg, "", first=True)
        leg.start(timeout_s)

    # ------------------------------------------------------------------ far-end steps
    def _dialplan_step(self, leg: FarEnd, priority: int, step: Step) -> None:
        two = leg.local2
        if two is None or leg.via_dial or two.id not in self.channels:
            return
        two.dialplan.priority = priority
        two.dialplan.app_name = step.app
        two.dialplan.app_data = step.data
        self._chan_event(two, "ChannelDialplan", dialplan_app=step.app,
                         dialplan_app_data=step.data)
        if two.pending_callerid:
            self._emit_callerid(two)

    def _far_ringing(self, leg: FarEnd) -> None:
        if leg.answered or leg.done:
            return
        self._set_state(leg.channel, "Ringing")
        self._dial_event(leg, "RINGING")

    def _far_progress(self, leg: FarEnd) -> None:
        if not leg.answered and not leg.done:
            leg.channel.had_media = True
            self._dial_event(leg, "PROGRESS")

    def _far_answer(self, leg: FarEnd) -> None:
        if leg.answered or leg.done:
            return
        leg.answered = True
        if leg.timer is not None:
            leg.timer.cancel()
        one = leg.channel
        one.answered_at = time.monotonic()
        one.had_media = True
        if leg.local2 is not None and leg.local2.id in self.channels:
            self._set_state(leg.local2, "Up")
        self._set_state(one, "Up")
        self._dial_event(leg, "ANSWER")
        if leg.via_dial:
            return
        if one.app and self.registry.is_registered(one.app):
            self._enter_stasis(one)
        else:  # S13 C: app absent -> Asterisk hangs the answered channel up, nobody hears
            self.loop.call_soon(self._silent_hangup, one)

    def _silent_hangup(self, channel: Channel) -> None:
        if channel.id in self.channels:
            self.hangup(channel.id, 16)

    def _far_fail(self, leg: FarEnd, status: str, cause: int, sip: int) -> None:
        """Busy / Congestion before answer (S02, S04 B, P02, P04 B, S10 B, P05 A)."""
        if leg.done:
            return
        leg.stop()
        one, two = leg.channel, leg.local2
        if leg.is_pjsip:
            self._hangup_request(one, cause, tech_cause=sip)
            if leg.via_dial:
                self._end_stasis_and_destroy(one, cause, sip)
            else:
                self._dial_event(leg, status)
                self._destroyed(one, cause, sip)
            return
        if leg.via_dial:  # S10 B: the created channel stays in Stasis
            self._dial_event(leg, status)
            if two is not None:
                self._forget(two)
            one.leg = None
            return
        assert two is not None
        self._set_state(two, "Busy")
        self._dial_event(leg, status)
        self._hangup_request(two, 0)
        self._destroyed(one, 0)
        self._hangup_request(two, 16, soft=True)
        self._destroyed(two, cause)

    def _far_hangup(self, leg: FarEnd, cause: int, tech_cause: int | None) -> None:
        """The far end hangs up: Hangup(cause) in its script, or a test's far_end_hangup."""
        if leg.done:
            return
        leg.stop()
        one, two = leg.channel, leg.local2
        if not leg.answered:
            status = {17: "BUSY", 34: "CONGESTION"}.get(cause, "NOANSWER")
            if leg.is_pjsip:
                sip = tech_cause if tech_cause is not None else CAUSE_TO_SIP.get(cause)
                self._qos(one)  # P08 C: early media had RTP
                self._hangup_request(one, cause, tech_cause=sip)
                if leg.via_dial:
                    self._end_stasis_and_destroy(one, cause, sip)
                else:
                    self._dial_event(leg, status)
                    self._destroyed(one, cause, sip)
                return
            if leg.via_dial:
                self._dial_event(leg, status)
                if two is not None:
                    self._forget(two)
                one.leg = None
                return
            assert two is not None  # S04 A/C
            self._hangup_request(two, 16, soft=True)
            self._hangup_request(one, cause)
            self._destroyed(two, cause)
            self._dial_event(leg, status)
            self._destroyed(one, cause)
            return
        if leg.is_pjsip:  # P01: BYE from the carrier
            self._qos(one)
            self._hangup_request(one, cause)
            self._end_stasis_and_destroy(one, cause, None)
            return
        if two is not None and two.app and two.id in self.channels:  # S01
            self._hangup_request(two, 16, soft=True)
            self._hangup_request(one, cause)
            self._destroyed(two, cause)
        else:
            if two is not None:
                self._forget(two)
            self._hangup_request(one, cause)
        self._end_stasis_and_destroy(one, cause, None)

    def _no_such_extension(self, leg: FarEnd) -> None:
        """S12: unknown context or extension -> 200, then both halves destroyed, cause 0."""
        leg.stop()
        one, two = leg.channel, leg.local2
        if leg.via_dial:
            self._dial_event(leg, "CHANUNAVAIL", first=True)
            if two is not None:
                self._forget(two)
            one.leg = None
            return
        if two is not None:
            self._destroyed(two, 0)
        self._destroyed(one, 0)

    def _dial_timeout(self, leg: FarEnd) -> None:
        if leg.done or leg.answered:
            return
        leg.stop()
        one, two = leg.channel, leg.local2
        if leg.via_dial:  # S10 C / P05: Asterisk hangs the created channel up itself
            self._hangup_request(one, 32, soft=True)
            if two is not None:
                self._forget(two)
            self._end_stasis_and_destroy(one, 19, 480 if leg.is_pjsip else None)
            return
        if leg.is_pjsip:  # P03: CANCEL, no HangupRequest, no final Dial
            self._destroyed(one, 19, 480)
            return
        assert two is not None  # S03
        self._hangup_request(two, 19)
        self._destroyed(one, 19)
        self._hangup_request(two, 16, soft=True)
        self._destroyed(two, 19)

    def _qos(self, channel: Channel, peers_too: bool = False) -> None:
        """P01/P05: RTP statistics before a PJSIP hang-up with media; on a local hang-up
        (DELETE) bridged PJSIP peers get the same names ending in BRIDGED (P05, P08)."""
        if channel.kind is not ChannelKind.PJSIP or not channel.had_media:
            return
        bridge = self.bridges.get(channel.bridge_id or "") if peers_too else None
        if bridge is not None and bridge.native_rtp:  # P05/P08 A, not P08 B nor P09
            for member_id in bridge.members:
                peer = self.channels.get(member_id)
                if peer is not None and peer is not channel and peer.kind is ChannelKind.PJSIP:
                    for name, value in _QOS_VARS:
                        self._varset(peer, name + "BRIDGED", value)
        for name, value in _QOS_VARS:
            self._varset(channel, name, value)

    def _end_stasis_and_destroy(self, channel: Channel, cause: int, tech: int | None) -> None:
        self._leave_stasis(channel)
        self._destroyed(channel, cause, tech)

    def _leave_stasis(self, channel: Channel) -> None:
        self._stop_channel_playbacks(channel)
        for snoop_id in list(channel.snoops):
            if snoop_id in self.channels:
                self.hangup(snoop_id, 16)
        if channel.bridge_id is not None:
            self._leave_bridge(channel)
        if channel.in_stasis:
            channel.in_stasis = False
            self._chan_event(channel, "StasisEnd")
            if channel.kind is not ChannelKind.SNOOP:  # S11: a snoop has no STASISSTATUS
                self._varset(channel, "STASISSTATUS", "SUCCESS")

    # ------------------------------------------------------------------ hang-up (REST)
    def hangup(self, channel_id: str, cause: int = 16) -> None:
        """DELETE /channels/{id}: HangupRequest 32 soft, the real cause in Destroyed."""
        channel = self.channel(channel_id)
        if channel.hanging_up:
            return
        channel.hanging_up = True
        leg = channel.leg if isinstance(channel.leg, FarEnd) else None
        if channel.kind is ChannelKind.LOCAL_2 and leg is not None:
            self._far_hangup(leg, cause, None)
            return
        if leg is not None:
            leg.stop()
        ringing = leg is not None and not leg.answered and leg.task is not None
        self._qos(channel, peers_too=True)
        self._hangup_request(channel, 32, soft=True)
        if ringing and leg is not None:  # S07: deleting a ringing leg
            self._dial_event(leg, "NOANSWER")
        self._leave_stasis(channel)
        two = channel.peer if channel.kind is ChannelKind.LOCAL_1 else None
        if channel.kind is ChannelKind.SNOOP:
            self._destroyed(channel, cause)
            self._unlink_snoop(channel)
            return
        tech = None
        if channel.kind is ChannelKind.PJSIP and cause != 16:
            tech = CAUSE_TO_SIP.get(cause)
        if two is not None and two.id in self.channels:
            self._hangup_request(two, cause)  # S09 B: reason_code=21 -> ;2 HangupRequest 21
            self._destroyed(channel, cause)
            self._hangup_request(two, 16, soft=True)
            self._destroyed(two, cause)
        else:
            self._destroyed(channel, cause, tech)

    def _unlink_snoop(self, snoop: Channel) -> None:
        spied = self.channels.get(snoop.spied_id or "")
        if spied is not None and snoop.id in spied.snoops:
            spied.snoops.remove(snoop.id)

    def far_end_hangup(self, channel_id: str, cause: int = 16) -> None:
        """The phone behind `channel_id` hangs up now (test helper / admin API)."""
        channel = self.channel(channel_id)
        leg = channel.leg if isinstance(channel.leg, FarEnd) else None
        if leg is None:
            raise AriError(409, "Channel has no simulated far end")
        self._far_hangup(leg, cause, None)

    def press_digit(self, channel_id: str, digit: str) -> None:
        """The far end presses `digit`: ChannelDtmfReceived on the Stasis-side channel."""
        channel = self.channel(channel_id)
        if channel.kind is ChannelKind.LOCAL_2 and channel.peer is not None:
            channel = channel.peer
        if len(digit) != 1 or digit not in "0123456789ABCD*#":
            raise AriError(400, f"Invalid DTMF digit {digit!r}")
        duration = 180 if channel.kind is ChannelKind.PJSIP else 100
        self._chan_event(channel, "ChannelDtmfReceived", digit=digit, duration_ms=duration)

    # ------------------------------------------------------------------ channel ops
    def answer(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        if channel.state != "Up":
            channel.answered_at = time.monotonic()
            channel.had_media = True
            self._set_state(channel, "Up")

    def set_variable(self, channel_id: str, variable: str | None, value: str) -> None:
        channel = self.channel(channel_id)
        if not variable:
            raise AriError(400, "Variable name is required")
        self._varset(channel, variable, value)

    def get_variable(self, channel_id: str, variable: str | None) -> dict[str, str]:
        channel = self.channel(channel_id)
        if not variable:
            raise AriError(400, "Variable name is required")
        if variable not in channel.variables:
            raise AriError(404, "Provided variable was not found")
        return {"value": channel.variables[variable]}

    def moh(self, channel_id: str, on: bool) -> None:
        self.stasis_channel(channel_id).moh = on

    def ring(self, channel_id: str, on: bool) -> None:
        self.stasis_channel(channel_id).ringing = on

    def send_dtmf(self, channel_id: str, dtmf: str | None) -> None:
        self.stasis_channel(channel_id)
        if not dtmf:
            raise AriError(400, "DTMF is required")

    def snoop(self, channel_id: str, app: str | None, spy: str = "none",
              whisper: str = "none", app_args: str = "", snoop_id: str | None = None
              ) -> dict[str, Any]:
        spied = self.channel(channel_id, "Provided channel was not found")
        if not app:
            raise AriError(400, "Application name is required")
        for name, value in (("spy", spy), ("whisper", whisper)):
            if value not in ("none", "both", "out", "in"):
                raise AriError(400, f"Invalid direction specified for {name}")
        if spy == "none" and whisper == "none":
            raise AriError(400, "Direction must be specified for at least spy or whisper")
        snoop_id = snoop_id or self.counters.next_uniqueid()
        self._check_ids(snoop_id)
        snoop = Channel(snoop_id, f"Snoop/{spied.id}-{self.counters.next_snoop()}",
                        ChannelKind.SNOOP, app, Dialplan("default", "s", 1), state="Up",
                        stasis_args=app_args.split(",") if app_args else [],
                        spied_id=spied.id)
        self._register(snoop)
        spied.snoops.append(snoop.id)
        if spied.bridge_id is not None and spied.bridge_id in self.bridges:
            # S11: attaching a snoop re-announces the spied bridge, thrice with whisper
            for _ in range(1 if whisper == "none" else 3):
                self._bridgepeer_round(self.bridges[spied.bridge_id])
        snapshot = snoop.json()
        self._enter_stasis(snoop, status_var=False)
        return snapshot

    def list_channels(self) -> list[dict[str, Any]]:
        return [channel.json() for channel in self.channels.values()]

    # ------------------------------------------------------------------ playbacks
    def play(self, channel_id: str, media: list[str], lang: str | None,
             playback_id: str | None) -> dict[str, Any]:
        channel = self.stasis_channel(channel_id)
        if not media:
            raise AriError(400, "Media must be specified")
        playback = Playback(playback_id or str(uuid.uuid4()), media, f"channel:{channel.id}",
                            lang or channel.language, channel.app, channel.id)
        self.playbacks[playback.id] = playback
        queue = self.channel_playbacks.setdefault(channel.id, deque())
        queue.append(playback)
        snapshot = playback.json()
        if len(queue) == 1:
            self.loop.call_soon(self._start_playback, playback)
        return snapshot

    def _start_playback(self, playback: Playback) -> None:
        if playback.channel_id not in self.channels:
            return
        playback.task = self.loop.create_task(self._run_playback(playback))

    async def _run_playback(self, playback: Playback) -> None:
        try:
            for index in range(len(playback.media)):
                playback.index = index
                playback.state = "playing"
                self._emit(playback.app, "PlaybackStarted", playback=playback.json())
                scheme, _, name = playback.media_uri.partition(":")
                if scheme not in ("sound", "recording", "tone", "digits", "number",
                                  "characters"):
                    self._drop_playback(playback)  # S12: started, then nothing
                    return
                seconds = self._media_seconds(scheme, name)
                if seconds < 0:
                    playback.state = "failed"
                    self._finish_playback(playback)
                    return
                await asyncio.sleep(self.config.scaled(seconds))
                if index + 1 < len(playback.media):
                    playback.state = "continuing"
                    self._emit(playback.app, "PlaybackContinuing", playback=playback.json())
            playback.state = "done"
            self._finish_playback(playback)
        except asyncio.CancelledError:
            pass

    def _media_seconds(self, scheme: str, name: str) -> float:
        if scheme == "sound":
            return self.sound_seconds(name)
        if scheme == "recording":
            return 1.0 if self.store.exists(name) else -1.0
        if scheme in ("digits", "number", "characters"):
            return 0.5 * max(len(name), 1)
        return 1.0

    def _finish_playback(self, playback: Playback) -> None:
        self._emit(playback.app, "PlaybackFinished", playback=playback.json())
        self._drop_playback(playback)

    def _drop_playback(self, playback: Playback) -> None:
        if self.playbacks.get(playback.id) is playback:
            del self.playbacks[playback.id]
        queue = self.channel_playbacks.get(playback.channel_id)
        if queue and playback in queue:
            head = queue[0] is playback
            queue.remove(playback)
            if head and queue:
                self._start_playback(queue[0])

    def _stop_channel_playbacks(self, channel: Channel) -> None:
        queue = self.channel_playbacks.get(channel.id)
        if not queue:
            return
        current = queue[0]
        for playback in list(queue)[1:]:
            self._drop_playback(playback)
        if current.task is not None and current.state in ("playing", "continuing"):
            current.task.cancel()
            current.state = "done"
            self._finish_playback(current)
        else:
            self._drop_playback(current)

    def get_playback(self, playback_id: str) -> dict[str, Any]:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        return playback.json()

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        if playback.task is not None:
            playback.task.cancel()
            playback.state = "done"
            self._finish_playback(playback)  # S09: DELETE -> PlaybackFinished done
        else:
            self._drop_playback(playback)

    # ------------------------------------------------------------------ bridges
    def create_bridge(self, bridge_type: str = "mixing", bridge_id: str | None = None,
                      name: str = "") -> dict[str, Any]:
        kinds = [part.strip() for part in (bridge_type or "mixing").split(",") if part.strip()]
        allowed = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu",
                   "video_single", "sdp_label"}
        for kind in kinds:
            if kind not in allowed:
                raise AriError(400, f"Invalid bridge type '{kind}'")
        bridge_id = bridge_id or str(uuid.uuid4())
        if bridge_id in self.bridges:
            raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
        main = "holding" if "holding" in kinds else "mixing"
        bridge = Bridge(bridge_id, main, name or "")
        self.bridges[bridge_id] = bridge
        return bridge.json()

    def get_bridge(self, bridge_id: str) -> dict[str, Any]:
        return self.bridge(bridge_id).json()

    def list_bridges(self) -> list[dict[str, Any]]:
        return [bridge.json() for bridge in self.bridges.values()]

    def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        if not channel_ids:
            raise AriError(400, "Missing parameter channel")
        members = []
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.hanging_up:
                raise AriError(400, "Channel not found")
            if not channel.in_stasis:
                raise AriError(422, "Channel not in Stasis application")
            members.append(channel)
        for channel in members:  # S12: already bridged (even here) -> it moves
            if channel.bridge_id is not None:
                self._leave_bridge(channel, unsubscribe=True)
            bridge.members.append(channel.id)
            channel.bridge_id = bridge.id
            if channel.app:
                bridge.apps[channel.app] = bridge.apps.get(channel.app, 0) + 1
                self.registry.add_bridge(channel.app, bridge.id)
            self._chan_event(channel, "ChannelEnteredBridge", bridge=bridge.json())
        self._settle_bridge(bridge, members, always_pvt=not bridge.recorder_name)
        recording = self.live_recordings.get(bridge.recording or "")
        if recording is not None and not recording.announced:
            self._announce_recording(bridge, recording)

    def _rounds(self, bridge: Bridge, joining: list[Channel] | None = None) -> int:
        """How many times Asterisk announces BRIDGEPEER after a change: once more per
        answered PJSIP leg joining (P01, P05: 3; P10 listen: 2; whisper snoop: 1), once
        while a leg is in early media (P08 B), three times when Local legs make a softmix
        bridge (S11 barge)."""
        members = [self.channels[m] for m in bridge.members if m in self.channels]
        if any(m.kind is ChannelKind.PJSIP for m in members):
            if not all(m.state == "Up" and m.kind is ChannelKind.PJSIP for m in members):
                return 1  # early media (P08 B) or a snoop in the bridge (P10 listen)
            return 1 + sum(1 for m in joining or [] if m.kind is ChannelKind.PJSIP)
        return 3 if len(members) >= 3 else 1

    def _settle_bridge(self, bridge: Bridge, joining: list[Channel], always_pvt: bool) -> None:
        """BRIDGEPEER rounds, then connected-line updates, in the traces' order."""
        joiner = joining[-1].id if joining else None
        rounds = self._rounds(bridge, joining)
        bridge.native_rtp = (rounds == 3 and len(bridge.members) == 2
                             and not bridge.recorder_name)
        for _ in range(rounds - 1):
            self._bridgepeer_round(bridge, always_pvt)
        if rounds == 1:
            self._bridgepeer_round(bridge, always_pvt)
            self._update_connected(bridge, joiner, only_joiner=None)
        else:
            self._update_connected(bridge, joiner, only_joiner=True)
            self._bridgepeer_round(bridge, always_pvt)
            self._update_connected(bridge, joiner, only_joiner=False)

    def _bridgepeer_round(self, bridge: Bridge, always_pvt: bool = False) -> None:
        members = [self.channels[m] for m in bridge.members if m in self.channels]
        recorder = [bridge.recorder_name] if bridge.recorder_name else []
        for channel in members:
            others = [m for m in members if m is not channel]
            value = ",".join(recorder + [m.name for m in others])
            if not value:
                continue  # alone: BRIDGEPEER clears only when the channel itself leaves
            self._varset(channel, "BRIDGEPEER", value)
            if any(m.kind is ChannelKind.PJSIP for m in others):  # P01, P10: a SIP peer
                call_id = others[0].protocol_id if len(others) == 1 and not recorder else ""
                previous = channel.variables.get("BRIDGEPVTCALLID")
                if not call_id and not previous:
                    continue  # never had a SIP peer's call id: nothing to clear (P10)
                if always_pvt or previous != call_id:
                    self._varset(channel, "BRIDGEPVTCALLID", call_id)

    def _update_connected(self, bridge: Bridge, joiner: str | None,
                          only_joiner: bool | None) -> None:
        """With exactly two parties (the recorder counts), each real member's connected
        line becomes the other party's caller id: ChannelConnectedLine when it changes."""
        members = [self.channels[m] for m in bridge.members if m in self.channels]
        recorder = 1 if bridge.recorder_name else 0
        if len(members) + recorder != 2:
            return
        ordered = sorted(members, key=lambda m: m.id != joiner)  # the joiner first (S01)
        for channel in ordered:
            if only_joiner is not None and only_joiner != (channel.id == joiner):
                continue
            others = [m for m in members if m is not channel]
            new = (others[0].caller.name, others[0].caller.number) if others else ("", "")
            if (channel.connected.name, channel.connected.number) == new:
                continue
            channel.connected = CallerId(*new)
            self._chan_event(channel, "ChannelConnectedLine")
            self._local_callerid(channel, immediate=channel.id == joiner)

    def _local_callerid(self, one: Channel, immediate: bool) -> None:
        """A Local ;1's connected line reaches its ;2 as ChannelCallerId: at once for the
        channel that just joined, else when ;2 next runs a dialplan step or dies (S01/S08)."""
        two = one.peer if one.kind is ChannelKind.LOCAL_1 else None
        if two is None or not two.app or two.id not in self.channels:
            return
        two.caller = CallerId(one.connected.name, one.connected.number)
        settling = isinstance(two.leg, FarEnd) and two.leg.settling
        if immediate and not settling:
            self._emit_callerid(two)
        else:
            two.pending_callerid = True

    def _emit_callerid(self, channel: Channel) -> None:
        channel.pending_callerid = False
        if channel.caller.number:
            self._chan_event(channel, "ChannelCallerId", caller_presentation=0,
                             caller_presentation_txt="Presentation Allowed, Not Screened")
        else:
            self._chan_event(channel, "ChannelCallerId", caller_presentation=67,
                             caller_presentation_txt="Number Unavailable")

    def _leave_bridge(self, channel: Channel, unsubscribe: bool = False) -> None:
        """`unsubscribe`: the app asked (removeChannel, or addChannel elsewhere), so its
        subscription to the bridge drops by one; a hang-up keeps it (S12 vs S11, P08)."""
        bridge = self.bridges.get(channel.bridge_id or "")
        channel.bridge_id = None
        if bridge is None or channel.id not in bridge.members:
            return
        bridge.members.remove(channel.id)
        if unsubscribe and channel.app in bridge.apps:
            bridge.apps[channel.app] -= 1
            if bridge.apps[channel.app] <= 0:
                del bridge.apps[channel.app]
                self.registry.remove_bridge(channel.app, bridge.id)
        bridge.native_rtp = False
        if channel.variables.get("BRIDGEPEER"):
            self._varset(channel, "BRIDGEPEER", "")
        if channel.variables.get("BRIDGEPVTCALLID"):
            self._varset(channel, "BRIDGEPVTCALLID", "")
        self._chan_event(channel, "ChannelLeftBridge", bridge=bridge.json())
        self._bridgepeer_round(bridge)
        self._update_connected(bridge, None, None)
        if bridge.recording and not bridge.members:  # last real channel gone
            self.loop.call_soon(self._finish_if_empty, bridge, bridge.recording)

    def _finish_if_empty(self, bridge: Bridge, name: str) -> None:
        if bridge.recording == name and not bridge.members:
            self._finish_recording(name)

    def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        if not channel_ids:
            raise AriError(400, "Missing parameter channel")
        members = []
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise AriError(400, "Channel not found")
            if channel.id not in bridge.members:
                raise AriError(422, "Channel not in this bridge")
            members.append(channel)
        for channel in members:
            self._leave_bridge(channel, unsubscribe=True)

    def destroy_bridge(self, bridge_id: str) -> None:
        bridge = self.bridge(bridge_id)
        if bridge.recording:
            self._finish_recording(bridge.recording)
        for channel_id in list(bridge.members):
            channel = self.channels.get(channel_id)
            if channel is not None:
                self._leave_bridge(channel)
        del self.bridges[bridge_id]
        for app in bridge.apps:
            self._emit(app, "BridgeDestroyed", bridge=bridge.json())
            self.registry.remove_bridge(app, bridge.id)

    # ------------------------------------------------------------------ recordings
    def record_bridge(self, bridge_id: str, name: str | None, fmt: str | None,
                      if_exists: str = "fail", max_duration_s: float = 0) -> dict[str, Any]:
        bridge = self.bridge(bridge_id)
        if not name or not fmt:
            raise AriError(500, "Error parsing request")  # S12, key "message"
        if fmt not in KNOWN_FORMATS:
            raise AriError(422, "specified format is unknown on this system")
        if if_exists not in ("fail", "overwrite", "append"):
            raise AriError(400, "ifExists must be fail, overwrite or append")
        from asterisk.sim.recordings import is_safe_name

        if not is_safe_name(name):
            raise AriError(400, "Invalid recording name")
        if name in self.live_recordings:
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        if if_exists == "fail" and self.store.exists(name):
            if bridge.members:  # S12: a recorder joins and leaves before the 409
                saved = bridge.recorder_name
                bridge.recorder_name = f"Recorder/ARI-{self.counters.next_unique()};2"
                self._bridgepeer_round(bridge)
                bridge.recorder_name = saved
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        if bridge.recording:
            raise AriError(409, "Bridge is already being recorded")
        recording = LiveRecording(name, fmt, f"bridge:{bridge.id}", bridge.id,
                                  time.monotonic(), max_duration_s=max_duration_s)
        recording.append = if_exists == "append"
        self.live_recordings[name] = recording
        bridge.recording = name
        snapshot = recording.json()
        recording.state = "recording"
        if max_duration_s > 0:
            recording.timer = self.loop.call_later(
                self.config.scaled(max_duration_s), self._finish_recording, name)
        if bridge.members:
            self.loop.call_soon(self._announce_recording, bridge, recording)
        return snapshot

    def _announce_recording(self, bridge: Bridge, recording: LiveRecording) -> None:
        if recording.announced or self.live_recordings.get(recording.name) is not recording:
            return
        recording.announced = True
        bridge.native_rtp = False
        bridge.recorder_name = f"Recorder/ARI-{self.counters.next_unique()};2"
        for _ in range(self._rounds(bridge, [m for m in map(self.channels.get, bridge.members)
                                             if m is not None])):
            self._bridgepeer_round(bridge)
        self._update_connected(bridge, None, None)
        for app in bridge.apps:
            self._emit(app, "RecordingStarted", recording=recording.json())

    def _finish_recording(self, name: str, cancel: bool = False) -> None:
        recording = self.live_recordings.pop(name, None)
        if recording is None:
            return
        if recording.timer is not None:
            recording.timer.cancel()
        seconds = (time.monotonic() - recording.started_at) * self.config.time_scale
        bridge = self.bridges.get(recording.bridge_id)
        if bridge is not None and bridge.recording == name:
            bridge.recording = None
            bridge.recorder_name = ""
        if cancel:
            return
        self.store.write(name, recording.format, seconds,
                         append=recording.append)
        if recording.announced and bridge is not None:
            recording.state = "done"
            body = recording.json(duration=int(seconds))
            for app in bridge.apps:
                self._emit(app, "RecordingFinished", recording=body)

    def live_recording(self, name: str) -> LiveRecording:
        recording = self.live_recordings.get(name)
        if recording is None:
            raise AriError(404, "Recording not found")
        return recording

    def stop_recording(self, name: str) -> None:
        self.live_recording(name)
        self._finish_recording(name)

    def cancel_recording(self, name: str) -> None:
        self.live_recording(name)
        self._finish_recording(name, cancel=True)

    def stored_recording(self, name: str) -> dict[str, str]:
        path = self.store.find(name)
        if path is None:
            raise AriError(404, "Recording not found")
        return {"name": name, "format": path.suffix.lstrip(".")}

    def delete_stored(self, name: str) -> None:
        if not self.store.delete(name):
            raise AriError(404, "Recording not found")

    # ------------------------------------------------------------------ misc resources
    def endpoint(self, tech: str, resource: str) -> dict[str, Any]:
        if tech.upper() != "PJSIP" or resource not in self.config.pjsip_endpoints:
            raise AriError(404, "Endpoint not found")
        prefix = f"PJSIP/{resource}-"
        ids = [c.id for c in self.channels.values() if c.name.startswith(prefix)]
        return {"technology": "PJSIP", "resource": resource, "state": "online",
                "channel_ids": ids}

    def list_endpoints(self) -> list[dict[str, Any]]:
        return [self.endpoint("PJSIP", name) for name in self.config.pjsip_endpoints]

    def asterisk_info(self) -> dict[str, Any]:
        return {
            "build": {"os": "Linux", "kernel": "simulated", "machine": "x86_64",
                      "options": "", "date": "", "user": "evscallpro"},
            "system": {"version": self.config.asterisk_version,
                       "entity_id": self.config.asterisk_id},
            "config": {"name": "evscallpro-sim", "default_language": "en",
                       "setid": {"user": "asterisk", "group": "asterisk"}},
            "status": {"startup_time": self.startup_time,
                       "last_reload_time": self.startup_time},
        }

    def application(self, name: str) -> dict[str, Any]:
        entry = self.registry.apps.get(name)
        if entry is None:
            raise AriError(404, "Application not found")
        return entry.json()

    def list_applications(self) -> list[dict[str, Any]]:
        return [entry.json() for entry in self.registry.apps.values()]

    # ------------------------------------------------------------------ faults
    def restart(self) -> None:
        """Everything live vanishes without a single event, as after an Asterisk restart."""
        for channel in list(self.channels.values()):
            if isinstance(channel.leg, FarEnd):
                channel.leg.stop()
        for playback in list(self.playbacks.values()):
            if playback.task is not None:
                playback.task.cancel()
        for recording in self.live_recordings.values():
            if recording.timer is not None:
                recording.timer.cancel()
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.channel_playbacks.clear()
        self.live_recordings.clear()
        for sink in self.registry.drop_all():
            sink.close_soon()
        self.registry.reset()
        self.startup_time = ari_timestamp()

    def state(self) -> dict[str, Any]:
        return {
            "channels": self.list_channels(),
            "bridges": self.list_bridges(),
            "playbacks": [p.json() for p in self.playbacks.values()],
            "live_recordings": [r.json() for r in self.live_recordings.values()],
            "applications": self.list_applications(),
            "originates": self.originates,
            "events_sent": self.registry.events_sent,
        }

    async def aclose(self) -> None:
        tasks = [c.leg.task for c in self.channels.values()
                 if isinstance(c.leg, FarEnd) and c.leg.task is not None]
        tasks += [p.task for p in self.playbacks.values() if p.task is not None]
        self.restart()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
