"""The data export (GDPR Art. 15 and 20): the page, the streamed JSON, the printable HTML."""

from __future__ import annotations

import json
import re
from typing import Any

import jwt
import pytest
from flask import Flask

from consent.ledger.jwk import public_key_from_jwk
from consent.receipts import RECEIPT_TYPE
from tests.flows import Flow, create_citizen, person_details, revoke_in_wallet
from tests.functional.test_my_data import signed_in

PERSON = "/api/v1/data/civil_registry/person"


@pytest.fixture
def history(app: Flask, broker: Any, demo: Any) -> dict[str, Any]:
    """A fresh citizen with one withdrawn consent, one active consent and a read of it."""
    citizen = create_citizen(broker, "x_")
    client = signed_in(app, citizen)
    service = demo["services"][0]
    withdrawn = Flow(client, service, citizen, details=person_details(["given_name"])).tokens()
    revoke_in_wallet(client, withdrawn["consent_id"])
    active = Flow(client, service, citizen,
                  details=person_details(["given_name", "family_name"])).tokens()
    # The civil registry holds no record of this citizen: the read is refused by the source.
    read = client.get(PERSON, headers={"Authorization": f"Bearer {active['access_token']}"})
    assert read.status_code == 404
    return {"citizen": citizen, "client": client, "withdrawn": withdrawn["consent_id"],
            "active": active["consent_id"], "service": service}


def _export(client: Any) -> dict[str, Any]:
    response = client.get("/wallet/export.json")
    assert response.status_code == 200
    assert response.is_streamed, "the export is written as it is read"
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r'attachment; filename="serdika-my-data-\d{4}-\d{2}-\d{2}\.json"',
                        response.headers["Content-Disposition"])
    document: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return document


def test_the_export_page_links_both_forms(app: Flask, demo: Any) -> None:
    client = signed_in(app, demo["citizens"][0])
    response = client.get("/wallet/export")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<h1>Export your data</h1>" in html
    assert 'href="/wallet/export.json" download' in html
    assert 'href="/wallet/export.html"' in html
    account = client.get("/wallet/account").get_data(as_text=True)
    assert 'href="/wallet/export.json"' in account and 'href="/wallet/export.html"' in account
    assert 'href="/wallet/my-data"' in account


def test_the_json_export_holds_consents_receipts_history_and_my_data(
        history: dict[str, Any], broker: Any) -> None:
    document = _export(history["client"])
    assert set(document) == {"format", "version", "generated_at", "subject", "consents",
                             "receipts", "access_history", "notifications", "my_data",
                             "verification"}
    assert document["subject"]["username"] == history["citizen"]["username"]
    assert document["subject"]["locale"] == "bg"
    assert document["subject"]["created_at"].endswith("Z")

    consents = {consent["id"]: consent for consent in document["consents"]}
    assert set(consents) == {history["withdrawn"], history["active"]}
    withdrawn, active = consents[history["withdrawn"]], consents[history["active"]]
    assert withdrawn["status"] == "revoked" and withdrawn["revoked_at"]
    assert active["status"] == "active" and active["expires_at"] and active["revoked_at"] is None
    assert active["service"]["client_id"] == history["service"]["client_id"]
    assert active["purpose"]["code"] == "kindergarten_enrolment"
    assert active["purpose"]["legal_basis"]
    assert active["scope"][0]["fields"] == ["given_name", "family_name"]
    assert active["scope"][0]["connector"] == "civil_registry"

    # Every receipt: the grants and the withdrawal, each verifying with the exported key.
    kinds: dict[str, list[str]] = {}
    (key,) = document["verification"]["jwks"]["keys"]
    assert document["verification"]["jwks_uri"].endswith("/oauth2/jwks")
    public_key = public_key_from_jwk(key)
    for receipt in document["receipts"]:
        assert jwt.get_unverified_header(receipt["jws"])["typ"] == RECEIPT_TYPE
        claims = jwt.decode(receipt["jws"], public_key, algorithms=["EdDSA"],
                            options={"verify_aud": False})
        assert claims["consent_id"] == receipt["consent_id"]
        kinds.setdefault(receipt["consent_id"], []).append(claims["receipt_kind"])
    assert sorted(kinds[history["withdrawn"]]) == ["grant", "revocation"]
    assert kinds[history["active"]] == ["grant"]

    (read,) = document["access_history"]
    assert read["consent_id"] == history["active"] and read["result"] == "refused"
    assert read["reason"] == "source:SubjectNotFound"

    assert isinstance(document["notifications"], list)
    sources = {source["connector"]: source for source in document["my_data"]}
    assert set(sources) == set(broker.connectors)
    assert all(source["result"] == "not_found" for source in sources.values())


