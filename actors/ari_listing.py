"""What Asterisk lists right now, read over ARI REST for the reconciler and the orphan sweep:
`GET /channels`, `GET /bridges` (typed, unreadable entries skipped) and the EVS_* variables of
one channel. Every method is a coroutine on the core's loop; a failed listing is None.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

import msgspec

from actors.ari_port import AriPort, AriRequest
from core.ari_events import Bridge, Channel
from core.recovery_scan import EVS_VARIABLES, LiveCall

log = logging.getLogger(__name__)

T = TypeVar("T")


class AriListing:
    def __init__(self, port: AriPort) -> None:
        self.port = port

    async def channels(self) -> list[Channel] | None:
        return await self._list("/channels", Channel)

    async def bridges(self) -> list[Bridge] | None:
        return await self._list("/bridges", Bridge)

    async def variables(self, channel_id: str) -> dict[str, str]:
        """The EVS_* variables of one channel (requests in parallel; unset ones are skipped)."""
        answers = await asyncio.gather(
            *(
                self.port.request(
                    AriRequest("GET", f"/channels/{channel_id}/variable", {"variable": name})
                )
                for name in EVS_VARIABLES
            )
        )
        values: dict[str, str] = {}
        for name, (status, body, _) in zip(EVS_VARIABLES, answers, strict=True):
            if status == 200 and isinstance(body, dict) and body.get("value"):
                values[name] = str(body["value"])
        return values

    async def with_variables(self, call: LiveCall) -> LiveCall:
        """The call with the EVS_* variables of its legs (the ;2 half's for Local legs)."""
        sources = [leg.local2_id or leg.channel_id for leg in (call.agent, call.customer) if leg]
        variables: dict[str, str] = {}
        for found in await asyncio.gather(*(self.variables(c) for c in sources)):
            variables.update(found)
        return msgspec.structs.replace(call, variables={**variables, **call.variables})

    async def _list(self, path: str, kind: type[T]) -> list[T] | None:
        status, body, text = await self.port.request(AriRequest("GET", path))
        if status != 200 or not isinstance(body, list):
            log.warning("reconcile: GET %s -> %s %s", path, status, text[:200])
            return None
        return [item for item in (_convert(raw, kind) for raw in body) if item is not None]


def _convert(raw: Any, kind: type[T]) -> T | None:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError:
        log.warning("reconcile: unreadable %s skipped", kind.__name__)
        return None
