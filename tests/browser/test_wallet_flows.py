"""The citizen's flows in Chromium: consent, revoke, pause, the language switch, the keyboard."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, allow, answer, choose_me, request_url, sign_in
from tests.e2e.harness import Service

pytestmark = pytest.mark.browser

ADDRESS = "input[name=fields][value='civil_registry.person.address']"

# What the focused element looks like: a visible outline or a box shadow (WCAG 2.4.7).
FOCUS_STYLE = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2
    && !/rgba\\(.*, 0\\)$|transparent/.test(style.outlineColor);
  return {element: element.outerHTML.slice(0, 120), outline: outline,
          shadow: style.boxShadow};
}"""


def assert_focus_visible(page: Any) -> None:
    focus = page.evaluate(FOCUS_STYLE)
    assert focus["outline"] or focus["shadow"] != "none", f"no visible focus on {focus}"


def tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus, checking every stop shows it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert_focus_visible(page)
        if page.evaluate("selector => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{selector} is not reached with Tab")


def html_lang(page: Any) -> str:
    return str(page.get_attribute("html", "lang"))


def test_consent_flow_unticking_an_optional_field(page: Any, service: Service,
                                                  citizen: dict[str, Any]) -> None:
    page.goto(request_url(service))
    assert "/wallet/sign-in" in page.url
    sign_in(page, citizen)
    assert "/oauth2/authorize" in page.url
    assert page.is_disabled("input[type=checkbox][id$='.given_name']"), "required field"
    choose_me(page)
    page.uncheck(ADDRESS)
    location = answer(page, lambda: page.click("button[name=decision][value=allow]"))
    token = service.fetch_token(service.code_from(location))
    fields = set(token["authorization_details"][0]["fields"])
    assert "address" not in fields
    assert {"given_name", "family_name", "birth_date"} <= fields


def test_deny_returns_access_denied(page: Any, service: Service,
                                    citizen: dict[str, Any]) -> None:
    page.goto(request_url(service))
    sign_in(page, citizen)
    location = answer(page, lambda: page.click("button[name=decision][value=deny]"))
    assert "error=access_denied" in location


def test_revoke_from_the_consent_page(new_page: Any, service: Service,
                                      citizen: dict[str, Any]) -> None:
    page = new_page(lang="en")
    consent_id = allow(page, service, citizen)
    page.goto(f"/wallet/consents/{consent_id}")
    assert "Active" in page.inner_text("dl.summary")
    page.click(f"form[action$='/wallet/consents/{consent_id}/revoke'] button")
    page.wait_for_load_state()
    assert page.url.endswith(f"/wallet/consents/{consent_id}/withdrawn")
    panel = page.locator(".panel-confirmation:has(h1)")
    assert panel.is_visible()
    assert "Consent withdrawn" in panel.inner_text()
    assert "Withdrawn on" in panel.inner_text()
    # The reference comes further down, after what happens next.
    assert consent_id in page.inner_text("section[aria-labelledby=reference-title]")
    assert "What happens next" in page.inner_text("main")
    page.goto(f"/wallet/consents/{consent_id}")
    assert "Withdrawn by you" in page.inner_text("dl.summary")
    assert page.locator(f"form[action$='/{consent_id}/revoke']").count() == 0
    page.goto("/wallet/")
    assert consent_id in page.inner_html("#history-title ~ table")


def test_pause_and_resume_from_the_consent_page(new_page: Any, service: Service,
                                                citizen: dict[str, Any]) -> None:
    page = new_page(lang="en")
    consent_id = allow(page, service, citizen)
    page.goto(f"/wallet/consents/{consent_id}")
    page.click(f"form[action$='/wallet/consents/{consent_id}/pause'] button")
    page.wait_for_load_state()
    assert "Paused by you" in page.inner_text("dl.summary")
    assert page.locator(f"form[action$='/{consent_id}/pause']").count() == 0
    page.goto("/wallet/")
    assert "Paused by you" in page.inner_text("#active-title ~ ul")
    page.goto(f"/wallet/consents/{consent_id}")
    page.click(f"form[action$='/wallet/consents/{consent_id}/resume'] button")
    page.wait_for_load_state()
    assert "Active" in page.inner_text("dl.summary")
    assert page.locator(f"form[action$='/{consent_id}/resume']").count() == 0


def test_extend_and_ask_for_erasure_from_the_consent_page(new_page: Any, service: Service,
                                                        citizen: dict[str, Any]) -> None:
    page = new_page(lang="en")
    consent_id = allow(page, service, citizen)
    page.goto(f"/wallet/consents/{consent_id}")
    ends_before = page.inner_text("dl.summary")
    page.click(f"form[action$='/wallet/consents/{consent_id}/extend'] button")
    page.wait_for_load_state()
    assert "Consent extended" in page.inner_text("[role=status]")
    assert page.inner_text("dl.summary") != ends_before, "the end date moved"
    assert page.locator("a", has_text="Signed receipt of the extension").count() == 1
    page.click(f"form[action$='/wallet/consents/{consent_id}/erasure'] button")
    page.wait_for_load_state()
    assert "request to erase the data has been sent" in page.inner_text("[role=status]")
    assert "era_" in page.inner_text(".reference-section")
    assert "Pending" in page.inner_text("#erasure-title ~ p")
    assert page.locator(f"form[action$='/{consent_id}/erasure']").count() == 0


def test_language_switch(page: Any, citizen: dict[str, Any]) -> None:
    page.goto("/wallet/")
    assert "/wallet/sign-in" in page.url
    assert html_lang(page) == "bg", "Bulgarian by default"
    switch = page.locator("a[hreflang=en]")
    assert switch.get_attribute("lang") == "en"
    switch.click()
    page.wait_for_load_state()
    assert html_lang(page) == "en"
    assert "/wallet/sign-in" in page.url, "the switch comes back to the same page"
    assert page.is_visible("text=Sign in to your wallet")
    sign_in(page, citizen)
    assert html_lang(page) == "en", "the choice outlives signing in"
    page.click("a[hreflang=bg]")
    page.wait_for_load_state()
    assert html_lang(page) == "bg"
    assert page.url.endswith("/wallet/")
    assert page.locator("a[hreflang=en][lang=en]").count() == 1


def test_keyboard_only_sign_in_and_consent(page: Any, service: Service,
                                           citizen: dict[str, Any]) -> None:
    page.goto(request_url(service))
    assert "/wallet/sign-in" in page.url

    # The first stop is the skip link, shown when focused; it moves on to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    assert_focus_visible(page)
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "the skip link is on screen"
    page.keyboard.press("Enter")
    tab_to(page, "#username", limit=3)
    page.keyboard.type(citizen["username"])
    tab_to(page, "#password", limit=2)
    page.keyboard.type(citizen["password"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/oauth2/authorize?**")

    # Whose data it is: the first radio takes the focus, Space chooses it (the citizen).
    tab_to(page, "#subject-me")
    page.keyboard.press("Space")
    assert page.is_checked("#subject-me")
    tab_to(page, ADDRESS)
    page.keyboard.press("Space")
    assert not page.is_checked(ADDRESS)
    tab_to(page, "button[name=decision][value=allow]")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "keyboard-focus-on-allow.png"))
    location = answer(page, lambda: page.keyboard.press("Enter"))
    token = service.fetch_token(service.code_from(location))
    assert "address" not in token["authorization_details"][0]["fields"]
