"""Record sinks: the fan-out writes every sink even when one fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.sinks import FanOutSink, JsonLinesRecordSink, MemoryRecordSink


class FullDisk:
    def write(self, record: Any) -> None:
        raise OSError(28, "No space left on device")


def test_a_failing_sink_does_not_starve_the_others(tmp_path: Path) -> None:
    memory = MemoryRecordSink()
    lines = JsonLinesRecordSink(tmp_path / "calls.jsonl")
    fan = FanOutSink(FullDisk(), memory, lines)
    with pytest.raises(OSError, match="No space"):
        fan.write({"call_id": "c1"})
    assert memory.records == [{"call_id": "c1"}]
    assert (tmp_path / "calls.jsonl").read_text() == '{"call_id":"c1"}\n'
