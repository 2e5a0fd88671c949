"""A simulated far end: the phone's dialplan script, run as one small asyncio task.

For a Local endpoint the ;2 half runs the script (each step is a ChannelDialplan); for
PJSIP the steps stand for the carrier's SIP answers. The task only calls back into the
engine, which owns every state change and event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from asterisk.sim.model import Channel, ChannelKind
from asterisk.sim.phones import Step

if TYPE_CHECKING:
    from asterisk.sim.engine import Engine

log = logging.getLogger(__name__)

_FOREVER_S = 86400.0
_ANSWER_MEDIA_WAIT_S = 0.5  # Answer() waits up to 500 ms for the first audio frame...
_MIN_MEDIA_WAIT_S = 0.1  # ...scaled, but never under 100 ms wall: a core reacts in that
_AFTER_MEDIA_S = 0.01  # wall clock: the first 20 ms audio frame arrives (S01: 4.5 ms)


class FarEnd:
    """One outbound leg: the far end's script, the dial state and the originate timer."""

    signalled = False  # True: the far end speaks SIP (sip_ws.WebrtcLeg), no script

    def __init__(
        self,
        engine: Engine,
        channel: Channel,
        local2: Channel | None,
        script: list[Step],
        dialstring: str,
        via_dial: bool,
        endpoint: str,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.local2 = local2
        self.script = script
        self.dialstring = dialstring
        self.via_dial = via_dial
        self.endpoint = endpoint
        self.dial_requested = False
        self.settling = False
        self.media = asyncio.Event()
        self.answered = False
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    @property
    def has_far_end(self) -> bool:
        """Something answers (a script or a SIP peer): else no such extension (S12)."""
        return self.signalled or bool(self.script)

    @property
    def is_pjsip(self) -> bool:
        return self.channel.kind is ChannelKind.PJSIP

    def start(self, timeout_s: float) -> None:
        if timeout_s > 0:
            self.timer = self.engine.loop.call_later(
                self.engine.config.scaled(timeout_s), self.engine._dial_timeout, self
            )
        self.task = self.engine.loop.create_task(self._run())

    def stop(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def dial_string_for_event(self, first: bool) -> str:
        # /dial: only the first Dial event carries the dialstring (S10)
        return self.dialstring if (first or not self.via_dial) else ""

    async def _run(self) -> None:
        engine = self.engine
        try:
            if not self.script:
                engine._no_such_extension(self)
                return
            for priority, step in enumerate(self.script, start=1):
                if self.done:
                    return
                engine._dialplan_step(self, priority, step)
                await self._perform(step)
            if not self.done:  # end of dialplan: Asterisk hangs up, cause 16
                engine._far_hangup(self, 16, None)
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must not kill the loop; the leg is cleared instead
            log.exception("far end of %s failed", self.channel.id)

    async def _perform(self, step: Step) -> None:
        engine = self.engine
        app = step.app
        if app == "Wait":
            seconds = step.seconds
            if seconds >= _FOREVER_S:
                await asyncio.Event().wait()
            await asyncio.sleep(engine.config.scaled(seconds))
        elif app == "Ringing":
            engine._far_ringing(self)
        elif app == "Progress":
            engine._far_progress(self)
        elif app == "Answer":
            engine._far_answer(self)
            if self.local2 is not None:  # a Local ;2 stays in Answer() until audio comes
                self.settling = True
                try:
                    limit = max(engine.config.scaled(_ANSWER_MEDIA_WAIT_S),
                                min(_MIN_MEDIA_WAIT_S, _ANSWER_MEDIA_WAIT_S))
                    await asyncio.wait_for(self.media.wait(), limit)
                    await asyncio.sleep(_AFTER_MEDIA_S)
                except TimeoutError:
                    pass
                self.settling = False
        elif app == "Playback":
            seconds = engine.sound_seconds(step.data)
            await asyncio.sleep(engine.config.scaled(max(seconds, 0.0)))
            if self.local2 is not None and not self.done:
                status = "SUCCESS" if seconds >= 0 else "FAILED"
                engine._varset(self.local2, "PLAYBACKSTATUS", status)
        elif app == "SendDTMF":
            for digit in step.data:
                await asyncio.sleep(engine.config.scaled(0.2))
                if self.done:
                    return
                engine.press_digit(self.channel.id, digit)
        elif app == "Hangup":
            engine._far_hangup(self, step.cause, step.tech_cause)
        elif app == "Busy":
            engine._far_fail(self, "BUSY", 17, 486)
        elif app == "Congestion":
            engine._far_fail(self, "CONGESTION", 34, 503)
