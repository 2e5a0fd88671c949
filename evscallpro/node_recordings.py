"""Recordings when the call center has several Asterisk boxes: each node's Asterisk keeps the
recordings of its calls, read through its own ARI (gateway.recordings.AriRecordings).

`NodeRecordings` is a `gateway.recordings.RecordingSource` over all of them: the list is the
union of every reachable node's (a node that cannot be read is logged and skipped; all of
them failing raises RecordingsUnavailable, as one would); a file is fetched from the node
that listed it last, else from each node in turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from gateway.recordings import RecordingFile, RecordingSource, RecordingsUnavailable, Stored

log = logging.getLogger(__name__)


class NodeRecordings:
    def __init__(self, sources: Mapping[str, RecordingSource]) -> None:
        if not sources:
            raise ValueError("NodeRecordings needs at least one node")
        self.sources = dict(sources)
        self._where: dict[str, str] = {}  # recording name -> the node that listed it

    async def stored(self) -> dict[str, Stored]:
        nodes = list(self.sources)
        results = await asyncio.gather(
            *(self.sources[n].stored() for n in nodes), return_exceptions=True
        )
        merged: dict[str, Stored] = {}
        failures: list[str] = []
        for node, result in zip(nodes, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, RecordingsUnavailable):
                    raise result
                log.warning("recordings of node %s unavailable: %s", node, result)
                failures.append(f"node {node}: {result}")
                continue
            for name, stored in result.items():
                merged.setdefault(name, stored)
                self._where[name] = node
        if len(failures) == len(nodes):
            raise RecordingsUnavailable("; ".join(failures))
        return merged

    async def fetch(self, name: str) -> RecordingFile | None:
        first = self._where.get(name)
        order = ([first] if first in self.sources else []) + [
            n for n in self.sources if n != first
        ]
        failures: list[str] = []
        for node in order:
            try:
                audio = await self.sources[node].fetch(name)
            except RecordingsUnavailable as exc:
                failures.append(f"node {node}: {exc}")
                continue
            if audio is not None:
                self._where[name] = node
                return audio
        if failures and len(failures) == len(order):
            raise RecordingsUnavailable("; ".join(failures))
        return None
