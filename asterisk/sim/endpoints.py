"""PJSIP endpoints seen through ARI: `GET /endpoints`, endpoint subscriptions
(`POST/DELETE /applications/{app}/subscription?eventSource=endpoint:PJSIP/x`) and the
events they carry (trace W01-W05, README "Registration and presence"):

- ContactStatusChange / EndpointStateChange / PeerStatusChange when a WebRTC contact
  registers, is qualified, or goes (un-REGISTER, WebSocket closed, expiry);
- EndpointStateChange whenever the endpoint's `channel_ids` change (each call start/end).
Subscriptions are counted: N POSTs need N DELETEs; one more answers 422.
A configured endpoint that is not WebRTC is always `online` (a trunk, a scripted phone).
"""

from __future__ import annotations

from typing import Any

from asterisk.sim.engine_base import AriError, EngineBase
from asterisk.sim.model import Channel, ChannelKind


class EndpointOps(EngineBase):
    def _pjsip_name(self, endpoint: str) -> str:
        """`PJSIP/webrtc-1001` -> `webrtc-1001`; `PJSIP/+336...@trunk` -> `trunk`."""
        tech, _, resource = endpoint.partition("/")
        if tech.upper() != "PJSIP":
            return ""
        number, at, trunk = resource.partition("@")
        return trunk if at else number

    def _endpoint_state(self, name: str) -> str:
        if self.sip is not None and self.sip.is_webrtc(name):
            return "online" if self.sip.is_registered(name) else "offline"
        return "online"

    def _endpoint_json(self, name: str) -> dict[str, Any]:
        prefix = f"PJSIP/{name}-"
        ids = [c.id for c in self.channels.values() if c.name.startswith(prefix)]
        return {"technology": "PJSIP", "resource": name, "state": self._endpoint_state(name),
                "channel_ids": ids}

    def endpoint(self, tech: str, resource: str) -> dict[str, Any]:
        if tech.upper() != "PJSIP" or resource not in self.config.pjsip_endpoints:
            raise AriError(404, "Endpoint not found")
        return self._endpoint_json(resource)

    def list_endpoints(self) -> list[dict[str, Any]]:
        return [self._endpoint_json(name) for name in self.config.pjsip_endpoints]

    # ------------------------------------------------------------------ subscriptions
    def _event_sources(self, sources: list[str]) -> list[str]:
        if not sources:
            raise AriError(400, "Missing parameter eventSource")
        ids: list[str] = []
        for source in sources:
            scheme, sep, rest = source.partition(":")
            if not sep or scheme not in ("channel", "bridge", "endpoint", "deviceState"):
                raise AriError(400, "Invalid event source URI scheme")
            tech, _, resource = rest.partition("/")
            if scheme != "endpoint" or tech.upper() != "PJSIP" or \
                    resource not in self.config.pjsip_endpoints:
                raise AriError(422, "Event source does not exist")
            ids.append(f"PJSIP/{resource}")
        return ids

    def subscribe(self, app: str, sources: list[str]) -> dict[str, Any]:
        entry = self.registry.apps.get(app)
        if entry is None:
            raise AriError(404, "Application not found")
        for endpoint_id in self._event_sources(sources):
            entry.endpoint_ids[endpoint_id] = entry.endpoint_ids.get(endpoint_id, 0) + 1
        return entry.json()

    def unsubscribe(self, app: str, sources: list[str]) -> dict[str, Any]:
        entry = self.registry.apps.get(app)
        if entry is None:
            raise AriError(404, "Application not found")
        ids = self._event_sources(sources)
        if any(endpoint_id not in entry.endpoint_ids for endpoint_id in ids):
            raise AriError(422, "Event source was not subscribed to")
        for endpoint_id in ids:
            entry.endpoint_ids[endpoint_id] -= 1
            if entry.endpoint_ids[endpoint_id] <= 0:
                del entry.endpoint_ids[endpoint_id]
        return entry.json()

    # ------------------------------------------------------------------ events
    def _endpoint_event(self, name: str, kind: str, state: str | None = None,
                        **fields: Any) -> None:
        endpoint_id = f"PJSIP/{name}"
        apps = [a.name for a in self.registry.apps.values() if endpoint_id in a.endpoint_ids]
        if not apps:
            return
        endpoint = self._endpoint_json(name)
        if state is not None:
            endpoint["state"] = state
        for app in apps:
            self._emit(app, kind, endpoint=dict(endpoint), **fields)

    def _contact_event(self, name: str, uri: str, status: str, roundtrip_usec: int,
                       state: str | None = None) -> None:
        self._endpoint_event(name, "ContactStatusChange", state, contact_info={
            "uri": uri, "contact_status": status, "aor": name,
            "roundtrip_usec": str(roundtrip_usec)})

    def _endpoint_state_event(self, name: str) -> None:
        self._endpoint_event(name, "EndpointStateChange")

    def _peer_event(self, name: str, status: str) -> None:
        self._endpoint_event(name, "PeerStatusChange", peer={"peer_status": status})

    def _channels_changed(self, channel: Channel) -> None:
        if channel.kind is ChannelKind.PJSIP:
            name = channel.name.removeprefix("PJSIP/").rsplit("-", 1)[0]
            self._endpoint_state_event(name)
