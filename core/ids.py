"""The one definition of how a call names what it creates in Asterisk.

A restarted core rebuilds a call from Asterisk's channel ids alone, so these names ARE the
call's identity (core.recovery_scan reads them back):

  agent leg `<call_id>-agent` (the n-th mid-call switch's new agent leg
  `<call_id>-agent-s<n>`), customer leg `<call_id>-customer`, a Local channel's ;2 half
  `<leg id>-2`, the call bridge `<call_id>-bridge`, the recording `<call_id>`, playbacks
  `<call_id>-pb-<what>`; app args `agent,<call_id>` / `customer,<call_id>`.
"""

from __future__ import annotations

AGENT_SUFFIX = "-agent"
CUSTOMER_SUFFIX = "-customer"
LOCAL_HALF_SUFFIX = "-2"
BRIDGE_SUFFIX = "-bridge"
PLAYBACK_INFIX = "-pb-"
SWITCH_INFIX = "-agent-s"  # + the switch's number: the new agent leg of a mid-call switch
ROLE_SUFFIXES = {AGENT_SUFFIX: "agent", CUSTOMER_SUFFIX: "customer"}


def agent_channel_id(call_id: str) -> str:
    return call_id + AGENT_SUFFIX


def switch_leg_id(call_id: str, n: int) -> str:
    """The new agent leg of the call's n-th mid-call switch (core/call_switch.py)."""
    return f"{call_id}{SWITCH_INFIX}{n}"


def customer_channel_id(call_id: str) -> str:
    return call_id + CUSTOMER_SUFFIX


def local_half_id(channel_id: str) -> str:
    """The id we give the ;2 half of a Local channel (ARI otherChannelId)."""
    return channel_id + LOCAL_HALF_SUFFIX


def is_local_half(channel_id: str) -> bool:
    return channel_id.endswith(LOCAL_HALF_SUFFIX)


def leg_of_half(channel_id: str) -> str:
    """The ;1 leg id of a ;2 half id."""
    return channel_id[: -len(LOCAL_HALF_SUFFIX)]


def call_bridge_id(call_id: str) -> str:
    return call_id + BRIDGE_SUFFIX


def playback_id(call_id: str, what: str) -> str:
    return f"{call_id}{PLAYBACK_INFIX}{what}"


def app_args(role: str, call_id: str) -> str:
    return f"{role},{call_id}"


def call_id_of(some_id: str) -> str | None:
    """The call id in any id of this scheme (a leg, a ;2 half, the bridge, a playback)."""
    if is_local_half(some_id) and split_leg_id(leg_of_half(some_id)) is not None:
        some_id = leg_of_half(some_id)
    split = split_leg_id(some_id)
    if split is not None:
        return split[0]
    if some_id.endswith(BRIDGE_SUFFIX) and len(some_id) > len(BRIDGE_SUFFIX):
        return some_id[: -len(BRIDGE_SUFFIX)]
    if PLAYBACK_INFIX in some_id:
        return some_id.split(PLAYBACK_INFIX)[0]
    return None


def split_leg_id(channel_id: str) -> tuple[str, str] | None:
    """('<call_id>', role) for a ;1 / PJSIP leg id, None for anything else (;2 halves too)."""
    head, infix, number = channel_id.rpartition(SWITCH_INFIX)
    if infix and head and number.isdigit():
        return head, "agent"
    for suffix, role in ROLE_SUFFIXES.items():
        if channel_id.endswith(suffix) and len(channel_id) > len(suffix):
            return channel_id[: -len(suffix)], role
    return None
