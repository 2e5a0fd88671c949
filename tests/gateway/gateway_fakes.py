"""A scripted, in-memory CallCenter for the gateway's tests: a TEST DOUBLE only.

It does not place calls: a test moves each call through its steps (`advance`, `fail`,
`customer_hangs_up`) and the double publishes the resulting views from its own worker
thread, the way actor threads publish in the product.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from itertools import count

import msgspec

from core.agent import NOTHING_TO_QUALIFY
from core.call_outcomes import FINAL_STEPS
from core.domain import AgentState, CallOutcome, CallStep, Party, SupervisionMode, WorkstationMode
from core.telephony import TelephonyHealth, TelephonyState
from core.views import AgentView, CallView
from gateway.ports import Refusal, ViewListener

FINAL = FINAL_STEPS


class FakeCallCenter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, AgentView] = {}
        self._listeners: list[ViewListener] = []
        self._queue: queue.Queue[AgentView | CallView | threading.Event | None] = queue.Queue()
        self._ids = count(1)
        self.requests: list[tuple[str, tuple[object, ...]]] = []
        self.qualifications: list[tuple[str, str, str, str, str | None]] = []
        # number (E.164) -> the refusal the core's gate gives for it (a test sets it, as a
        # do-not-call list or a stale "offline" would)
        self.refuse_numbers: dict[str, Refusal] = {}
        self.health = TelephonyHealth(state=TelephonyState.UP, app="evscallpro")  # tests set it
        self._worker = threading.Thread(target=self._deliver, name="fake-core", daemon=True)
        self._worker.start()

    # -- test controls -------------------------------------------------------------------

    def add_agent(self, agent_id: str, display_name: str) -> None:
        self._set(AgentView(agent_id=agent_id, display_name=display_name,
                            state=AgentState.OFFLINE, state_since=time.time()))

    def agent(self, agent_id: str) -> AgentView:
        with self._lock:
            return self._agents[agent_id]

    def call_of(self, agent_id: str) -> CallView:
        call = self.agent(agent_id).call
        assert call is not None, f"{agent_id} has no call"
        return call

    def advance(self, agent_id: str, step: CallStep) -> CallView:
        call = self.call_of(agent_id)
        now = time.time()
        moved = msgspec.structs.replace(
            call, step=step, step_since=now,
            connected_at=now if step == CallStep.CONNECTED else call.connected_at,
        )
        self._update_call(agent_id, moved)
        return moved

    def fail(self, agent_id: str, outcome: CallOutcome, reason: str = "") -> CallView:
        call = self.call_of(agent_id)
        return self._end(agent_id, call, CallStep.FAILED, outcome, reason, None)

    def customer_hangs_up(self, agent_id: str) -> CallView:
        call = self.call_of(agent_id)
        return self._end(agent_id, call, CallStep.ENDED, CallOutcome.COMPLETED, "", Party.CUSTOMER)

    def set_recording(self, agent_id: str, name: str) -> None:
        call = self.call_of(agent_id)
        self._update_call(agent_id, msgspec.structs.replace(call, recording_name=name))

    def publish_raw(self, view: AgentView | CallView) -> None:
        """Publish a view as-is (hub tests)."""
        self._queue.put(view)

    def wait_idle(self, timeout: float = 2.0) -> None:
        """Block until every view published so far has been handed to the listeners."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise TimeoutError("fake core did not drain its queue")

    def close(self) -> None:
        self._queue.put(None)

    # -- CallCenter ------------------------------------------------------------------------

    def place_call(self, agent_id: str, customer_number: str, contact_id: str | None = None) -> Refusal | None:
        self.requests.append(("place_call", (agent_id, customer_number, contact_id)))
        if customer_number in self.refuse_numbers:
            return self.refuse_numbers[customer_number]
        with self._lock:
            view = self._agents.get(agent_id)
        if view is None:
            return Refusal("unknown_agent", f"no agent {agent_id}")
        if view.state != AgentState.AVAILABLE:
            return Refusal("agent_not_available", f"agent is {view.state}")
        if view.workstation is None:
            return Refusal("no_workstation", "choose a workstation first")
        now = time.time()
        call = CallView(
            call_id=f"call-{next(self._ids)}", agent_id=agent_id, step=CallStep.REQUESTED,
            customer_number=customer_number, contact_id=contact_id,
            workstation=view.workstation, step_since=now,
        )
        self._set(msgspec.structs.replace(view, state=AgentState.ON_CALL, state_since=now, call=call))
        self._queue.put(call)
        return None

    def switch_agent_leg(
        self, agent_id: str, call_id: str, target: WorkstationMode
    ) -> Refusal | None:
        """Answers as the agent's machine would; the call itself does not move here."""
        self.requests.append(("switch_agent_leg", (agent_id, call_id, target)))
        with self._lock:
            view = self._agents.get(agent_id)
        if view is None or view.call is None or view.call.call_id != call_id:
            return Refusal("unknown_call", "no such call")
        if view.call.step != CallStep.CONNECTED:
            return Refusal("switch_not_connected", "only a connected call can be moved")
        moving = msgspec.structs.replace(
            view.call, step=CallStep.SWITCHING, step_since=time.time(), switching_to=target,
            switch_result="",
        )
        self._update_call(agent_id, moving)
        return None

    def open_agent_session(
        self, agent_id: str, workstation: WorkstationMode = WorkstationMode.MOBILE
    ) -> Refusal | None:
        self.requests.append(("open_agent_session", (agent_id, workstation)))
        return self._change(agent_id, leg_session="dialing", leg_session_reason="")

    def close_agent_session(self, agent_id: str) -> Refusal | None:
        self.requests.append(("close_agent_session", (agent_id,)))
        return self._change(agent_id, leg_session="ended", leg_session_reason="closed")

    def switch_over(self, agent_id: str, result: str) -> CallView:
        """The switch under way ends: `result` is a core.domain.SwitchResult value."""
        call = self.call_of(agent_id)
        target = call.switching_to or call.workstation
        ended = msgspec.structs.replace(
            call, step=CallStep.CONNECTED, step_since=time.time(), switching_to=None,
            switch_result=result,
            workstation=target if result == "switched" else call.workstation,
        )
        self._update_call(agent_id, ended)
        return ended

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None:
        self.requests.append(("hang_up", (agent_id, call_id)))
        with self._lock:
            view = self._agents.get(agent_id)
        if view is None or view.call is None or view.call.call_id != call_id:
            return Refusal("no_such_call", "no such call")
        call = view.call
        if call.step == CallStep.CONNECTED:
            self._end(agent_id, call, CallStep.ENDED, CallOutcome.COMPLETED, "", Party.UI)
        else:
            self._end(agent_id, call, CallStep.ENDED, CallOutcome.CANCELLED, "", Party.UI)
        return None

    def set_workstation(self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None) -> Refusal | None:
        self.requests.append(("set_workstation", (agent_id, mode, mobile_number)))
        return self._change(agent_id, workstation=mode, mobile_number=mobile_number)

    def log_in(self, agent_id: str) -> Refusal | None:
        self.requests.append(("log_in", (agent_id,)))
        with self._lock:
            view = self._agents.get(agent_id)
        if view is not None and view.state != AgentState.OFFLINE:
            return None  # as the core: signing in again changes nothing
        return self._change(agent_id, state=AgentState.AVAILABLE, state_since=time.time())

    def log_out(self, agent_id: str) -> Refusal | None:
        self.requests.append(("log_out", (agent_id,)))
        return self._change(agent_id, state=AgentState.OFFLINE, state_since=time.time())

    def set_available(self, agent_id: str) -> Refusal | None:
        self.requests.append(("set_available", (agent_id,)))
        return self._change(agent_id, state=AgentState.AVAILABLE, state_since=time.time(), pause_reason=None)

    def pause(self, agent_id: str, reason: str) -> Refusal | None:
        self.requests.append(("pause", (agent_id, reason)))
        return self._change(agent_id, state=AgentState.PAUSED, state_since=time.time(), pause_reason=reason)

    def qualify(self, agent_id: str, call_id: str, disposition: str, comment: str = "",
                callback_at: str | None = None) -> Refusal | None:
        self.requests.append(("qualify", (agent_id, call_id, disposition)))
        with self._lock:
            view = self._agents.get(agent_id)
        if view is None or view.awaiting_disposition is None or view.awaiting_disposition.call_id != call_id:
            return Refusal("nothing_to_qualify", "no call awaits a disposition")
        self.qualifications.append((agent_id, call_id, disposition, comment, callback_at))
        return self._change(agent_id, state=AgentState.AVAILABLE, state_since=time.time(),
                            awaiting_disposition=None)

    def supervise(self, supervisor_id: str, call_id: str, mode: SupervisionMode) -> Refusal | None:
        self.requests.append(("supervise", (supervisor_id, call_id, mode)))
        return self._monitor(call_id, lambda m: (*[x for x in m if x[0] != supervisor_id], (supervisor_id, mode)))

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None:
        self.requests.append(("stop_supervision", (supervisor_id, call_id)))
        return self._monitor(call_id, lambda m: tuple(x for x in m if x[0] != supervisor_id))

    def telephony_health(self) -> TelephonyHealth:
        return self.health

    def snapshot(self) -> list[AgentView]:
        with self._lock:
            return list(self._agents.values())

    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # -- internals -----------------------------------------------------------------------

    def _deliver(self) -> None:
        while True:
            view = self._queue.get()
            if view is None:
                return
            if isinstance(view, threading.Event):
                view.set()
                continue
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                listener(view)

    def _set(self, view: AgentView) -> None:
        with self._lock:
            self._agents[view.agent_id] = view
        self._queue.put(view)

    def _change(self, agent_id: str, **changes: object) -> Refusal | None:
        with self._lock:
            view = self._agents.get(agent_id)
        if view is None:
            return Refusal("unknown_agent", f"no agent {agent_id}")
        self._set(msgspec.structs.replace(view, **changes))
        return None

    def _update_call(self, agent_id: str, call: CallView) -> None:
        view = self.agent(agent_id)
        self._queue.put(call)
        self._set(msgspec.structs.replace(view, call=call))

    def _end(self, agent_id: str, call: CallView, step: CallStep, outcome: CallOutcome,
             reason: str, ended_by: Party | None) -> CallView:
        now = time.time()
        ended = msgspec.structs.replace(
            call, step=step, outcome=outcome, reason=reason, step_since=now, ended_at=now,
            ended_by=ended_by,
        )
        view = self.agent(agent_id)
        self._queue.put(ended)
        if outcome in NOTHING_TO_QUALIFY:  # as the core: no customer conversation, no wrap-up
            self._set(msgspec.structs.replace(
                view, state=AgentState.AVAILABLE, state_since=now, call=None))
            return ended
        self._set(msgspec.structs.replace(
            view, state=AgentState.WRAP_UP, state_since=now, call=None, awaiting_disposition=ended))
        return ended

    def _monitor(self, call_id: str, change: Callable[[tuple[tuple[str, SupervisionMode], ...]], tuple[tuple[str, SupervisionMode], ...]]) -> Refusal | None:
        with self._lock:
            owner = next((a for a in self._agents.values() if a.call and a.call.call_id == call_id), None)
        if owner is None or owner.call is None:
            return Refusal("no_such_call", "no such call")
        self._update_call(owner.agent_id, msgspec.structs.replace(owner.call, monitored_by=change(owner.call.monitored_by)))
        return None