def test_the_json_export_of_the_demo_citizen_holds_their_data(app: Flask, demo: Any) -> None:
    maria = demo["citizens"][0]
    document = _export(signed_in(app, maria))
    sources = {source["connector"]: source for source in document["my_data"]}
    person = next(resource for resource in sources["civil_registry"]["resources"]
                  if resource["resource"] == "person")
    assert person["result"] == "read"
    assert person["data"]["given_name"] == "Мария"
    assert person["data"]["national_id"] == maria["national_id"]
    assert person["labels"]["given_name"]
    electricity = next(resource for resource in sources["meter_readings"]["resources"]
                       if resource["resource"] == "electricity")
    assert electricity["window"]["granularity"] == "monthly"
    assert len(electricity["data"]["consumption"]) == 12
    text = json.dumps(document, ensure_ascii=False)
    for other in demo["citizens"][1:]:
        assert other["national_id"] not in text


def test_another_citizens_consents_are_not_exported(history: dict[str, Any], app: Flask,
                                                    broker: Any) -> None:
    stranger = create_citizen(broker, "y_")
    document = _export(signed_in(app, stranger))
    assert document["consents"] == [] and document["receipts"] == []
    assert document["access_history"] == [] and document["notifications"] == []
    text = json.dumps(document)
    assert history["active"] not in text and history["withdrawn"] not in text


def test_the_printable_export_is_a_readable_page(history: dict[str, Any]) -> None:
    response = history["client"].get("/wallet/export.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.is_streamed
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "<h1>All your data</h1>" in html
    for title in ("Your account", "Consents", "Receipts", "Access history",
                  "Notifications", "What the sources hold about you"):
        assert f">{title}</h2>" in html, title
    assert history["citizen"]["username"] in html
    assert history["active"] in html and history["withdrawn"] in html
    assert "Withdrawn by you" in html and "Active" in html
    assert "The data source holds no record of you." in html  # the refused read
    assert html.count('<th scope="col">') >= 4
    assert html.count('Consent given') == 2 and html.count('Consent withdrawn') == 1
    assert "<caption" in html
    assert "style=" not in html and "<style" not in html and "<script" not in html
    assert "This source holds no record of you." in html


def test_the_printable_export_of_the_demo_citizen_in_bulgarian(app: Flask, demo: Any) -> None:
    html = signed_in(app, demo["citizens"][0], "bg").get("/wallet/export.html") \
        .get_data(as_text=True)
    assert '<html lang="bg">' in html
    assert "Мария" in html and demo["citizens"][0]["national_id"] in html
    assert demo["citizens"][2]["national_id"] not in html


def test_the_stylesheet_has_print_rules(client: Any) -> None:
    css = client.get("/wallet/static/wallet.css").get_data(as_text=True)
    assert "@media print" in css


def test_lists_are_read_in_keyset_chunks(history: dict[str, Any], broker: Any) -> None:
    """Chunks of one row give what one chunk gives: nothing skipped, nothing repeated."""
    from wallet_ui.gdpr_export import consents_of, notifications_of, receipts_of

    subject_id = history["citizen"]["id"]
    with broker.db.sessions() as session:
        for read in (consents_of, receipts_of, notifications_of):
            whole = list(read(session, subject_id))
            one_by_one = list(read(session, subject_id, chunk=1))
            assert one_by_one == whole, read.__name__
        assert [consent.id for consent, _s, _p in consents_of(session, subject_id, chunk=1)] \
            == [history["withdrawn"], history["active"]]
        assert len(list(receipts_of(session, subject_id, chunk=1))) == 3


def test_the_printable_export_says_each_notice_in_words(history: dict[str, Any]) -> None:
    client = history["client"]
    client.get(Flow(client, history["service"], history["citizen"]).authorize_query())
    html = client.get("/wallet/export.html").get_data(as_text=True)
    assert ">What happened</th>" in html
    assert "Kindergartens asked for your data." in html
    assert "<td>request</td>" not in html  # not the raw code
