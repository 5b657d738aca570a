"""The access history, its downloads, "My data" and the data export, in Chromium.

Also the screenshots the README shows (``var/screenshots/history-desktop.png`` and
``history-phone.png``) and axe-core (WCAG 2.1 A and AA) on the pages this module covers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, allow
from tests.browser.test_accessibility import assert_no_horizontal_scroll, assert_no_violations
from tests.e2e.harness import PERSON_URL, RealServer, Service

pytestmark = pytest.mark.browser

CITY = ZoneInfo("Europe/Sofia")


@pytest.fixture(scope="module")
def reader(chromium: Any, browser_server: RealServer) -> Iterator[dict[str, Any]]:
    """Maria, signed in, with a consent the service read once and was refused once."""
    citizen = browser_server.demo["citizens"][0]
    service = Service(browser_server.base_url, browser_server.demo["services"][0])
    context = chromium.new_context(base_url=browser_server.base_url)
    try:
        consent_id = allow(context.new_page(), service, citizen)
        assert service.read().status_code == 200
        assert service.read(PERSON_URL + "?fields=national_id").status_code == 403
        yield {"storage": context.storage_state(), "consent": consent_id, "citizen": citizen,
               "service": service.registration}
    finally:
        context.close()


@pytest.fixture
def open_as_reader(new_page: Callable[..., Any], reader: dict[str, Any]
                   ) -> Callable[..., Any]:
    def open_(path: str, lang: str = "en", **options: Any) -> Any:
        page = new_page(lang=lang, storage_state=reader["storage"], **options)
        page.goto(path)
        page.wait_for_load_state()
        assert "/wallet/sign-in" not in page.url
        return page

    return open_


def _rows(page: Any, consent_id: str) -> int:
    return int(page.locator(f"#results tbody tr:has(a[href$='/consents/{consent_id}'])").count())


def test_history_filter(open_as_reader: Callable[..., Any], reader: dict[str, Any]) -> None:
    page = open_as_reader("/wallet/history")
    assert _rows(page, reader["consent"]) == 2
    today = datetime.now(CITY).date()
    page.select_option("#service", reader["service"]["client_id"])
    page.fill("#from", (today - timedelta(days=1)).isoformat())
    page.fill("#to", (today + timedelta(days=1)).isoformat())
    page.click("form[action$='/wallet/history'] button[type=submit]")
    page.wait_for_load_state()
    assert f"service={reader['service']['client_id']}" in page.url
    assert _rows(page, reader["consent"]) == 2
    assert page.is_visible("text=Show all reads")
    # A period with no reads says so, and keeps the filter in the form.
    page.fill("#from", (today + timedelta(days=1)).isoformat())
    page.click("form[action$='/wallet/history'] button[type=submit]")
    page.wait_for_load_state()
    assert _rows(page, reader["consent"]) == 0
    assert page.is_visible("text=No reads match these filters.")
    assert page.input_value("#from") == (today + timedelta(days=1)).isoformat()


def _download(page: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as started:
        page.click(selector)
    download = started.value
    path = download.path()
    assert download.failure() is None
    with open(path, "rb") as file:
        return str(download.suggested_filename), file.read()


def test_history_downloads(open_as_reader: Callable[..., Any], reader: dict[str, Any]) -> None:
    page = open_as_reader(f"/wallet/history?service={reader['service']['client_id']}")
    name, body = _download(page, "a[href^='/wallet/history.csv']")
    assert name.startswith("serdika-access-history-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    mine = [row for row in rows if row["consent_id"] == reader["consent"]]
    assert sorted(row["result"] for row in mine) == ["read", "refused"]

    name, body = _download(page, "a[href^='/wallet/history.json']")
    assert name.endswith(".json")
    document = json.loads(body)
    assert document["filters"]["service"] == reader["service"]["client_id"]
    assert len([read for read in document["reads"]
                if read["consent_id"] == reader["consent"]]) == 2


def test_my_data_page(open_as_reader: Callable[..., Any], reader: dict[str, Any]) -> None:
    page = open_as_reader("/wallet/")
    page.click("nav.main-nav a[href='/wallet/my-data']")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "My data"
    person = page.locator("section[aria-labelledby='source-civil_registry']")
    assert "Мария" in person.inner_text()
    assert reader["citizen"]["national_id"] in person.inner_text()
    meters = page.locator("section[aria-labelledby='source-meter_readings'] table").first
    assert meters.locator("tbody tr").count() == 12
    assert page.locator("section.own-source").count() >= 4


def test_export_page_and_downloads(open_as_reader: Callable[..., Any],
                                   reader: dict[str, Any]) -> None:
    page = open_as_reader("/wallet/account")
    page.click("a[href='/wallet/export']")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Export your data"
    name, body = _download(page, "main a[href='/wallet/export.json']")
    assert name.startswith("serdika-my-data-") and name.endswith(".json")
    document = json.loads(body)
    assert document["subject"]["username"] == reader["citizen"]["username"]
    assert reader["consent"] in {consent["id"] for consent in document["consents"]}
    assert document["receipts"] and document["access_history"] and document["my_data"]
    page.click("main a[href='/wallet/export.html']")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "All your data"
    # The demo citizen may hold other consents from other tests: find this one's section.
    sections = page.locator("#consents-title ~ section", has_text=reader["consent"])
    assert sections.count() == 1
    # Printed, the page is the document alone: no header, navigation or footer.
    page.emulate_media(media="print")
    assert not page.is_visible("header.site-header")
    assert not page.is_visible("footer.site-footer")
    assert page.is_visible("h1")


def test_history_screenshots(open_as_reader: Callable[..., Any]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_as_reader("/wallet/history", viewport=viewport)
        assert_no_horizontal_scroll(page, f"history ({size})")
        path = SCREENSHOTS / f"history-{size}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0


@pytest.mark.parametrize("lang", ["bg", "en"])
@pytest.mark.parametrize("path", ["/wallet/history", "/wallet/my-data", "/wallet/export",
                                  "/wallet/export.html"])
def test_pages_are_accessible(open_as_reader: Callable[..., Any], path: str,
                              lang: str) -> None:
    page = open_as_reader(path, lang)
    assert page.get_attribute("html", "lang") == lang
    assert page.locator("main#main").count() == 1 and page.locator("h1").count() == 1
    assert_no_violations(page, f"{path} ({lang}, desktop)")
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page, f"{path} ({lang}, 320 px phone)")
    assert_no_violations(page, f"{path} ({lang}, 320 px phone)")
