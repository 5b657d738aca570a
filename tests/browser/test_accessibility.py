"""Every wallet page, in both languages, against axe-core (WCAG 2.1 A and AA) in Chromium.

Each page is checked on a desktop, on a 320 px wide phone (WCAG 1.4.10 reflow) and at 200%
zoom (a 1280 px window zoomed to 200% lays out like a 640 px one), where it must not scroll
sideways. Screenshots of the main pages go to ``var/screenshots/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, request_url, sign_in

pytestmark = pytest.mark.browser

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
ZOOM_200 = {"width": DESKTOP["width"] // 2, "height": DESKTOP["height"] // 2}
LANGS = ["bg", "en"]


def _sign_in_error(page: Any, state: dict[str, Any]) -> None:
    page.goto("/wallet/sign-in")
    sign_in(page, {"username": "nobody-here", "password": "not the password"})
    assert page.locator("[role=alert]").count() == 1


PAGES: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "sign-in": lambda page, state: page.goto("/wallet/sign-in"),
    "sign-in-error": _sign_in_error,
    "home": lambda page, state: page.goto("/wallet/"),
    "consent": lambda page, state: page.goto(f"/wallet/consents/{state['active']}"),
    "consent-withdrawn": lambda page, state: page.goto(
        f"/wallet/consents/{state['withdrawn']}?revoked=1"),
    "withdrawn-confirmation": lambda page, state: page.goto(
        f"/wallet/consents/{state['withdrawn']}/withdrawn"),
    "authorize": lambda page, state: page.goto(request_url(state["service"])),
    "history": lambda page, state: page.goto("/wallet/history"),
    "history-bad-filter": lambda page, state: page.goto("/wallet/history?from=31.12.2025"),
    "error": lambda page, state: page.goto("/wallet/consents/cns_not_mine"),
    "authorize-error": lambda page, state: page.goto(
        "/oauth2/authorize?response_type=code&client_id=no-such-service"),
    "account": lambda page, state: page.goto("/wallet/account"),
    "account-erase-confirm": lambda page, state: page.goto("/wallet/account/erase"),
    "accessibility": lambda page, state: page.goto("/wallet/accessibility"),
    "notifications": lambda page, state: page.goto("/wallet/notifications"),
    "account-email-error": lambda page, state: _bad_email(page),
}


def _bad_email(page: Any) -> None:
    page.goto("/wallet/account")
    page.fill("#email", "not an address")
    page.click("form[action$='/wallet/account/email'] button")
    page.wait_for_load_state()
    assert page.locator("[role=alert]").count() == 1
SIGNED_OUT = {"sign-in", "sign-in-error", "authorize-error", "accessibility"}


def open_page(new_page: Callable[..., Any], state: dict[str, Any], name: str, lang: str,
              **options: Any) -> Any:
    if name not in SIGNED_OUT:
        options["storage_state"] = state["storage"]
    page = new_page(lang=lang, **options)
    PAGES[name](page, state)
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == lang
    assert "/wallet/sign-in" not in page.url or name in SIGNED_OUT, "still signed in"
    return page


def assert_no_violations(page: Any, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


def assert_no_horizontal_scroll(page: Any, where: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], f"{where} scrolls sideways: {widths}"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_accessible(new_page: Callable[..., Any], wallet_state: dict[str, Any],
                            name: str, lang: str) -> None:
    page = open_page(new_page, wallet_state, name, lang)
    assert page.locator("main#main").count() == 1
    assert page.locator("header").count() >= 1 and page.locator("footer").count() >= 1
    assert page.locator("h1").count() == 1
    assert_no_violations(page, f"{name} ({lang}, desktop)")
    assert_no_horizontal_scroll(page, f"{name} ({lang}, desktop)")
    page.set_viewport_size(ZOOM_200)
    assert_no_horizontal_scroll(page, f"{name} ({lang}, 200% zoom)")
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page, f"{name} ({lang}, 320 px phone)")
    assert_no_violations(page, f"{name} ({lang}, 320 px phone)")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["home", "authorize", "consent-withdrawn", "history"])
def test_screenshots(new_page: Callable[..., Any], wallet_state: dict[str, Any], name: str,
                     lang: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("desktop", DESKTOP), ("phone", {"width": 375, "height": 740})):
        page = open_page(new_page, wallet_state, name, lang, viewport=viewport)
        path = SCREENSHOTS / f"{name}-{lang}-{size}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
