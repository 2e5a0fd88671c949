"""Recordings of several Asterisk boxes: listed from every node that answers, fetched from
the node that has them."""

from __future__ import annotations

import pytest

from evscallpro.node_recordings import NodeRecordings
from gateway.recordings import RecordingFile, RecordingsUnavailable, Stored


class Box:
    """One node's Asterisk store (the RecordingSource protocol), or one that is down."""

    def __init__(self, files: dict[str, bytes], down: bool = False) -> None:
        self.files = files
        self.down = down
        self.fetched: list[str] = []

    async def stored(self) -> dict[str, Stored]:
        if self.down:
            raise RecordingsUnavailable("Asterisk ARI unreachable")
        return {name: Stored(size_bytes=len(data)) for name, data in self.files.items()}

    async def fetch(self, name: str) -> RecordingFile | None:
        self.fetched.append(name)
        if self.down:
            raise RecordingsUnavailable("Asterisk ARI unreachable")
        data = self.files.get(name)
        return RecordingFile(data, "audio/wav") if data is not None else None


async def test_the_list_is_every_nodes_and_a_file_comes_from_its_node() -> None:
    n1, n2 = Box({"c1-rec": b"one"}), Box({"c2-rec": b"two!"})
    recordings = NodeRecordings({"n1": n1, "n2": n2})
    assert set(await recordings.stored()) == {"c1-rec", "c2-rec"}
    audio = await recordings.fetch("c2-rec")
    assert audio is not None and audio.data == b"two!"
    assert n1.fetched == []  # listed by n2: asked there first
    assert await recordings.fetch("nowhere") is None


async def test_a_node_down_hides_only_its_recordings() -> None:
    recordings = NodeRecordings({"n1": Box({}, down=True), "n2": Box({"c2-rec": b"two"})})
    assert set(await recordings.stored()) == {"c2-rec"}
    audio = await recordings.fetch("c2-rec")  # n1 is tried too (not listed yet), then n2
    assert audio is not None and audio.data == b"two"


async def test_every_node_down_is_recordings_unavailable() -> None:
    recordings = NodeRecordings({"n1": Box({}, down=True), "n2": Box({}, down=True)})
    with pytest.raises(RecordingsUnavailable, match=r"n1.*n2"):
        await recordings.stored()
    with pytest.raises(RecordingsUnavailable):
        await recordings.fetch("c1-rec")
