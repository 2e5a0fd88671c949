"""Stored recordings: real audio files on disk, as Asterisk's spool folder holds them.

A `wav` recording is 8 kHz 16-bit mono PCM (a quiet 440 Hz tone, so a listener hears
that something was recorded) of the simulated duration; other formats get raw 8 kHz
mu-law silence. Names are confined to the folder (no path separators, no dot-dot).
"""

from __future__ import annotations

import math
import re
import struct
import wave
from pathlib import Path

KNOWN_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "wav16": "audio/wav",
    "gsm": "audio/gsm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
    "sln": "audio/x-slin",
    "g722": "audio/G722",
}
SAMPLE_RATE = 8000
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$")


def is_safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def _tone_frames(seconds: float) -> bytes:
    count = max(round(seconds * SAMPLE_RATE), 0)
    period = [
        struct.pack("<h", int(800 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE)))
        for i in range(SAMPLE_RATE // 40)  # 200 samples = exactly 11 cycles of 440 Hz
    ]
    block = b"".join(period)
    whole, rest = divmod(count, len(period))
    return block * whole + b"".join(period[:rest])


class RecordingStore:
    """The folder of stored recordings."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, fmt: str) -> Path:
        return self.folder / f"{name}.{fmt}"

    def write(self, name: str, fmt: str, seconds: float, append: bool = False) -> Path:
        path = self.path(name, fmt)
        if fmt in ("wav", "wav16"):
            frames = _tone_frames(seconds)
            if append and path.exists():
                with wave.open(str(path), "rb") as old:
                    frames = old.readframes(old.getnframes()) + frames
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(SAMPLE_RATE)
                out.writeframes(frames)
        else:
            data = b"\xff" * round(seconds * SAMPLE_RATE)
            with path.open("ab" if append else "wb") as out:
                out.write(data)
        return path

    def find(self, name: str) -> Path | None:
        if not is_safe_name(name):
            return None
        for fmt in KNOWN_FORMATS:
            candidate = self.path(name, fmt)
            if candidate.is_file():
                return candidate
        return None

    def exists(self, name: str) -> bool:
        return self.find(name) is not None

    def list(self) -> list[dict[str, str]]:
        items = []
        for path in sorted(self.folder.iterdir()):
            fmt = path.suffix.lstrip(".")
            if path.is_file() and fmt in KNOWN_FORMATS:
                items.append({"name": path.stem, "format": fmt})
        return items

    def delete(self, name: str) -> bool:
        path = self.find(name)
        if path is None:
            return False
        path.unlink()
        return True

    def clear(self) -> None:
        for item in self.list():
            self.path(item["name"], item["format"]).unlink(missing_ok=True)
