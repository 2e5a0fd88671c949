"""Stasis application registry: which events socket hears which application.

Semantics recorded from Asterisk 22 (trace S13):
- a socket registers its apps; a second socket for the same app takes it over and the
  first receives one ApplicationReplaced, then nothing for that app;
- when the owning socket closes, an app that still has channels stays registered (events
  are lost, never replayed); an app without channels is removed;
- an app without socket is removed as soon as its last channel goes.
Events are routed by app name in O(1); `subscribeAll` sockets also get every event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

_encoder = msgspec.json.Encoder()


class EventSink(Protocol):
    """One events WebSocket, seen from the engine: push never blocks."""

    subscribe_all: bool

    def push(self, data: bytes) -> None: ...

    def close_soon(self) -> None: ...


@dataclass(slots=True, eq=False)
class AppEntry:
    name: str
    sink: EventSink | None = None
    channel_ids: dict[str, None] = field(default_factory=dict)  # ordered set
    bridge_ids: dict[str, None] = field(default_factory=dict)
    endpoint_ids: dict[str, int] = field(default_factory=dict)  # W: subscriptions are counted

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channel_ids": list(self.channel_ids),
            "bridge_ids": list(self.bridge_ids),
            "endpoint_ids": list(self.endpoint_ids),
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }


class AppRegistry:
    def __init__(self, asterisk_id: str) -> None:
        self.asterisk_id = asterisk_id
        self.apps: dict[str, AppEntry] = {}
        self.sinks: dict[EventSink, list[str]] = {}
        self._all_sinks: set[EventSink] = set()
        self.events_sent = 0

    # --- sockets -------------------------------------------------------------------------
    def attach(self, sink: EventSink, names: list[str], timestamp: str) -> None:
        self.sinks[sink] = list(names)
        if sink.subscribe_all:
            self._all_sinks.add(sink)
        for name in names:
            entry = self.apps.get(name)
            if entry is None:
                self.apps[name] = AppEntry(name, sink)
                continue
            old = entry.sink
            entry.sink = sink
            if old is not None and old is not sink:
                old.push(
                    _encoder.encode(
                        {
                            "type": "ApplicationReplaced",
                            "timestamp": timestamp,
                            "application": name,
                            "asterisk_id": self.asterisk_id,
                        }
                    )
                )

    def detach(self, sink: EventSink) -> None:
        names = self.sinks.pop(sink, [])
        self._all_sinks.discard(sink)
        for name in names:
            entry = self.apps.get(name)
            if entry is None or entry.sink is not sink:
                continue
            entry.sink = None
            if not entry.channel_ids and not entry.endpoint_ids:  # W: outlives its socket
                del self.apps[name]

    def drop_all(self) -> list[EventSink]:
        sinks = list(self.sinks)
        for sink in sinks:
            self.detach(sink)
        return sinks

    def reset(self) -> None:
        self.apps.clear()
        self.sinks.clear()
        self._all_sinks.clear()

    # --- ownership -----------------------------------------------------------------------
    def is_registered(self, name: str) -> bool:
        return name in self.apps

    def add_channel(self, app: str, channel_id: str) -> None:
        entry = self.apps.get(app)
        if entry is not None:
            entry.channel_ids[channel_id] = None

    def remove_channel(self, app: str, channel_id: str) -> None:
        entry = self.apps.get(app)
        if entry is None:
            return
        entry.channel_ids.pop(channel_id, None)
        if entry.sink is None and not entry.channel_ids and not entry.endpoint_ids:
            del self.apps[app]

    def add_bridge(self, app: str, bridge_id: str) -> None:
        entry = self.apps.get(app)
        if entry is not None:
            entry.bridge_ids[bridge_id] = None

    def remove_bridge(self, app: str, bridge_id: str) -> None:
        entry = self.apps.get(app)
        if entry is not None:
            entry.bridge_ids.pop(bridge_id, None)

    # --- delivery ------------------------------------------------------------------------
    def deliver(self, app: str, event: dict[str, Any]) -> None:
        """`event` lacks asterisk_id/application; they are added here."""
        if not app:
            return
        entry = self.apps.get(app)
        target = entry.sink if entry is not None else None
        if target is None and not self._all_sinks:
            return
        event["asterisk_id"] = self.asterisk_id
        event["application"] = app
        if target is not None:
            target.push(_encoder.encode(event))
            self.events_sent += 1
        for sink in self._all_sinks:  # subscribeAll: every event, named for that socket's app
            if sink is not target:
                event["application"] = self.sinks[sink][0]
                sink.push(_encoder.encode(event))
                self.events_sent += 1
