"""Views (AgentView, CallView) from actor threads to every subscriber (gateway hub,
analytics, `serve`'s stdout).

Actors publish on their own threads without taking any lock: the listeners are an
immutable tuple, replaced whole by `subscribe` / unsubscribe (the only writers, which take
a lock among themselves).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[Any], None]


class ViewFanOut:
    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._writers = threading.Lock()

    def publish(self, view: Any) -> None:
        for listener in self._listeners:
            try:
                listener(view)
            except Exception:
                log.exception("view listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._writers:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._writers:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe
