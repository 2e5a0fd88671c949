"""Real WebRTC media on the simulator's side of a browser softphone call (aiortc).

Asterisk's role from trace W01: it makes the offer (ICE controlling, `a=setup:actpass`,
DTLS-SRTP, G.711 `PCMU PCMA` with `telephone-event`), the browser answers as DTLS client.
`MediaSession` does the same with aiortc: host candidates only, PCMU/PCMA preferred, a
440 Hz tone toward the browser (where Asterisk would play a prompt or bridge the other
party), and counts what comes back: RTP packets (aiortc's inbound-rtp statistics) and the
audio level of the decoded frames (RMS, 0..1, like WebRTC's `audioLevel`).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import logging
import math
import time
from collections import deque
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger(__name__)

_RATE = 8000
_FRAME_SAMPLES = 160  # 20 ms, the trace's ptime
_TONE_HZ = 440.0
_TONE_AMPLITUDE = 0.3
_LEVEL_WINDOW_S = 0.5
_CODECS = ("audio/PCMU", "audio/PCMA")  # Asterisk without codec_opus (trace W01)


class ToneTrack(MediaStreamTrack):
    """A paced 440 Hz sine, 20 ms frames of signed 16-bit mono at 8 kHz."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0
        step = 2 * math.pi * _TONE_HZ / _RATE
        period = int(_RATE / math.gcd(int(_TONE_HZ), _RATE))  # samples per whole cycle set
        self._wave = array.array(
            "h", (int(_TONE_AMPLITUDE * 32767 * math.sin(step * n)) for n in range(period)))

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += _FRAME_SAMPLES
            wait = self._start + self._pts / _RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        period = len(self._wave)
        offset = self._pts % period
        samples = array.array("h", (self._wave[(offset + i) % period]
                                    for i in range(_FRAME_SAMPLES)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=_FRAME_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = _RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, _RATE)
        return frame


def frame_level(frame: av.AudioFrame) -> float:
    """RMS of a decoded frame, 0..1 (full-scale sine ~0.71)."""
    data = array.array("h")
    data.frombytes(bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)])
    if not data:
        return 0.0
    return math.sqrt(sum(s * s for s in data) / len(data)) / 32768.0


class MediaSession:
    """One call's peer connection, seen from Asterisk's side."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.tone = ToneTrack()
        self.frames_received = 0
        self.max_level = 0.0
        self.audio_energy = 0.0  # sum of level² x duration, as WebRTC's totalAudioEnergy
        self._recent: deque[tuple[float, float]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._final: dict[str, Any] | None = None
        self.connection_state = "new"
        self.sending = True
        transceiver = self.pc.addTransceiver(self.tone, direction="sendrecv")
        self._sender = transceiver.sender
        codecs = [c for c in RTCRtpSender.getCapabilities("audio").codecs
                  if c.mimeType in _CODECS]
        transceiver.setCodecPreferences(codecs)

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._reader is None:
                self._reader = asyncio.get_running_loop().create_task(self._read(track))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            self.connection_state = self.pc.connectionState

    def send_audio(self, on: bool) -> None:
        """Tone on, or no RTP at all toward the browser (Asterisk with nothing to play, W01)."""
        if on != self.sending:
            self.sending = on
            self._sender.replaceTrack(self.tone if on else None)

    async def offer(self) -> str:
        """The SDP offer, ICE gathering finished (no trickle, as Asterisk)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                level = frame_level(frame)
                now = time.monotonic()
                self.frames_received += 1
                self.max_level = max(self.max_level, level)
                self.audio_energy += level * level * frame.samples / (frame.sample_rate or _RATE)
                self._recent.append((now, level))
                while self._recent and self._recent[0][0] < now - _LEVEL_WINDOW_S:
                    self._recent.popleft()

    def recent_level(self) -> float:
        """The loudest frame of the last half second (0 when nothing came)."""
        now = time.monotonic()
        return max((lv for t, lv in self._recent if t >= now - _LEVEL_WINDOW_S), default=0.0)

    async def counters(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        received = sent = 0
        with contextlib.suppress(Exception):  # stats of a closing connection
            report = await self.pc.getStats()
            for stat in report.values():
                if stat.type == "inbound-rtp":
                    received += stat.packetsReceived
                elif stat.type == "outbound-rtp":
                    sent += stat.packetsSent
        return {
            "connection_state": self.connection_state,
            "sending_audio": self.sending,
            "rtp_packets_received": received,
            "rtp_packets_sent": sent,
            "frames_received": self.frames_received,
            "level_recent": round(self.recent_level(), 4),
            "level_max": round(self.max_level, 4),
            "audio_energy": round(self.audio_energy, 6),
        }

    async def close(self) -> None:
        if self._final is None:
            final = await self.counters()
            final["connection_state"] = "closed"
            final["level_recent"] = 0.0
            self._final = final
        if self._reader is not None:
            self._reader.cancel()
        self.tone.stop()
        await self.pc.close()
