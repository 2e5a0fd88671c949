"""The simulated Asterisk: state changes and the ARI events they emit, in Asterisk's order.

Everything runs on one asyncio loop: REST handlers call the public methods, far ends run
as small tasks (`FarEnd`), timers use `loop.call_later`. Every public method either
succeeds or raises `AriError` (status + body) before changing anything. Event order per
channel follows tests/fixtures/ari-traces (see its README): the comments name the trace.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any

from asterisk.sim.bridging import BridgeOps
from asterisk.sim.endpoints import EndpointOps
from asterisk.sim.engine_base import AriError, EngineBase, parse_caller_id
from asterisk.sim.far_end import FarEnd
from asterisk.sim.model import (
    CAUSE_TO_SIP,
    CallerId,
    Channel,
    ChannelKind,
    Dialplan,
    ari_timestamp,
)
from asterisk.sim.phones import Step
from asterisk.sim.playbacks import PlaybackOps

__all__ = ["AriError", "Engine", "EngineBase", "FarEnd"]


SOFTHANGUP_SHUTDOWN = 4  # AST_SOFTHANGUP_SHUTDOWN: ChannelHangupRequest cause at shutdown

log = logging.getLogger(__name__)

_ORIGINATED = ("AppDial2", "(Outgoing Line)")  # an originated leg's dialplan location
_QOS_VARS = (
    ("RTPAUDIOQOS", "ssrc=1;themssrc=2;lp=0;rxjitter=0.000125;rxcount=100;txjitter=0.000125;"
     "txcount=100;rlp=0;rtt=0.000400;rxmes=88.08;txmes=88.08"),
    ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000125;"),
    ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000;"),
    ("RTPAUDIOQOSRTT", "     minrtt=000.000400;     maxrtt=000.000400;"),
    ("RTPAUDIOQOSMES", "   minrxmes=088.080000;   maxrxmes=088.080000;"),
)


class Engine(EndpointOps, BridgeOps, PlaybackOps):
    """The whole simulated Asterisk: channels and far ends here, bridges and playbacks in
    the mixins, state and event helpers in `EngineBase`."""

    def _dial_event(self, leg: FarEnd, status: str, first: bool = False) -> None:
        channel = leg.channel
        if channel.app:
            self._emit(channel.app, "Dial", dialstatus=status, forward="",
                       dialstring=leg.dial_string_for_event(first), peer=channel.json())

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
            if self.sip is not None and self.sip.is_webrtc(name) and not self.sip.is_registered(name):
                raise AriError(500, "Allocation failed", key="error")  # W03: no contact
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
                          Dialplan(where, resource, 1, *_ORIGINATED),
                          home_app=_ORIGINATED)
            two_id = other_id or self.counters.next_uniqueid()
            two = Channel(two_id, base + ";2", ChannelKind.LOCAL_2, app,
                          Dialplan(where, resource, 1), state="Ring",
                          creationtime=one.creationtime)
            one.peer, two.peer = two, one
            return one, two, f"{resource}@{where}"
        context = self.config.pjsip_endpoints[where].context
        dialstring = endpoint.partition("/")[2]
        channel = Channel(channel_id, f"PJSIP/{where}-{self.counters.next_pjsip()}",
                          ChannelKind.PJSIP, app,
                          Dialplan(context, "s", 1, *_ORIGINATED), home_app=_ORIGINATED,
                          protocol_id=str(uuid.uuid4()))
        return channel, None, dialstring

    def _register(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        if channel.app:
            self.registry.add_channel(channel.app, channel.id)
        self._channels_changed(channel)

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
        leg = self._new_leg(one, two, endpoint, dialstring, via_dial=False)
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
        if two is not None and leg.has_far_end:
            self._chan_event(two, "ChannelCallerId", caller_presentation=0,
                             caller_presentation_txt="Presentation Allowed, Not Screened")
            self._chan_event(two, "ChannelConnectedLine")
        if leg.has_far_end:
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
        one.home_app = ("", "")  # S10/P05: a created channel ends at no application
        one.stasis_args = app_args.split(",") if app_args else []
        one.variables.update({k: str(v) for k, v in (variables or {}).items()})
        self._register(one)
        if two is not None:  # S10: with /create no event of the ;2 half reaches the app
            two.app = ""
            self._register(two)
        one.leg = self._new_leg(one, two, endpoint, dialstring, via_dial=True)
        snapshot = one.json()
        self.loop.call_soon(self._enter_created, one)
        return snapshot

    def _new_leg(self, one: Channel, two: Channel | None, endpoint: str, dialstring: str,
                 via_dial: bool) -> FarEnd:
        name = self._pjsip_name(endpoint)
        if name and self.sip is not None and self.sip.is_webrtc(name):
            leg: FarEnd = self.sip.new_leg(one, dialstring, via_dial, endpoint, name)
            return leg
        script = [] if via_dial else self.phones.script_for(endpoint)
        return FarEnd(self, one, two, script, dialstring, via_dial, endpoint)

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
        if not leg.signalled:
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
        if leg.has_far_end:
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
        pending = two.pending_callerid
        if pending:  # the update is applied before the step is announced (S01 cust-2)
            self._apply_peer_connected(two)
        self._chan_event(two, "ChannelDialplan", dialplan_app=step.app,
                         dialplan_app_data=step.data)
        if pending:
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

    def _far_hangup(self, leg: FarEnd, cause: int | None, tech_cause: int | None) -> None:
        """The far end hangs up: Hangup(cause) in its script, or a test's far_end_hangup;
        cause None: a SIP BYE without Reason (W02 A: HangupRequest without cause, then 0)."""
        if leg.done:
            return
        if cause is None:
            if not (leg.is_pjsip and leg.answered):
                cause = 16
            else:
                leg.stop()
                self._qos(leg.channel)
                self._hangup_request(leg.channel, None)
                self._end_stasis_and_destroy(leg.channel, 0, None)
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
        channel = self.stasis_channel(channel_id)
        channel.moh = on
        if on:
            self._media_reaches(channel)

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

    # ------------------------------------------------------------------ misc resources
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
    def shutdown_hangups(self) -> None:
        """What `core restart now` does to live channels before Asterisk goes away
        (main/asterisk.c: ast_softhangup_all()): each gets a soft hang-up request whose cause
        is the flag AST_SOFTHANGUP_SHUTDOWN (4), then is hung up: StasisEnd, ChannelDestroyed
        16 "Normal Clearing" (what the real Asterisk 22 reported, ari-traces README)."""
        live = [c for c in self.channels.values() if not c.hanging_up]
        for channel in live:
            channel.hanging_up = True
            if isinstance(channel.leg, FarEnd):
                channel.leg.stop()
            self._hangup_request(channel, SOFTHANGUP_SHUTDOWN, soft=True)
        for channel in live:
            if self.channels.get(channel.id) is channel:
                self._leave_stasis(channel)
                self._destroyed(channel, 16)

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
        self.dissolving.clear()
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
            "dissolving_bridges": sorted(self.dissolving),
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
