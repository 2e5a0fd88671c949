"""Bridges and their recordings: membership, BRIDGEPEER rounds, connected lines, WAVs.

The repeat counts of BRIDGEPEER and the timing of a Local ;2's ChannelCallerId are
modelled on the recorded runs (S01, S08, S11, S12, P01, P05, P08, P10); the comments
name the trace each rule comes from.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from asterisk.sim.engine_base import AriError, EngineBase
from asterisk.sim.far_end import FarEnd
from asterisk.sim.model import Bridge, CallerId, Channel, ChannelKind, LiveRecording
from asterisk.sim.recordings import KNOWN_FORMATS, is_safe_name


class BridgeOps(EngineBase):
    def create_bridge(self, bridge_type: str = "mixing", bridge_id: str | None = None,
                      name: str = "") -> dict[str, Any]:
        kinds = [part.strip() for part in (bridge_type or "mixing").split(",") if part.strip()]
        allowed = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu",
                   "video_single", "sdp_label"}
        for kind in kinds:
            if kind not in allowed:
                raise AriError(400, f"Invalid bridge type '{kind}'")
        bridge_id = bridge_id or str(uuid.uuid4())
        if bridge_id in self.bridges or bridge_id in self.dissolving:
            # Later facts: a bridge deleted with channels in it keeps its id until its
            # destruction has finished.
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
        if len(bridge.members) + (1 if bridge.recorder_name else 0) >= 2:
            for member_id in bridge.members:  # audio now reaches every member
                self._media_reaches(self.channels[member_id])
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
        bridge.settle_technology()
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
        settling = isinstance(two.leg, FarEnd) and two.leg.settling
        two.pending_callerid = True  # applied when reported (S01: HangupRequests keep it)
        if immediate and not settling:
            self._emit_callerid(two)

    def _leave_bridge(self, channel: Channel, unsubscribe: bool = False) -> None:
        """`unsubscribe`: the app asked (removeChannel, or addChannel elsewhere), so its
        subscription to the bridge drops by one; a hang-up keeps it (S12 vs S11, P08)."""
        key = channel.bridge_id or ""
        bridge = self.bridges.get(key) or self.dissolving.get(key)
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
        bridge.settle_technology()  # S01: the leaver still saw softmix
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
        """An empty bridge goes at once. One with channels answers 204 but is destroyed
        `bridge_dissolve_s` later (Later facts): meanwhile its id answers 404 to addChannel
        and DELETE and 409 to a create, and the channels that were in it at the DELETE are
        thrown out of whatever bridge they are in when it finishes (a supervisor moved into
        the call bridge in that window is left in no bridge)."""
        bridge = self.bridge(bridge_id)
        if bridge.recording:
            self._finish_recording(bridge.recording)
        del self.bridges[bridge_id]
        if bridge.members and self.config.bridge_dissolve_s > 0:
            self.dissolving[bridge_id] = bridge
            members = list(bridge.members)
            self.loop.call_later(self.config.scaled(self.config.bridge_dissolve_s),
                                 self._dissolved, bridge, members)
            return
        self._dissolved(bridge, list(bridge.members))

    def _dissolved(self, bridge: Bridge, members: list[str]) -> None:
        for channel_id in members:
            channel = self.channels.get(channel_id)
            if channel is not None and channel.bridge_id is not None:
                self._leave_bridge(channel)
        if self.dissolving.get(bridge.id) is bridge:
            del self.dissolving[bridge.id]
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
        bridge.settle_technology()
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
        if recording.max_duration_s > 0:  # Asterisk stops exactly at the limit
            seconds = min(seconds, float(recording.max_duration_s))
        bridge = self.bridges.get(recording.bridge_id)
        if bridge is not None and bridge.recording == name:
            bridge.recording = None
            bridge.recorder_name = ""
            bridge.settle_technology()
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
