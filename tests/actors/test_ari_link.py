"""The link turns each events-socket text frame into a typed event in one msgspec pass, hands
it to its listener stamped `Arrived`, skips what is not an event, and stops on
ApplicationReplaced."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from actors.ari_link import AriLink, LinkNotice
from actors.loop import EventLoopThread
from actors.messages import AriAppReplaced, Arrived
from core.ari_events import HANDLED_TYPES, UnhandledEvent, decode_event

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ari-traces"


class Link:
    """An AriLink that never connects: frames are fed by hand, as `_drain` would."""

    def __init__(self) -> None:
        self.arrived: list[Arrived] = []
        self.notices: list[LinkNotice] = []
        self.link = AriLink(
            EventLoopThread("test-link-unused"),
            "http://127.0.0.1:1/ari",
            "u",
            "p",
            "evscallpro",
            on_event=self.arrived.append,
            on_notice=self.notices.append,
        )


def trace_events() -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for path in sorted(TRACES.glob("S*.json")):
        steps = json.loads(path.read_text())["steps"]
        events += [step["event"] for step in steps if step["kind"] == "event"]
    return [raw for raw in events if raw["type"] != "ApplicationReplaced"]  # stops the link


def test_every_recorded_event_decodes_from_its_text_as_from_its_dict() -> None:
    sink = Link()
    events = trace_events()
    assert len(events) > 100
    for raw in events:
        sink.link.on_frame(msgspec.json.encode(raw).decode())
    assert [a.event for a in sink.arrived] == [decode_event(raw) for raw in events]
    typed = [a.event for a in sink.arrived if not isinstance(a.event, UnhandledEvent)]
    assert {type(e).__name__ for e in typed} <= HANDLED_TYPES
    assert len(typed) > 50  # the traces are mostly events the core acts on
    assert sink.link.events_received == len(events)


def test_a_frame_that_is_not_an_event_is_skipped_and_the_next_one_still_arrives() -> None:
    sink = Link()
    for junk in ("not json", "[1, 2]", '{"no_type": 1}'):
        sink.link.on_frame(junk)
    sink.link.on_frame('{"type": "ChannelTalkingStarted", "channel": {"id": "c1"}}')
    sink.link.on_frame('{"type": "StasisEnd", "channel": {"id": 7}}')  # wrong field type
    assert [a.event for a in sink.arrived] == [
        UnhandledEvent(type="ChannelTalkingStarted"),
        decode_event({"type": "StasisEnd", "channel": {"id": 7}}),
    ]
    last = sink.arrived[-1].event
    assert isinstance(last, UnhandledEvent) and last.type == "StasisEnd" and last.reason
    assert sink.link.events_received == 2


def test_application_replaced_is_announced_not_delivered_and_stops_the_link() -> None:
    sink = Link()
    sink.link.on_frame('{"type": "ApplicationReplaced", "application": "evscallpro"}')
    assert sink.arrived == []
    assert sink.link.replaced
    assert [type(n) for n in sink.notices] == [AriAppReplaced]
