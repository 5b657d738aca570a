"""The citizen's wallet through the test client: sign-in, sessions, consents, revocation."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select, update

from consent.failures import failure_keys as _failure_keys
from consent.lifecycle import record_decision
from consent.models import AuthenticationFailure as SignInFailure
from consent.models import Consent, ConsentStatus, LedgerEntry, Receipt, Service, Subject
from consent.requests import AccessRequest, ScopeItem
from tests.flows import CITIZEN_PASSWORD, Flow, create_citizen, csrf_token

PASSWORD = CITIZEN_PASSWORD
REQUEST = AccessRequest("kindergarten_enrolment", "P90D", (
    ScopeItem("civil_registry", "person", ("given_name", "family_name")),))


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    """A fresh citizen, so lock-outs and consents of one test touch no other."""
    return create_citizen(broker, "w_")


@pytest.fixture
def en_client(client: Any) -> Any:
    """A client from its own address (per-address limits stay per test), reading English."""
    client.environ_base["REMOTE_ADDR"] = f"10.{secrets.randbelow(256)}." \
                                         f"{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    client.set_cookie("serdika_lang", "en")
    return client


def grant(broker: Any, citizen: dict[str, Any], client_id: str = "kindergartens",
          allow: bool = True) -> str:
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = record_decision(
            session, broker.domain, subject=session.get(Subject, citizen["id"]),
            service=session.scalar(select(Service).where(Service.client_id == client_id)),
            request=REQUEST, allow=allow, now=datetime.now(UTC))
    return consent.id


def status_of(broker: Any, consent_id: str) -> str:
    with broker.db.sessions() as session:
        return session.get(Consent, consent_id).status


def sign_in(client: Any, username: str, password: str, **extra: Any) -> Any:
    page = client.get("/wallet/sign-in")
    data = {"username": username, "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)), **extra}
    return client.post("/wallet/sign-in", data=data)


def signed_in(client: Any, citizen: dict[str, Any]) -> Any:
    response = sign_in(client, citizen["username"], citizen["password"])
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def failures(broker: Any, username: str) -> int:
    key = _failure_keys(username, "")[0]
    with broker.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(SignInFailure)
                              .where(SignInFailure.key == key))


def sid(client: Any) -> str | None:
    with client.session_transaction() as cookie:
        return cookie.get("sid")


# --- signing in -----------------------------------------------------------------------------

def test_sign_in_page(en_client):
    page = en_client.get("/wallet/sign-in")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'name="username"' in html and 'name="password"' in html
    assert 'type="password"' in html and csrf_token(html)


def test_wrong_password_is_a_clear_401_and_is_counted(en_client, broker, citizen):
    response = sign_in(en_client, citizen["username"], "not the password")
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "The username or password is not right" in html
    assert 'role="alert"' in html
    assert failures(broker, citizen["username"]) == 1
    assert sid(en_client) is None


def test_unknown_user_is_the_same_401(en_client):
    response = sign_in(en_client, "nobody_" + secrets.token_hex(4), "whatever password")
    assert response.status_code == 401
    assert "The username or password is not right" in response.get_data(as_text=True)


def test_five_failures_block_even_the_right_password(en_client, broker, citizen):
    for _ in range(5):
        assert sign_in(en_client, citizen["username"], "wrong password").status_code == 401
    blocked = sign_in(en_client, citizen["username"], citizen["password"])
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    assert sid(en_client) is None
    assert en_client.get("/wallet/").status_code == 302
    # The lock is this address's for this account: a stranger who knows the username cannot
    # keep the citizen out, and from an address that has not been failing they sign in.
    en_client.environ_base["REMOTE_ADDR"] = "10.255.255.254"
    assert sign_in(en_client, citizen["username"], citizen["password"]).status_code == 302


def test_guesses_spread_over_addresses_slow_to_one_per_address(app, broker, citizen):
    limit = broker.settings.sign_in_max_failures_per_account

    def attempt(address: str, password: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        client.set_cookie("serdika_lang", "en")
        return sign_in(client, citizen["username"], password).status_code

    guessers = [f"10.254.{secrets.randbelow(250)}.{n + 1}" for n in range(limit)]
    assert [attempt(address, "a guess") for address in guessers] == [401] * limit
    # Under attack, an address that has failed for this account waits out the window ...
    assert attempt(guessers[0], "another guess") == 429
    assert attempt(guessers[0], citizen["password"]) == 429
    # ... a new one gets one try ...
    newcomer = f"10.253.{secrets.randbelow(250)}.1"
    assert attempt(newcomer, "a guess") == 401
    assert attempt(newcomer, "a guess") == 429
    # ... and the citizen, from an address that has not been failing, signs in as always.
    assert attempt(f"10.252.{secrets.randbelow(250)}.1", citizen["password"]) == 302


def test_successful_sign_ins_are_never_counted(en_client, broker, citizen):
    for _ in range(10):
        response = sign_in(en_client, citizen["username"], citizen["password"])
        assert response.status_code == 302
        assert en_client.get("/wallet/").status_code == 200
    assert failures(broker, citizen["username"]) == 0


def test_failures_then_success_still_allowed_below_the_limit(en_client, citizen):
    for _ in range(4):
        assert sign_in(en_client, citizen["username"], "wrong password").status_code == 401
    assert sign_in(en_client, citizen["username"], citizen["password"]).status_code == 302


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_a_valid_csrf_token(en_client, broker, citizen, token):
    en_client.get("/wallet/sign-in")
    data = {"username": citizen["username"], "password": citizen["password"]}
    if token is not None:
        data["csrf_token"] = token
    response = en_client.post("/wallet/sign-in", data=data)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert sid(en_client) is None
    assert failures(broker, citizen["username"]) == 0


def test_session_cookie_is_httponly_and_samesite(client, citizen):
    response = sign_in(client, citizen["username"], citizen["password"])
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("serdika="))
    assert "HttpOnly" in session_cookie
    assert re.search(r"SameSite=(Lax|Strict)", session_cookie)


def test_the_session_id_changes_at_sign_in(client, citizen):
    signed_in(client, citizen)
    first = sid(client)
    old_cookie = client.get_cookie("serdika").value
    signed_in(client, citizen)
    second = sid(client)
    assert first and second and first != second
    assert client.get_cookie("serdika").value != old_cookie
    # The replaced session is gone on the server: its old cookie signs nobody in.
    client.set_cookie("serdika", old_cookie)
    response = client.get("/wallet/")
    assert response.status_code == 302 and "/wallet/sign-in" in response.headers["Location"]


def test_a_planted_session_is_replaced_at_sign_in(client, citizen):
    with client.session_transaction() as cookie:
        cookie["sid"] = "planted-by-an-attacker"
    signed_in(client, citizen)
    assert sid(client) not in (None, "planted-by-an-attacker")


def test_sign_out_ends_the_session(client, citizen):
    signed_in(client, citizen)
    home = client.get("/wallet/")
    assert home.status_code == 200
    cookie_before = client.get_cookie("serdika").value
    out = client.post("/wallet/sign-out",
                      data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    assert out.status_code == 302 and out.headers["Location"].endswith("/wallet/sign-in")
    assert sid(client) is None
    after = client.get("/wallet/")
    assert after.status_code == 302 and "/wallet/sign-in" in after.headers["Location"]
    client.set_cookie("serdika", cookie_before)  # replaying the old cookie does not help
    assert client.get("/wallet/").status_code == 302


def test_sign_out_needs_the_csrf_token(client, citizen):
    signed_in(client, citizen)
    assert client.post("/wallet/sign-out").status_code == 400
    assert client.get("/wallet/").status_code == 200


def test_wallet_home_redirects_to_sign_in_and_back(client, citizen):
    response = client.get("/wallet/")
    assert response.status_code == 302
    assert "/wallet/sign-in?next=/wallet/" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    back = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "next": "/wallet/", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert back.status_code == 302 and back.headers["Location"] == "/wallet/"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example", "//evil.example/wallet/", "/\\evil.example",
    "\\\\evil.example", "https:evil.example", "/\t/evil.example", " //evil.example",
    "javascript:alert(1)", "http://localhost.evil.example/", "/%2F/evil.example\r\nX-A: b",
])
def test_next_cannot_leave_the_site(client, citizen, target):
    page = client.get("/wallet/sign-in", query_string={"next": target})
    assert page.status_code == 200
    response = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"], "next": target,
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "\r" not in location and "\n" not in location and "\t" not in location
    assert "X-A" not in response.headers
    language = client.get("/wallet/language", query_string={"lang": "en", "next": target})
    assert language.status_code == 302
    assert language.headers["Location"].startswith("/")
    assert not language.headers["Location"].startswith(("//", "/\\"))


# --- consents -------------------------------------------------------------------------------

def test_home_lists_active_consents_and_history(en_client, broker, citizen):
    active = grant(broker, citizen)
    denied = grant(broker, citizen, allow=False)
    signed_in(en_client, citizen)
    html = en_client.get("/wallet/").get_data(as_text=True)
    active_part, history_part = html.split('id="history-title"')
    assert f"/wallet/consents/{active}" in active_part
    assert f"/wallet/consents/{denied}" in history_part
    assert "Refused by you" in history_part
    assert "Expires in 90 days" in active_part  # P90D, given a moment ago


def _ended(broker: Any, consent_id: str, **values: Any) -> None:
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Consent).where(Consent.id == consent_id).values(**values))


@pytest.mark.parametrize("lang, words", [
    ("en", ["Withdrawn by you on March 29, 2026", "Expired on February 1, 2026",
            "Refused by you on January 15, 2026"]),
    ("bg", ["Оттеглено от Вас на 29 март 2026 г.", "Изтекло на 1 февруари 2026 г.",
            "Отказано от Вас на 15 януари 2026 г."]),
])
def test_the_history_says_when_each_consent_ended(client, broker, citizen, lang, words):
    """Each ended consent says when it ended, in the citizen's language, on Sofia's calendar."""
    withdrawn, expired, refused = grant(broker, citizen), grant(broker, citizen), \
        grant(broker, citizen, allow=False)
    # 22:30 UTC on 28 March is half past midnight on 29 March in Sofia.
    _ended(broker, withdrawn, status=ConsentStatus.REVOKED,
           revoked_at=datetime(2026, 3, 28, 22, 30, tzinfo=UTC))
    _ended(broker, expired, status=ConsentStatus.EXPIRED,
           expires_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    _ended(broker, refused, decided_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    client.set_cookie("serdika_lang", lang)
    signed_in(client, citizen)
    html = client.get("/wallet/").get_data(as_text=True)
    history = html.split('id="history-title"')[1]
    for consent_id, word in zip((withdrawn, expired, refused), words, strict=True):
        row = history.split(f"/wallet/consents/{consent_id}")[1].split("</tr>")[0]
        assert word in row.replace("\u202f", " ").replace("\xa0", " "), row


def test_consent_page_and_receipt(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    page = en_client.get(f"/wallet/consents/{consent_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and consent_id in html
    assert "Given name" in html and "Family name" in html
    assert f'action="/wallet/consents/{consent_id}/revoke"' in html
    link = re.search(rf'href="(/wallet/consents/{consent_id}/receipts/[^"]+)"', html)
    assert link
    receipt = en_client.get(link.group(1))
    assert receipt.status_code == 200 and receipt.mimetype == "application/json"
    assert "attachment" in receipt.headers["Content-Disposition"]
    claims = jwt.decode(receipt.get_json()["receipt"], broker.keys.signing_key.public_key(),
                        algorithms=["EdDSA"])
    assert claims["consent_id"] == consent_id and claims["receipt_kind"] == "grant"


def test_another_citizens_consent_is_not_found(en_client, broker, citizen, demo):
    theirs = grant(broker, citizen)
    other = demo["citizens"][2]
    signed_in(en_client, other)
    for url in (f"/wallet/consents/{theirs}", f"/wallet/consents/{theirs}/receipts/x"):
        response = en_client.get(url)
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert "Kindergarten" not in html and "Given name" not in html
    with broker.db.sessions() as session:
        receipt_id = session.scalar(select(Receipt.id).where(Receipt.consent_id == theirs))
    assert en_client.get(f"/wallet/consents/{theirs}/receipts/{receipt_id}"
                         ).status_code == 404
    home = en_client.get("/wallet/")
    revoke = en_client.post(f"/wallet/consents/{theirs}/revoke",
                            data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    assert revoke.status_code == 404
    assert status_of(broker, theirs) == ConsentStatus.ACTIVE
    assert en_client.get(f"/wallet/consents/{theirs}/withdrawn").status_code == 404
    assert theirs not in home.get_data(as_text=True)


def test_unknown_or_overlong_consent_id(en_client, citizen):
    signed_in(en_client, citizen)
    assert en_client.get("/wallet/consents/cns_nope").status_code == 404
    assert en_client.get("/wallet/consents/" + "x" * 500).status_code == 404


def test_revoke_needs_the_csrf_token(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    en_client.get(f"/wallet/consents/{consent_id}")
    for data in ({}, {"csrf_token": "forged"}):
        response = en_client.post(f"/wallet/consents/{consent_id}/revoke", data=data)
        assert response.status_code == 400
        assert "Nothing was changed" in response.get_data(as_text=True)
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE


def test_revoke_after_the_session_ended_leads_back_to_the_consent(client, broker, citizen):
    consent_id = grant(broker, citizen)
    page = client.get("/wallet/sign-in")
    response = client.post(f"/wallet/consents/{consent_id}/revoke",
                           data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE
    signed = client.get(response.headers["Location"])
    back = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "next": re.search(r'name="next" value="([^"]+)"', signed.get_data(as_text=True))[1],
        "csrf_token": csrf_token(signed.get_data(as_text=True))})
    assert back.headers["Location"] == f"/wallet/consents/{consent_id}"
    assert client.get(back.headers["Location"]).status_code == 200


def test_revoke_twice_is_harmless(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    page = en_client.get(f"/wallet/consents/{consent_id}")
    token = csrf_token(page.get_data(as_text=True))
    first = en_client.post(f"/wallet/consents/{consent_id}/revoke", data={"csrf_token": token})
    second = en_client.post(f"/wallet/consents/{consent_id}/revoke", data={"csrf_token": token})
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"] == \
        f"/wallet/consents/{consent_id}/withdrawn"
    assert status_of(broker, consent_id) == ConsentStatus.REVOKED
    shown = en_client.get(second.headers["Location"])
    assert shown.status_code == 200
    assert "Consent withdrawn" in shown.get_data(as_text=True)
    html = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert "Withdrawn by you" in html
    assert f'action="/wallet/consents/{consent_id}/revoke"' not in html
    assert "Signed receipt of the withdrawal" in html
    assert html.count("/receipts/rct_") == 2  # one grant, one withdrawal: not two withdrawals
    with broker.db.sessions() as session:
        events = session.scalars(select(LedgerEntry.event)
                                 .where(LedgerEntry.consent_id == consent_id)).all()
    assert events.count("consent:revoked") == 1


def test_withdrawn_page_gives_a_reference_and_what_happens_next(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    page = en_client.get(f"/wallet/consents/{consent_id}")
    response = en_client.post(f"/wallet/consents/{consent_id}/revoke",
                              data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    shown = en_client.get(response.headers["Location"])
    html = shown.get_data(as_text=True)
    with broker.db.sessions() as session:
        receipt = session.scalar(select(Receipt).where(Receipt.consent_id == consent_id,
                                                       Receipt.kind == "revocation"))
        entry = session.get(LedgerEntry, receipt.ledger_index)
    assert entry.event == "consent:revoked" and entry.consent_id == consent_id
    panel = html.split("<h1>Consent withdrawn</h1>")[1].split("</div>")[0]
    assert "Sofia Municipality — Kindergartens" in panel and "Withdrawn on" in panel
    reference = html.split('id="reference-title"')[1]
    assert consent_id in reference and f"<dd>{receipt.ledger_index}</dd>" in reference
    assert "What happens next" in html
    assert "can no longer read your data" in html and "stop working immediately" in html
    assert "ask the service to erase it" in html
    link = f'href="/wallet/consents/{consent_id}/receipts/{receipt.id}"'
    assert link in html
    assert en_client.get(f"/wallet/consents/{consent_id}/receipts/{receipt.id}"
                         ).get_json()["entry"]["event"] == "consent:revoked"
    assert 'href="/wallet/consents"' in html or 'href="/wallet/"' in html


def _words(html: str) -> str:
    """The page's text as read: tags removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_references_come_after_the_service_purpose_and_date(en_client, broker, citizen):
    """The citizen reads who, what for and when first; ids are in a "Reference" part below."""
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    page = _words(en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True))
    assert "Kindergarten enrolment" in page.split("Reference")[0] or \
        "kindergarten" in page.split("Reference")[0].lower()
    assert page.index("Reference") < page.index(consent_id)
    token = csrf_token(en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True))
    en_client.post(f"/wallet/consents/{consent_id}/revoke", data={"csrf_token": token})
    shown = _words(en_client.get(f"/wallet/consents/{consent_id}/withdrawn")
                   .get_data(as_text=True))
    before, after = shown.split("Reference", 1)
    assert "Withdrawn on" in before and "What happens next" in before
    assert consent_id not in before
    assert consent_id in after and "Entry in the public log" in after


