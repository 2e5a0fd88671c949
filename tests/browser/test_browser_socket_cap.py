"""One session opening too many pages (issue 10, item 6): the page over the cap is told so
in words, stays on its page (not sent to sign-in) and does not retry; the others work."""

from __future__ import annotations

import pytest
from browser_helpers import assert_no_htmx_errors, log_in, open_session, wait_connected
from playwright.sync_api import Browser, expect

from gateway.server import GatewayThread

pytestmark = pytest.mark.browser


def test_a_page_over_the_socket_cap_says_so_and_stays(chromium: Browser,
                                                      server: GatewayThread) -> None:
    cap = server.gateway.settings.max_sockets_per_session
    context, first = open_session(chromium, server.url)
    log_in(first, "alice")
    wait_connected(first)
    pages = [first]
    for _ in range(cap - 1):
        page = context.new_page()
        page.goto("/agent")
        wait_connected(page)
        pages.append(page)
    extra = context.new_page()
    extra.goto("/agent")
    banner = extra.locator("#conn")
    expect(banner).to_have_attribute("data-state", "lost")
    expect(banner).to_contain_text("Trop de pages ouvertes")
    assert extra.url.endswith("/agent")  # not sent to the sign-in page
    for page in pages:  # the pages under the cap are still connected
        expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    assert_no_htmx_errors(first)
    context.close()
