"""The wallet in a real browser: Debian's Chromium driven by Playwright against the real server.

One broker per session (gunicorn on loopback, SQLite, the demo data: the functional tests
cover PostgreSQL) and one headless Chromium at ``/usr/bin/chromium``; each test gets a fresh
browser context (its own cookies). Without Chromium or Playwright the tests are skipped on a
developer's machine and fail under ``CI=true``, where ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import REDIRECT_URI, RealServer, Service, person_details

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"  # git-ignored
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 320, "height": 640}
LANG_COOKIE = "serdika_lang"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the wallet in headless Chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {reason} under CI (.ci/run installs it)")
    pytest.skip(f"{reason} is not available")


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    base = tmp_path_factory.mktemp("browser")
    server = RealServer(database_url=f"sqlite:///{base / 'serdika.sqlite3'}",
                        var_dir=base / "var", log_path=base / "server.log", workers=2)
    with server.serving():
        yield server


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Service</title><p>The service got the answer.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def service_callback() -> Iterator[None]:
    """The demo service's redirect URI, answered, so the browser lands on a real page.

    (A Playwright route cannot answer it: the target of a redirect is never routed.)
    """
    parts = urlsplit(REDIRECT_URI)
    try:
        server = ThreadingHTTPServer((str(parts.hostname), int(parts.port or 80)), _Callback)
    except OSError as exc:
        raise RuntimeError(f"the browser tests answer {REDIRECT_URI} themselves: {exc}") from exc
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def chromium(service_callback: None) -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(str(CHROMIUM))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium: Any, browser_server: RealServer) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh context: ``new_page(lang="en", viewport=PHONE)``."""
    contexts = []
    csp_reports: list[str] = []

    def make(lang: str | None = None, **options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        context = chromium.new_context(base_url=browser_server.base_url, **options)
        context.set_default_timeout(10_000)
        if lang is not None:
            context.add_cookies([{"name": LANG_COOKIE, "value": lang,
                                  "url": browser_server.base_url}])
        contexts.append(context)
        page = context.new_page()
        # The pages live under a strict CSP: anything it blocks is a bug in a page.
        page.on("console", lambda message: csp_reports.append(message.text)
                if "Content Security Policy" in message.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not csp_reports, f"the Content-Security-Policy blocked: {csp_reports}"


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def citizen(browser_server: RealServer) -> dict[str, Any]:
    return dict(browser_server.demo["citizens"][0])


@pytest.fixture
def service(browser_server: RealServer) -> Service:
    return Service(browser_server.base_url, browser_server.demo["services"][0])


@pytest.fixture(scope="session")
def wallet_state(chromium: Any, browser_server: RealServer) -> Iterator[dict[str, Any]]:
    """A signed-in citizen with one active and one withdrawn consent."""
    citizen = browser_server.demo["citizens"][0]
    service = Service(browser_server.base_url, browser_server.demo["services"][0])
    context = chromium.new_context(base_url=browser_server.base_url)
    try:
        page = context.new_page()
        withdrawn = allow(page, service, citizen)
        page.goto(f"/wallet/consents/{withdrawn}")
        page.click(f"form[action$='/{withdrawn}/revoke'] button")
        page.wait_for_load_state()
        active = allow(page, service, citizen, signed_in=True)
        yield {"storage": context.storage_state(), "active": active, "withdrawn": withdrawn,
               "service": service, "citizen": citizen}
    finally:
        context.close()


def request_url(service: Service) -> str:
    """The service's authorization URL: PKCE S256 and RFC 9396 authorization details."""
    return service.authorization_url(
        person_details(purpose=service.registration["purposes"][0]))


def sign_in(page: Any, citizen: dict[str, Any]) -> None:
    """Fill and send the sign-in form on the page shown."""
    page.fill("#username", citizen["username"])
    page.fill("#password", citizen["password"])
    page.click("form[action*='/wallet/sign-in'] button[type=submit]")
    page.wait_for_load_state()


def allow(page: Any, service: Service, citizen: dict[str, Any], untick: tuple[str, ...] = (),
          signed_in: bool = False) -> str:
    """Open the service's link, sign in if asked, allow; return the consent id."""
    page.goto(request_url(service))
    if not signed_in:
        sign_in(page, citizen)
    choose_me(page)
    for name in untick:
        page.uncheck(f"input[name=fields][value='civil_registry.person.{name}']")
    location = answer(page, lambda: page.click("button[name=decision][value=allow]"))
    token = service.fetch_token(service.code_from(location))
    return str(token["consent_id"])


def choose_me(page: Any) -> None:
    """A parent is asked whose data a request is about, nobody chosen for them: choose
    themself (a citizen without children is not asked)."""
    if page.locator("input[type=radio][name=subject]").count():
        page.check("#subject-me")


def answer(page: Any, act: Callable[[], None]) -> str:
    """Do ``act`` (answering the consent page); return where the browser was sent."""
    with page.expect_request(f"{REDIRECT_URI}**") as sent:
        act()
    page.wait_for_url(f"{REDIRECT_URI}**")
    return str(sent.value.url)