def test_the_title_is_plain_words_and_an_erasure_request_is_referenced_below(en_client, broker,
                                                                             citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    token = csrf_token(en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True))
    assert en_client.post(f"/wallet/consents/{consent_id}/erasure",
                          data={"csrf_token": token}).status_code in (302, 303)
    html = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and consent_id not in title and "Reference" not in title
    erasure_id = re.search(r"era_[A-Za-z0-9_-]+", html)
    assert erasure_id is not None
    words = _words(html)
    before, after = words.split("Reference", 1)
    assert "the service has not confirmed the erasure yet" in before
    assert erasure_id.group(0) not in before and erasure_id.group(0) in after


def test_withdrawn_page_of_a_consent_still_in_force_leads_to_the_consent(en_client, broker,
                                                                          citizen):
    consent_id = grant(broker, citizen)
    signed_in(en_client, citizen)
    response = en_client.get(f"/wallet/consents/{consent_id}/withdrawn")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/wallet/consents/{consent_id}"
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE


def test_withdrawn_page_needs_sign_in(client, broker, citizen):
    consent_id = grant(broker, citizen)
    response = client.get(f"/wallet/consents/{consent_id}/withdrawn")
    assert response.status_code == 302 and "/wallet/sign-in" in response.headers["Location"]


def test_revoke_through_the_oauth_flow_stops_reads(client, demo):
    # A demo citizen: the civil registry holds their record.
    flow = Flow(client, demo["services"][0], demo["citizens"][1])
    tokens = flow.tokens()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/data/civil_registry/person", headers=headers).status_code == 200
    page = client.get(f"/wallet/consents/{tokens['consent_id']}")
    client.post(f"/wallet/consents/{tokens['consent_id']}/revoke",
                data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert client.get("/api/v1/data/civil_registry/person", headers=headers).status_code == 401


# --- every page -----------------------------------------------------------------------------

def test_every_html_response_has_a_strict_csp(client, broker, citizen):
    consent_id = grant(broker, citizen)
    responses = [client.get("/wallet/sign-in"), client.get("/wallet/nowhere"),
                 client.post("/wallet/sign-in", data={}),
                 sign_in(client, citizen["username"], "wrong password")]
    signed_in(client, citizen)
    responses += [client.get("/wallet/"), client.get(f"/wallet/consents/{consent_id}"),
                  client.get("/wallet/consents/cns_nope"), client.get("/wallet/sign-out")]
    for response in responses:
        assert response.mimetype == "text/html", response.status
        policy = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'none'" in policy or "default-src 'self'" in policy, response.status
        assert "script-src" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "<script>" not in response.get_data(as_text=True)
        assert " style=" not in response.get_data(as_text=True)


def test_unknown_wallet_url_is_a_404_page_in_bulgarian_by_default(client):
    response = client.get("/wallet/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert '<html lang="bg">' in html
    heading = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
    assert re.search("[А-Яа-я]", heading), f"the heading is not in Bulgarian: {heading!r}"
    assert "Traceback" not in html


def test_unknown_wallet_url_in_english_on_request(en_client):
    response = en_client.get("/wallet/no-such-page")
    assert response.status_code == 404
    assert '<html lang="en">' in response.get_data(as_text=True)
    assert "Page not found" in response.get_data(as_text=True)
