"""The account page: sessions, sign out everywhere, erasure; and the accessibility statement."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from sqlalchemy import func, select

from consent.ledger import rfc9162
from consent.models import Consent, Subject
from tests.flows import Flow, create_citizen, csrf_token
from wallet_ui.models import WalletSession


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    """A fresh citizen: these tests sign them out and erase them."""
    return create_citizen(broker, "acct_")


def _english(client: Any) -> Any:
    client.environ_base["REMOTE_ADDR"] = f"10.{secrets.randbelow(256)}." \
                                         f"{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    client.set_cookie("serdika_lang", "en")
    return client


@pytest.fixture
def en_client(client: Any) -> Any:
    return _english(client)


@pytest.fixture
def other_client(app: Any) -> Any:
    """A second browser."""
    return _english(app.test_client())


def sign_in(client: Any, citizen: dict[str, Any]) -> Any:
    page = client.get("/wallet/sign-in")
    response = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def sessions_of(broker: Any, citizen: dict[str, Any]) -> int:
    with broker.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(WalletSession)
                              .where(WalletSession.subject_id == citizen["id"]))


def form_token(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return csrf_token(page.get_data(as_text=True))


FIREFOX_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
                      "Firefox/128.0")
SAFARI_ON_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize("lang, words", [
    ("en", ["Firefox 128 on Windows", "Mobile Safari 17 on iOS", "Last active",
            "Active now", "1 hour ago"]),
    ("bg", ["Firefox 128 на Windows", "Mobile Safari 17 на iOS", "Последно действие",
            "Активна сега", "преди 1 час"]),
])
def test_each_session_names_its_browser_and_system_and_when_it_was_used(
        app: Any, broker: Any, citizen: dict[str, Any], lang: str, words: list[str]) -> None:
    """Sessions are told apart by browser and system, and when each was last used."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    phone, desktop = app.test_client(), app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = SAFARI_ON_IPHONE
    desktop.environ_base["HTTP_USER_AGENT"] = FIREFOX_ON_WINDOWS
    for client in (phone, desktop):
        client.environ_base["REMOTE_ADDR"] = f"10.1.{secrets.randbelow(256)}.1"
        client.set_cookie("serdika_lang", lang)
        sign_in(client, citizen)
    with broker.db.sessions() as session, broker.db.writing(session):
        # The phone was last used an hour ago.
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=5)
        session.execute(update(WalletSession)
                        .where(WalletSession.subject_id == citizen["id"],
                               WalletSession.browser.like("Mobile Safari%"))
                        .values(created_at=an_hour_ago, last_seen_at=an_hour_ago))
    html = desktop.get("/wallet/account").get_data(as_text=True)
    for word in words:
        assert word in html, word
    # Only a short description is stored, never the header itself.
    with broker.db.sessions() as session:
        rows = session.scalars(select(WalletSession)
                               .where(WalletSession.subject_id == citizen["id"])).all()
        stored = {(row.browser, row.system) for row in rows}
    assert stored == {("Firefox 128", "Windows"), ("Mobile Safari 17", "iOS")}


def test_an_unknown_browser_is_said_plainly(app: Any, citizen: dict[str, Any]) -> None:
    client = _english(app.test_client())
    client.environ_base["HTTP_USER_AGENT"] = "x" * 5000
    sign_in(client, citizen)
    html = client.get("/wallet/account").get_data(as_text=True)
    assert "Unknown browser" in html


def test_using_the_wallet_moves_last_active(app: Any, broker: Any,
                                           citizen: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    client = sign_in(_english(app.test_client()), citizen)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(WalletSession).where(WalletSession.subject_id == citizen["id"])
                        .values(last_seen_at=long_ago))
    assert client.get("/wallet/").status_code == 200
    with broker.db.sessions() as session:
        seen = session.scalar(select(WalletSession.last_seen_at)
                              .where(WalletSession.subject_id == citizen["id"]))
    assert seen is not None and seen > long_ago + timedelta(hours=1)


