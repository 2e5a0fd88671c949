"""Playbacks: one queue per channel, Started/Continuing/Finished as Asterisk sends them."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from typing import Any

from asterisk.sim.engine_base import AriError, EngineBase
from asterisk.sim.model import Channel, Playback


class PlaybackOps(EngineBase):
    def play(self, channel_id: str, media: list[str], lang: str | None,
             playback_id: str | None) -> dict[str, Any]:
        channel = self.stasis_channel(channel_id)
        if not media:
            raise AriError(400, "Media must be specified")
        playback = Playback(playback_id or str(uuid.uuid4()), media, f"channel:{channel.id}",
                            lang or channel.language, channel.app, channel.id)
        self.playbacks[playback.id] = playback
        queue = self.channel_playbacks.setdefault(channel.id, deque())
        queue.append(playback)
        snapshot = playback.json()
        if len(queue) == 1:
            self.loop.call_soon(self._start_playback, playback)
        return snapshot

    def _start_playback(self, playback: Playback) -> None:
        channel = self.channels.get(playback.channel_id)
        if channel is None:
            return
        self._media_reaches(channel)
        playback.task = self.loop.create_task(self._run_playback(playback))

    async def _run_playback(self, playback: Playback) -> None:
        try:
            for index in range(len(playback.media)):
                playback.index = index
                playback.state = "playing"
                self._emit(playback.app, "PlaybackStarted", playback=playback.json())
                scheme, _, name = playback.media_uri.partition(":")
                if scheme not in ("sound", "recording", "tone", "digits", "number",
                                  "characters"):
                    self._drop_playback(playback)  # S12: started, then nothing
                    return
                seconds = self._media_seconds(scheme, name, playback.language)
                if seconds < 0:
                    playback.state = "failed"
                    self._finish_playback(playback)
                    return
                if seconds == float("inf"):  # a tone plays until stopped
                    await asyncio.Event().wait()
                await asyncio.sleep(self.config.scaled(seconds))
                if index + 1 < len(playback.media):
                    playback.state = "continuing"
                    self._emit(playback.app, "PlaybackContinuing", playback=playback.json())
            playback.state = "done"
            self._finish_playback(playback)
        except asyncio.CancelledError:
            pass

    def _media_seconds(self, scheme: str, name: str, language: str) -> float:
        if scheme == "sound":
            return self.sound_seconds(name, language)
        if scheme == "recording":
            return 1.0 if self.store.exists(name) else -1.0
        if scheme in ("digits", "number", "characters"):
            return 0.5 * max(len(name), 1)
        return float("inf")  # tone:

    def _finish_playback(self, playback: Playback) -> None:
        self._emit(playback.app, "PlaybackFinished", playback=playback.json())
        self._drop_playback(playback)

    def _drop_playback(self, playback: Playback) -> None:
        if self.playbacks.get(playback.id) is playback:
            del self.playbacks[playback.id]
        queue = self.channel_playbacks.get(playback.channel_id)
        if queue and playback in queue:
            head = queue[0] is playback
            queue.remove(playback)
            if head and queue:
                self._start_playback(queue[0])

    def _stop_channel_playbacks(self, channel: Channel) -> None:
        queue = self.channel_playbacks.get(channel.id)
        if not queue:
            return
        current = queue[0]
        for playback in list(queue)[1:]:
            self._drop_playback(playback)
        if current.task is not None and current.state in ("playing", "continuing"):
            current.task.cancel()
            current.state = "done"
            self._finish_playback(current)
        else:
            self._drop_playback(current)

    def get_playback(self, playback_id: str) -> dict[str, Any]:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        return playback.json()

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        if playback.task is not None:
            playback.task.cancel()
            playback.state = "done"
            self._finish_playback(playback)  # S09: DELETE -> PlaybackFinished done
        else:
            self._drop_playback(playback)
