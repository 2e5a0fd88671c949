"""What recovery does with supervisions and bridges nobody runs: it cleans them.

After a core SIGKILL while a supervisor listens, Asterisk still has the supervisor's leg,
its snoop and the private bridge, and nothing in the new process owns them. A supervision is
not adopted: its supervisor hears a private mix that only a live SupervisionActor can switch,
and starting again from the UI takes a second. So once a reconciliation has succeeded (the
call itself is adopted by actors/recovery.py), the orphan sweep hangs up every supervisor
leg and snoop of our app whose supervision no actor runs, and deletes their private bridges;
the supervisor's phone hangs up (that is how the supervisor is told), the call's view shows
nobody monitoring, and `supervise` starts a fresh supervision.

The same pass deletes the empty call bridges of calls this process does not run (a DELETE
that never got through, a core killed between a call's end and its bridge's deletion).

Ours means: the id follows the scheme of core/supervision.py (`<call>-sup-<supervisor>-leg`,
`-snoop-<n>`, `-bridge-<n>`) or core/call.py (`<call>-bridge`), and, for a channel, its
dialplan is Stasis with our app first in its app data.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec

from core.ari_events import Bridge, Channel
from core.supervision import supervision_of

log = logging.getLogger(__name__)

# `<call>-bridge` today; `<call>-bridge-<n>` once the call's bridge takes fresh ids too.
_CALL_BRIDGE = re.compile(r"(?P<call>.+)-bridge(-\d+)?")


class SupervisionLeftovers(msgspec.Struct, frozen=True):
    channel_ids: tuple[str, ...] = ()  # supervisor legs (;1 or PJSIP) and snoops to hang up
    bridge_ids: tuple[str, ...] = ()  # private bridges and empty call bridges to delete


def _ours(channel: Channel, app: str) -> bool:
    plan = channel.dialplan
    return plan.app_name == "Stasis" and plan.app_data.startswith(app + ",")


def find_leftovers(
    raw_channels: list[Any],
    raw_bridges: list[Any],
    app: str,
    live_supervisions: set[str],
    kept_calls: set[str],
) -> SupervisionLeftovers:
    """Leftovers in one listing. `live_supervisions`: the sids this process runs;
    `kept_calls`: the call ids it runs or its journal keeps live."""
    channels = [c for c in (_convert(x, Channel) for x in raw_channels) if c is not None]
    bridges = [b for b in (_convert(x, Bridge) for x in raw_bridges) if b is not None]
    orphan_channels: list[str] = []
    for channel in channels:
        sid = supervision_of(channel.id)
        if sid is None or sid in live_supervisions or not _ours(channel, app):
            continue  # a Local ;2 half (`-leg-2`) runs the dialplan: it goes with its ;1
        orphan_channels.append(channel.id)
    orphan_bridges: list[str] = []
    for bridge in bridges:
        sid = supervision_of(bridge.id)
        if sid is not None:
            if sid not in live_supervisions:
                orphan_bridges.append(bridge.id)
            continue
        match = _CALL_BRIDGE.fullmatch(bridge.id)
        if match is not None and not bridge.channels and match["call"] not in kept_calls:
            orphan_bridges.append(bridge.id)
    return SupervisionLeftovers(tuple(orphan_channels), tuple(orphan_bridges))


def _convert(raw: Any, kind: type[Any]) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError:
        log.warning("sweep: unreadable %s skipped", kind.__name__)
        return None