def test_signed_out_account_pages_go_to_sign_in(client: Any) -> None:
    for path in ("/wallet/account", "/wallet/account/erase"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/wallet/sign-in?next=" in response.headers["Location"]


def test_the_account_page_lists_every_session_and_marks_this_one(
        en_client: Any, other_client: Any, citizen: dict[str, Any]) -> None:
    sign_in(other_client, citizen)
    sign_in(en_client, citizen)
    page = en_client.get("/wallet/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert citizen["username"] in html
    assert html.count("<tr>") == 3  # a header row and two sessions
    assert html.count("This device") == 1
    assert "Another device or browser" in html
    assert "Sign out everywhere" in html
    assert "/wallet/language?lang=bg" in html
    assert 'href="/wallet/account/erase"' in html
    assert 'href="/wallet/account"' in html  # the navigation link


def test_sign_out_everywhere_ends_every_session(
        broker: Any, en_client: Any, other_client: Any, citizen: dict[str, Any]) -> None:
    sign_in(other_client, citizen)
    sign_in(en_client, citizen)
    assert sessions_of(broker, citizen) == 2
    response = en_client.post("/wallet/account/sign-out-everywhere",
                              data={"csrf_token": form_token(en_client, "/wallet/account")})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/wallet/sign-in")
    landing = en_client.get("/wallet/sign-in").get_data(as_text=True)
    assert "signed out on every device" in landing
    assert sessions_of(broker, citizen) == 0
    for browser in (en_client, other_client):
        assert browser.get("/wallet/account").status_code == 302
        assert browser.get("/wallet/").status_code == 302


def test_a_form_without_its_csrf_token_changes_nothing(
        broker: Any, en_client: Any, citizen: dict[str, Any]) -> None:
    sign_in(en_client, citizen)
    for path, data in (("/wallet/account/sign-out-everywhere", {}),
                       ("/wallet/account/erase", {"confirm_username": citizen["username"]})):
        response = en_client.post(path, data=data)
        assert response.status_code == 400
        assert "Nothing was changed" in response.get_data(as_text=True)
    assert sessions_of(broker, citizen) == 1
    with broker.db.sessions() as session:
        assert session.get(Subject, citizen["id"]).erased_at is None


@pytest.mark.parametrize("typed", ["", "someone-else", "UPPER CASE"])
def test_erasure_without_the_right_confirmation_changes_nothing(
        broker: Any, en_client: Any, citizen: dict[str, Any], typed: str) -> None:
    sign_in(en_client, citizen)
    token = form_token(en_client, "/wallet/account/erase")
    if typed == "UPPER CASE":
        typed = citizen["username"].upper()  # the username must match exactly
    response = en_client.post("/wallet/account/erase",
                              data={"csrf_token": token, "confirm_username": typed})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "Nothing was changed" in html
    with broker.db.sessions() as session:
        assert session.get(Subject, citizen["id"]).erased_at is None
    assert en_client.get("/wallet/account").status_code == 200


def test_erasure_withdraws_consents_and_ends_the_account(
        broker: Any, demo: Any, client: Any, other_client: Any,
        citizen: dict[str, Any]) -> None:
    _english(client)
    tokens = Flow(client, demo["services"][0], citizen).tokens()  # signs ``client`` in
    sign_in(other_client, citizen)
    head_before = client.get("/api/v1/audit/tree-head").get_json()

    token = form_token(client, "/wallet/account/erase")
    response = client.post("/wallet/account/erase",
                           data={"csrf_token": token, "confirm_username": citizen["username"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Your account has been erased" in html
    assert "1 consent that was still active has been withdrawn" in html
    assert 'href="/wallet/account"' not in html  # signed out: no wallet navigation

    with broker.db.sessions() as session:
        subject = session.get(Subject, citizen["id"])
        assert subject.erased_at is not None
        assert subject.pseudonym_key_ciphertext is None
        assert session.get(Consent, tokens["consent_id"]).status == "revoked"
    assert sessions_of(broker, citizen) == 0
    for browser in (client, other_client):
        assert browser.get("/wallet/account").status_code == 302
    read = client.get("/api/v1/data/civil_registry/person",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 401

    # The old username signs in no more.
    page = client.get("/wallet/sign-in")
    again = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert again.status_code == 401

    # The ledger grew and the old head is consistent with the new one.
    head_after = client.get("/api/v1/audit/tree-head").get_json()
    assert head_after["tree_size"] > head_before["tree_size"]
    auditor = demo["auditors"][0]
    raw = base64.b64encode(f"{auditor['client_id']}:{auditor['client_secret']}".encode())
    bearer = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": "Basic " + raw.decode()}).get_json()
    proof = client.get(
        f"/api/v1/audit/proofs/consistency?first={head_before['tree_size']}"
        f"&second={head_after['tree_size']}",
        headers={"Authorization": f"Bearer {bearer['access_token']}"}).get_json()
    assert rfc9162.verify_consistency(
        head_before["tree_size"], head_after["tree_size"],
        base64.b64decode(head_before["root_hash"]), base64.b64decode(head_after["root_hash"]),
        [base64.b64decode(h) for h in proof["consistency_path"]])


@pytest.mark.parametrize("lang, words", [
    ("bg", ["accessibility@sofia.example", "EN 301 549", "WCAG 2.1"]),
    ("en", ["Accessibility statement", "accessibility@sofia.example",
            "State e-Government Agency", "Държавна агенция „Електронно управление“",
            "EN 301 549", "WCAG 2.1", "November 26, 2026"]),
])
def test_the_accessibility_statement_needs_no_sign_in(client: Any, lang: str,
                                                      words: list[str]) -> None:
    client.set_cookie("serdika_lang", lang)
    page = client.get("/wallet/accessibility")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    for word in words:
        assert word in html
    assert "Commission for Personal Data Protection" not in html
    assert 'href="/wallet/accessibility"' in html  # the footer link


def test_the_accessibility_contact_is_configured(app: Any, client: Any) -> None:
    """SERDIKA_ACCESSIBILITY_EMAIL is the statement's contact, in every language."""
    from dataclasses import replace

    from broker.config import load_settings
    from wallet_ui.ports import EXTENSION

    assert load_settings(env={}).accessibility_email == "accessibility@sofia.example"
    configured = load_settings(env={"SERDIKA_ACCESSIBILITY_EMAIL": " access@city.example "})
    assert configured.accessibility_email == "access@city.example"
    parts = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = replace(
        parts, settings=replace(parts.settings, accessibility_email="access@city.example"))
    try:
        for lang in ("bg", "en"):
            client.set_cookie("serdika_lang", lang)
            html = client.get("/wallet/accessibility").get_data(as_text=True)
            assert 'href="mailto:access@city.example"' in html
            assert "sofia.example" not in html
    finally:
        app.extensions[EXTENSION] = parts
