"""find_leftovers: which supervision channels and bridges, and which empty call bridges,
nobody in this process runs (what the orphan sweep cleans after a restart)."""

from __future__ import annotations

from typing import Any

from actors.supervision_recovery import SupervisionLeftovers, find_leftovers


def chan(cid: str, app_data: str, app_name: str = "Stasis") -> dict[str, Any]:
    return {"id": cid, "state": "Up", "dialplan": {"app_name": app_name, "app_data": app_data}}


def bridge(bid: str, *members: str) -> dict[str, Any]:
    return {"id": bid, "channels": list(members)}


CHANNELS = [
    chan("c1-agent", "evscallpro,agent,c1"),
    chan("c1-sup-s1-leg", "evscallpro,supervisor,c1"),
    chan("c1-sup-s1-leg-2", "", app_name="AppDial2"),  # the ;2 half goes with its ;1
    chan("c1-sup-s1-snoop-2", "evscallpro,snoop,c1"),
    chan("c2-sup-s9-leg", "evscallpro,supervisor,c2"),  # a live supervision
    chan("x-sup-y-leg", "otherapp,supervisor,x"),  # another app's
]
BRIDGES = [
    bridge("c1-bridge", "c1-agent"),  # a live call's (not empty anyway)
    bridge("c1-sup-s1-bridge-3", "c1-sup-s1-leg", "c1-sup-s1-snoop-2"),
    bridge("c2-sup-s9-bridge-1", "c2-sup-s9-leg"),
    bridge("gone-bridge"),  # an ended call's, left empty
    bridge("gone-bridge-2"),  # the same with a fresh-id bridge
    bridge("kept-bridge"),  # empty, but its call is still running
    bridge("unrelated"),
]


def test_orphan_supervision_pieces_and_empty_bridges_of_dead_calls() -> None:
    found = find_leftovers(
        CHANNELS, BRIDGES, "evscallpro", live_supervisions={"c2-sup-s9"}, kept_calls={"c1", "kept"}
    )
    assert found == SupervisionLeftovers(
        channel_ids=("c1-sup-s1-leg", "c1-sup-s1-snoop-2"),
        bridge_ids=("c1-sup-s1-bridge-3", "gone-bridge", "gone-bridge-2"),
    )


def test_everything_live_is_left_alone_and_junk_is_skipped() -> None:
    found = find_leftovers(
        [*CHANNELS, {"no": "id"}],
        [*BRIDGES, {"channels": 3}],
        "evscallpro",
        live_supervisions={"c1-sup-s1", "c2-sup-s9"},
        kept_calls={"c1", "gone", "kept"},
    )
    assert found == SupervisionLeftovers()
