"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, headless, with nothing that reaches out to the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (never a downloaded browser).

    Module-scoped on purpose: while Playwright's sync API is open it keeps an asyncio loop
    marked running in the main thread, which breaks every asyncio test that runs after it.
    """
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("no /usr/bin/chromium in CI: scripts/install-system-deps.sh must run")
        pytest.skip("no /usr/bin/chromium: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A Pykka actor a test left running is a non-daemon thread: the interpreter would wait
    for it forever after the last test. Stop what is left, and say so (a leak to look at)."""
    import pykka

    left = pykka.ActorRegistry.get_all()
    if left:
        names = sorted({ref.actor_class.__name__ for ref in left})
        print(f"\n{len(left)} actor(s) still running after the tests, stopped: {names}")
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
