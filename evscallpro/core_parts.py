"""The telephony core as a composition root starts it: shared by `Stack` (one process) and
`evscallpro node` (one process per Asterisk, on the bus).

`CoreParts.build(settings, ...)` makes the CallCenterApp (its record sink, audit trail,
live-calls journal, reconciliation hook, view listeners subscribed before it starts, so they
see the first views too) and the softphone presence watcher (agents with a browser
softphone); `start(link_timeout_s)` starts both and returns the function that stops them.
The people checks (a web user with the supervisor role but no `[[supervisors]]` phone) read
users.json in the data folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from actors.call_journal import LiveCallJournal
from actors.recovery import ReconcileReport
from actors.sinks import CallRecordSink
from actors.softphone_presence import SoftphonePresence
from core.softphone import OFFLINE_HANGUP_BY
from evscallpro.config_file import core_config_from_settings
from evscallpro.people import supervisors_without_phone
from evscallpro.root import CallCenterApp
from evscallpro.settings_file import Settings


def softphone_presence(settings: Settings, app: CallCenterApp) -> SoftphonePresence | None:
    """The endpoint watcher for agents with a browser softphone (none: no watcher)."""
    endpoints = {a.id: a.softphone_endpoint for a in settings.agents
                 if a.softphone_endpoint and a.softphone_password}
    if not endpoints:
        return None
    ari = settings.ari
    return SoftphonePresence(
        ari.url, ari.user, ari.password, ari.app, endpoints,
        lambda call_id: app.hang_up_call(call_id, by=OFFLINE_HANGUP_BY))


class CoreParts:
    """A CallCenterApp and its softphone presence watcher, built, not yet started."""

    def __init__(self, app: CallCenterApp, presence: SoftphonePresence | None) -> None:
        self.app = app
        self.presence = presence

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        sink: CallRecordSink,
        audit: CallRecordSink,
        journal: LiveCallJournal | None,
        on_reconciled: Callable[[ReconcileReport], None] | None = None,
        view_listeners: Sequence[Callable[[Any], None]] = (),
    ) -> CoreParts:
        config = msgspec.structs.replace(
            core_config_from_settings(settings),
            supervisors_without_phone=tuple(supervisors_without_phone(settings)),
        )
        app = CallCenterApp(
            config, sink=sink, audit=audit, journal=journal, on_reconciled=on_reconciled
        )
        for listener in view_listeners:
            app.subscribe(listener)
        presence = softphone_presence(settings, app)
        if presence is not None:
            app.subscribe(presence.on_view)
        return cls(app, presence)

    def start(self, link_timeout_s: float) -> Callable[[], None]:
        """Start the core (raises if ARI does not come up and reconcile within
        `link_timeout_s`), then the presence watcher; returns the stop of both."""
        app, presence = self.app, self.presence
        try:
            app.start(wait_for_link_s=link_timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):
                app.stop()
            raise
        if presence is None:
            return app.stop
        presence.start()

        def stop() -> None:
            presence.stop()
            app.stop()

        return stop
