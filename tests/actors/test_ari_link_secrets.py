"""No secret in a log line or error of the ARI link: the events URL carries the password in
`?api_key=user:password` and aiohttp puts that URL into its handshake errors (issue 10,
item 7). Logs are captured while the link reconnects through refused upgrades."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from actors.ari_link import AriLink
from actors.loop import EventLoopThread
from actors.messages import AriLinkDown, AriLinkUp
from asterisk.sim.config import SimConfig
from asterisk.sim.testing import SimulatorThread
from core.redact import redact, redact_exception

PASSWORD = "Pw-ari-7f3c1d"  # unlike the simulator's default, not also the app name


class Notices:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.changed = threading.Condition()

    def __call__(self, notice: Any) -> None:
        with self.changed:
            self.items.append(notice)
            self.changed.notify_all()

    def wait_for_up(self, generation: int, timeout: float = 15.0) -> None:
        def done() -> bool:
            return any(isinstance(n, AriLinkUp) and n.generation >= generation for n in self.items)

        with self.changed:
            assert self.changed.wait_for(done, timeout), f"no AriLinkUp {generation}: {self.items}"


def test_reconnect_through_refused_upgrades_logs_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = SimulatorThread(SimConfig(users={"asterisk": PASSWORD}), time_scale=20.0).start()
    loop = EventLoopThread("test-ari-secrets")
    loop.start()
    notices = Notices()
    link = AriLink(loop, sim.base_url, "asterisk", PASSWORD, "evscallpro",
                   lambda _: None, notices, backoff_base_s=0.05, backoff_cap_s=0.2)
    try:
        link.start()
        notices.wait_for_up(1)
        sim.refuse_websockets(0.5)  # the reconnects get 503 for a while
        sim.drop_websockets()
        notices.wait_for_up(2)
    finally:
        link.stop()
        loop.stop()
        sim.stop()
    failures = [r for r in caplog.records if "ARI connect failed" in r.getMessage()]
    assert failures, "the refused reconnects were not logged (nothing was tested)"
    assert "api_key=***" in failures[0].getMessage()  # the URL is still there, masked
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        assert PASSWORD not in text, f"password in a log line: {record.getMessage()}"
    downs = [n for n in notices.items if isinstance(n, AriLinkDown)]
    assert downs and all(PASSWORD not in n.reason for n in downs)
    assert PASSWORD not in link.last_error


@pytest.mark.parametrize(
    "text",
    [
        "url='ws://h:8088/ari/events?app=x&api_key=asterisk:" + PASSWORD + "'",
        "http://asterisk:" + PASSWORD + "@h:8088/ari",
        "headers {'Authorization': 'Basic " + PASSWORD + "'}",
        "POST /login password=" + PASSWORD,
    ],
)
def test_redact_masks_every_credential_shape(text: str) -> None:
    out = redact(text)
    assert PASSWORD not in out and "***" in out


def test_redact_masks_a_known_secret_anywhere() -> None:
    exc = RuntimeError(f"bad credentials {PASSWORD} for user asterisk")
    assert redact_exception(exc, [PASSWORD]) == "RuntimeError: bad credentials *** for user asterisk"
    assert redact("app=evscallpro&id=1") == "app=evscallpro&id=1"  # nothing to hide: unchanged
