"""A parent answering for their minor child in Chromium: the choice, the dashboard, axe.

The demo's Мария is a parent of Никола (born 2021-06-21) in the demo civil registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import PHONE, SCREENSHOTS, answer, request_url, sign_in
from tests.browser.test_accessibility import assert_no_horizontal_scroll, assert_no_violations
from tests.e2e.harness import Service

pytestmark = pytest.mark.browser

CHILD = re.compile(r"Никола Петров")
CHOICE = "fieldset:has(input[type=radio][name=subject])"


def test_the_parent_picks_the_child_and_allows(new_page: Callable[..., Any], service: Service,
                                               citizen: dict[str, Any]) -> None:
    page = new_page(lang="en")
    page.goto(request_url(service))
    sign_in(page, citizen)
    assert "/oauth2/authorize" in page.url
    choice = page.locator(CHOICE)
    assert choice.locator("legend").inner_text() == "Whose data is this request about?"
    radios = page.locator("input[type=radio][name=subject]")
    assert not any(radios.nth(i).is_checked() for i in range(radios.count())), \
        "nobody is chosen for the parent"
    child = choice.get_by_label(CHILD)
    assert "your child" in choice.inner_text()
    child.check()
    assert not page.is_checked("#subject-me")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "children-request-en.png"), full_page=True)

    location = answer(page, lambda: page.click("button[name=decision][value=allow]"))
    token = service.fetch_token(service.code_from(location))
    consent_id = str(token["consent_id"])
    read = service.read()
    assert read.status_code == 200, read.text
    assert read.json()["data"]["given_name"] == "Никола"

    page.goto("/wallet/")
    section = page.locator("section", has=page.locator("h2", has_text="(your child)"))
    assert "Consents for Никола Петров (your child)" in section.inner_text()
    assert section.locator(f"a[href$='/wallet/consents/{consent_id}']").count() == 1
    own = page.locator("#active-title ~ ul")
    assert own.count() == 0 or own.locator(f"a[href$='/{consent_id}']").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "children-dashboard-en.png"), full_page=True)

    section.locator(f"a[href$='/wallet/consents/{consent_id}']").click()
    page.wait_for_load_state()
    assert "This consent is about your child Никола Петров" in page.inner_text("main")


@pytest.mark.parametrize("lang", ["bg", "en"])
def test_the_request_page_with_the_child_choice_is_accessible(
    new_page: Callable[..., Any], service: Service, citizen: dict[str, Any], lang: str
) -> None:
    page = new_page(lang=lang)
    page.goto(request_url(service))
    sign_in(page, citizen)
    assert page.locator(f"{CHOICE} > legend").is_visible()
    assert page.locator("input[type=radio][name=subject]").count() >= 2
    where = f"request page with the child choice ({lang})"
    assert_no_violations(page, where)
    assert_no_horizontal_scroll(page, where)
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page, f"{where}, 320 px phone")
    assert_no_violations(page, f"{where}, 320 px phone")
    page.screenshot(path=str(SCREENSHOTS / f"children-request-{lang}-phone.png"),
                    full_page=True)

    # Allowing without saying whose data it is shows the page again with the error, on a phone.
    page.click("button[name=decision][value=allow]")
    page.wait_for_load_state()
    assert "/oauth2/authorize" in page.url
    assert page.locator(".error-summary[role=alert]").is_visible()
    page.click(".error-summary a")
    assert page.evaluate("document.activeElement.id") == "subject-me"
    assert_no_violations(page, f"{where}, nobody chosen, 320 px phone")
    assert_no_horizontal_scroll(page, f"{where}, nobody chosen, 320 px phone")


@pytest.mark.parametrize("lang", ["bg", "en"])
def test_the_dashboard_with_a_childs_section_is_accessible(
    new_page: Callable[..., Any], service: Service, citizen: dict[str, Any], lang: str
) -> None:
    page = new_page(lang=lang)
    page.goto(request_url(service))
    sign_in(page, citizen)
    page.get_by_label(CHILD).check()
    answer(page, lambda: page.click("button[name=decision][value=allow]"))
    page.goto("/wallet/")
    assert page.locator("section[aria-labelledby^=child-]").count() == 1
    assert_no_violations(page, f"dashboard with a child's section ({lang})")
    page.screenshot(path=str(SCREENSHOTS / f"children-dashboard-{lang}.png"), full_page=True)
