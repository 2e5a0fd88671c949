"""Shared bits of the browser tests: Chromium launch flags, logins, screenshots."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "sam": "sam-pw-3"}
TIMEOUT_MS = 5000


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": Playwright's caret hiding leaves style="" on inputs, which htmx then
    # copies while settling a swap, and the page's CSP (rightly) refuses it.
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, caret="initial")


def open_session(chromium: Browser, base_url: str, width: int = 1280,
                 height: int = 860) -> tuple[BrowserContext, Page]:
    context = chromium.new_context(base_url=base_url, viewport={"width": width, "height": height},
                                   locale="fr-FR")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    HTMX_ERRORS[id(page)] = errors
    page.on("console", lambda m: errors.append(m.text) if _is_page_error(m.text) else None)
    return context, page


HTMX_ERRORS: dict[int, list[str]] = {}


def _is_page_error(text: str) -> bool:
    """htmx's own error events, and anything the Content-Security-Policy blocked."""
    return text.startswith("htmx:") or "Content Security Policy" in text


def assert_no_htmx_errors(*pages: Page) -> None:
    """htmx reports a fragment it could not place (oobErrorNoTarget, swapError...) on the
    console, as Chromium reports what the CSP blocked; either is a failure even if the
    test's own checks passed."""
    for page in pages:
        assert HTMX_ERRORS.get(id(page), []) == [], HTMX_ERRORS[id(page)]


def log_in(page: Page, user: str, password: str | None = None) -> None:
    page.goto("/login")
    page.fill("#login-user", user)
    page.fill("#login-password", password or PASSWORDS[user])
    page.click("#login-submit")


def wait_connected(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "open")
