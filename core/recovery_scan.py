"""What Asterisk still knows after a (re)connect, folded into calls to adopt or close.

Pure: the reconciler (actors/recovery.py) fetches GET /channels, GET /bridges and the EVS_*
channel variables, and hands the parsed lists here. Channel ids follow core.ids; the variables
(EVS_CALL_ID, EVS_AGENT_ID, EVS_CUSTOMER_NUMBER, EVS_WORKSTATION, EVS_CONTACT_ID) land on the
;2 half of a Local channel and on the channel itself for PJSIP.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import msgspec

from core.ari_events import Bridge, Channel
from core.ids import is_local_half, leg_of_half, local_half_id, split_leg_id

EVS_VARIABLES = (
    "EVS_CALL_ID",
    "EVS_AGENT_ID",
    "EVS_CUSTOMER_NUMBER",
    "EVS_WORKSTATION",
    "EVS_CONTACT_ID",
)


class LiveLeg(msgspec.Struct, frozen=True, kw_only=True):
    role: str  # "agent" | "customer"
    channel_id: str
    name: str = ""
    state: str = "Down"
    bridge_id: str | None = None
    local2_id: str | None = None
    created_at: float | None = None  # Asterisk's channel `creationtime` (epoch seconds)


def ari_time(text: str) -> float | None:
    """Epoch seconds of an ARI date ("2026-11-26T20:54:51.378+0000"); None when unreadable."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


class LiveCall(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    agent: LiveLeg | None = None
    customer: LiveLeg | None = None
    bridge_id: str | None = None
    variables: dict[str, str] = {}

    @property
    def bridged(self) -> bool:
        """Both legs Up in the same bridge: a connected call worth adopting."""
        return (
            self.agent is not None
            and self.customer is not None
            and self.agent.state == "Up"
            and self.customer.state == "Up"
            and self.agent.bridge_id is not None
            and self.agent.bridge_id == self.customer.bridge_id
        )


def is_ours(channel: Channel, app: str, journaled: Collection[str]) -> bool:
    """A leg of one of our calls: its call id is journaled live, or it runs in our Stasis
    app (dialplan app_data `<app>,<role>,<call_id>`)."""
    split = split_leg_id(channel.id)
    if split is None:
        return False
    if split[0] in journaled:
        return True
    data = channel.dialplan.app_data
    return channel.dialplan.app_name == "Stasis" and data.startswith(app + ",")


def ours_with_halves(
    channels: list[Channel], app: str, journaled: Collection[str]
) -> list[Channel]:
    """Our legs, then the Local ;2 halves of those legs."""
    ours = [c for c in channels if is_ours(c, app, journaled)]
    ours_ids = {c.id for c in ours}
    halves = [c for c in channels if is_local_half(c.id) and leg_of_half(c.id) in ours_ids]
    return ours + halves


def live_calls(
    channels: list[Channel],
    bridges: list[Bridge],
    variables: dict[str, dict[str, str]] | None = None,
) -> list[LiveCall]:
    """Group our legs by call id; `variables` maps a leg channel id to its EVS_* values."""
    variables = variables or {}
    ids = {c.id for c in channels}
    bridge_of: dict[str, str] = {}
    for bridge in bridges:
        for member in bridge.channels:
            bridge_of[member] = bridge.id
    calls: dict[str, dict[str, LiveLeg]] = {}
    for channel in channels:
        split = split_leg_id(channel.id)
        if split is None:
            continue
        call_id, role = split
        half = local_half_id(channel.id)
        kept = calls.get(call_id, {}).get(role)
        if kept is not None and kept.bridge_id is not None and channel.id not in bridge_of:
            continue  # two agent legs (a mid-call switch): the one in the bridge is the call's
        calls.setdefault(call_id, {})[role] = LiveLeg(
            role=role,
            channel_id=channel.id,
            name=channel.name,
            state=channel.state,
            bridge_id=bridge_of.get(channel.id),
            local2_id=half if half in ids else None,
            created_at=ari_time(channel.creationtime),
        )
    result = []
    for call_id, legs in sorted(calls.items()):
        merged: dict[str, str] = {}
        for leg in legs.values():
            merged.update({k: v for k, v in variables.get(leg.channel_id, {}).items() if v})
        agent, customer = legs.get("agent"), legs.get("customer")
        bridge_id = (agent.bridge_id if agent else None) or (
            customer.bridge_id if customer else None
        )
        result.append(
            LiveCall(
                call_id=merged.get("EVS_CALL_ID", call_id),
                agent=agent,
                customer=customer,
                bridge_id=bridge_id,
                variables=merged,
            )
        )
    return result
