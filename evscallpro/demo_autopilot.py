"""Demo autopilot: a few agents work on their own so the supervisor's wallboard moves.

Each piloted agent logs in, calls a random contact, lets the call run its course (the
simulated customer answers and hangs up, is busy, does not answer...), qualifies it after a
short "think time", waits a little and calls the next one. It uses only a few methods of
the public `CallCenter` port (`AutopilotDesk`), like the gateway does: in-process the core
itself, under `evscallpro demo` the nodes through the bus (demo_nodes.BusDesk).

Views arrive on actor threads; they are only queued there. The pilot's own thread makes the
(blocking) CallCenter calls, so no actor ever waits on the pilot.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from core.domain import AgentState, CallOutcome, Refusal
from core.views import AgentView, CallView
from gateway.contacts import Contact
from gateway.ports import ViewListener

log = logging.getLogger(__name__)

THINK_S = (4.0, 10.0)  # from the end of a call to its qualification
IDLE_S = (5.0, 15.0)  # from being available again to the next call
RETRY_S = 5.0  # after a refusal
WATCHDOG_S = 30.0  # a request the views never answered: look again


class AutopilotDesk(Protocol):
    """What the autopilot uses of gateway.ports.CallCenter."""

    def subscribe(self, listener: ViewListener) -> Callable[[], None]: ...

    def snapshot(self) -> list[AgentView]: ...

    def log_in(self, agent_id: str) -> Refusal | None: ...

    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None: ...

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None: ...


def disposition_for(outcome: CallOutcome | None, rng: random.Random) -> str:
    """A plausible qualification for what happened (the gateway's default codes)."""
    if outcome == CallOutcome.COMPLETED:
        return rng.choice(("sale", "callback", "not_interested", "not_interested"))
    if outcome == CallOutcome.CUSTOMER_INVALID_NUMBER:
        return "wrong_number"
    return "callback"


class Autopilot:
    def __init__(
        self,
        call_center: AutopilotDesk,
        agent_ids: Sequence[str],
        contacts: Sequence[Contact],
        time_scale: float = 1.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not contacts:
            raise ValueError("the autopilot needs contacts to call")
        self._cc = call_center
        self.agent_ids = list(agent_ids)
        self._contacts = list(contacts)
        self._scale = max(time_scale, 0.001)
        self._rng = random.Random(seed)
        self._clock = clock
        self._views: queue.Queue[AgentView] = queue.Queue()
        self._latest: dict[str, AgentView] = {}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-autopilot", daemon=True)
        self._unsubscribe: Callable[[], None] | None = None
        self.calls_placed = 0
        self.calls_qualified = 0

    def start(self) -> Autopilot:
        self._unsubscribe = self._cc.subscribe(self._on_view)
        for agent_id in self.agent_ids:
            refusal = self._cc.log_in(agent_id)
            if refusal is not None:
                log.warning("autopilot: %s cannot log in: %s", agent_id, refusal.detail)
            self._due[agent_id] = self._clock() + self._wait(IDLE_S) / 3
        for view in self._cc.snapshot():
            self._on_view(view)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ actor threads
    def _on_view(self, view: AgentView | CallView) -> None:
        if isinstance(view, AgentView) and view.agent_id in self._due:
            self._views.put(view)

    # ------------------------------------------------------------------ pilot thread
    def _wait(self, bounds: tuple[float, float]) -> float:
        return self._rng.uniform(*bounds) / self._scale

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                view = self._views.get(timeout=0.1)
            except queue.Empty:
                pass
            else:
                self._note(view)
            now = self._clock()
            for agent_id in self.agent_ids:
                if now >= self._due[agent_id]:
                    try:
                        self._act(agent_id, now)
                    except Exception:  # one bad step must not end the pilot
                        log.exception("autopilot: %s", agent_id)
                        self._due[agent_id] = now + RETRY_S

    def _note(self, view: AgentView) -> None:
        before = self._latest.get(view.agent_id)
        self._latest[view.agent_id] = view
        if before is None or before.state == view.state:
            return
        if view.state == AgentState.WRAP_UP:
            self._due[view.agent_id] = self._clock() + self._wait(THINK_S)
        elif view.state == AgentState.AVAILABLE:
            self._due[view.agent_id] = self._clock() + self._wait(IDLE_S)

    def _act(self, agent_id: str, now: float) -> None:
        view = self._latest.get(agent_id)
        self._due[agent_id] = now + RETRY_S
        if view is None:
            return
        if view.state == AgentState.AVAILABLE and view.call is None:
            contact = self._rng.choice(self._contacts)
            refusal = self._cc.place_call(agent_id, contact.phone, contact.contact_id)
            if refusal is None:
                self.calls_placed += 1
                self._due[agent_id] = now + WATCHDOG_S  # the next views decide
            else:
                log.info("autopilot: %s cannot call: %s", agent_id, refusal.code)
        elif view.state == AgentState.WRAP_UP and view.awaiting_disposition is not None:
            done = view.awaiting_disposition
            refusal = self._cc.qualify(
                agent_id, done.call_id, disposition_for(done.outcome, self._rng)
            )
            if refusal is None:
                self.calls_qualified += 1
                self._due[agent_id] = now + WATCHDOG_S
        elif view.state == AgentState.OFFLINE:
            self._cc.log_in(agent_id)
