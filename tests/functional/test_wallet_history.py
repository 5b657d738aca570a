"""The access history ("data tracker") through the test client: the page, filters, exports."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from commons.clock import city_zone
from consent.models import Consent
from tests.flows import Flow, create_citizen, person_details

PERSON = "/api/v1/data/civil_registry/person"


@pytest.fixture
def en_client(client: Any) -> Any:
    """A client from its own address (per-address limits stay per test), reading English."""
    client.environ_base["REMOTE_ADDR"] = f"10.{secrets.randbelow(256)}." \
                                         f"{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    client.set_cookie("serdika_lang", "en")
    return client


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    """A fresh citizen the civil registry has no record of: their reads are refused."""
    return create_citizen(broker, "h_")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _consent(client: Any, demo: dict[str, Any], citizen: dict[str, Any],
             fields: list[str]) -> dict[str, Any]:
    """Let the kindergartens read ``fields`` of the person; return the token response."""
    flow = Flow(client, demo["services"][0], citizen, details=person_details(fields))
    return flow.tokens()


def _rows(html: str, consent_id: str) -> list[str]:
    """The table rows of the history page that belong to ``consent_id``."""
    return [row for row in html.split("<tr>")[1:] if f"/wallet/consents/{consent_id}" in row]


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbftime,service,purpose,source,resource,fields,result,"
                           b"reason,consent_id\r\n")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert all(row["time"] != "time" for row in rows), "the header comes once"
    return rows


def _json(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))


def _labels(broker: Any, *names: str) -> list[str]:
    fields = broker.connectors.catalogue["civil_registry"].resources["person"].fields
    return [fields[name].label("en") for name in names]


def test_a_read_and_a_refused_read_are_listed(en_client, broker, demo):
    granted = _consent(en_client, demo, demo["citizens"][0], ["given_name", "family_name"])
    consent_id = granted["consent_id"]
    assert en_client.get(PERSON, headers=_bearer(granted["access_token"])).status_code == 200
    refused = en_client.get(PERSON + "?fields=address", headers=_bearer(granted["access_token"]))
    assert refused.status_code == 403

    page = en_client.get("/wallet/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<h1>Access history</h1>" in html
    rows = _rows(html, consent_id)
    assert len(rows) == 2
    newest, oldest = rows  # newest first
    assert "Refused" in newest
    assert "The service asked for details the consent does not cover." in newest
    assert _labels(broker, "address")[0] in newest
    assert "Given to the service" in oldest and "Refused" not in oldest
    for label in _labels(broker, "given_name", "family_name"):
        assert label in oldest
    source = broker.connectors.catalogue["civil_registry"]
    for row in rows:
        assert "Sofia Municipality — Kindergartens" in row
        assert "Kindergarten enrolment" in row
        assert source.label("en") in row
        assert f'href="/wallet/consents/{consent_id}"' in row
    # The page links its exports, with the same filters.
    assert 'href="/wallet/history.csv"' in html and 'href="/wallet/history.json"' in html
    # Labelled filters, in a form that works without JavaScript.
    assert '<form method="get" action="/wallet/history"' in html
    for name in ("service", "from", "to"):
        assert f'<label for="{name}">' in html and f'id="{name}" name="{name}"' in html


def test_filters_by_service_and_period(en_client, broker, demo):
    granted = _consent(en_client, demo, demo["citizens"][1], ["given_name"])
    consent_id = granted["consent_id"]
    assert en_client.get(PERSON, headers=_bearer(granted["access_token"])).status_code == 200
    today = datetime.now(city_zone()).date()  # the wallet takes dates on Sofia's calendar
    other = demo["services"][1]["client_id"]

    def listed(query: str) -> int:
        page = en_client.get("/wallet/history?" + query)
        assert page.status_code == 200, page.get_data(as_text=True)
        return len(_rows(page.get_data(as_text=True), consent_id))

    assert listed("service=kindergartens") == 1
    assert listed(f"service={other}") == 0
    assert listed(f"from={today}&to={today}") == 1
    assert listed(f"service=kindergartens&from={today}") == 1
    assert listed(f"to={today - timedelta(days=1)}") == 0
    assert listed(f"from={today + timedelta(days=1)}") == 0
    assert listed("service=no-such-service") == 0
    page = en_client.get("/wallet/history?service=kindergartens")
    assert '<option value="kindergartens" selected>' in page.get_data(as_text=True)


def test_exports_parse_and_match(en_client, broker, demo):
    granted = _consent(en_client, demo, demo["citizens"][2], ["given_name", "birth_date"])
    consent_id = granted["consent_id"]
    token = _bearer(granted["access_token"])
    assert en_client.get(PERSON, headers=token).status_code == 200
    assert en_client.get(PERSON + "?fields=address", headers=token).status_code == 403

    today = datetime.now(city_zone()).date()  # the wallet takes dates on Sofia's calendar
    query = f"?service=kindergartens&from={today}&to={today}"
    # A streamed body is read before the next request (its generator holds the context).
    csv_response = en_client.get("/wallet/history.csv" + query)
    rows = [row for row in _csv(csv_response) if row["consent_id"] == consent_id]
    json_response = en_client.get("/wallet/history.json" + query)
    document = _json(json_response)
    for response, suffix in ((csv_response, "csv"), (json_response, "json")):
        assert response.headers["Cache-Control"] == "no-store"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and disposition.endswith(f'.{suffix}"')

    assert document["subject"] == "me"
    assert document["filters"] == {"service": "kindergartens", "from": str(today),
                                   "to": str(today)}
    reads = [read for read in document["reads"] if read["consent_id"] == consent_id]
    assert [row["result"] for row in rows] == ["refused", "read"]
    assert [read["result"] for read in reads] == ["refused", "read"]
    for row, read in zip(rows, reads, strict=True):
        assert row["time"] == read["time"] and row["time"].endswith("Z")
        assert datetime.fromisoformat(row["time"]).tzinfo is not None
        assert row["service"] == read["service"]["name"]
        assert row["purpose"] == read["purpose"]["name"]
        assert row["source"] == read["source"]["name"]
        assert row["resource"] == read["resource"]["label"]
        assert row["fields"].split(";") == [field["label"] for field in read["fields"]]
        assert row["reason"] == (read["reason_text"] or "")
    assert reads[0]["reason"] == "field_not_granted"
    assert [f["name"] for f in reads[0]["fields"]] == ["address"]
    assert reads[1]["reason"] is None
    assert [f["name"] for f in reads[1]["fields"]] == ["given_name", "birth_date"]
    assert rows[1]["fields"].split(";") == _labels(broker, "given_name", "birth_date")
    assert reads[1]["service"]["client_id"] == "kindergartens"
    assert reads[1]["purpose"]["code"] == "kindergarten_enrolment"
    assert reads[1]["source"]["connector"] == "civil_registry"
    assert reads[1]["resource"]["name"] == "person"
    # Every read of the unfiltered export is also in both formats, in the same order.
    everything = _json(en_client.get("/wallet/history.json"))["reads"]
    all_rows = _csv(en_client.get("/wallet/history.csv"))
    assert [(r["time"], r["consent_id"]) for r in all_rows] == \
        [(r["time"], r["consent_id"]) for r in everything]


def test_a_citizen_sees_only_their_own_reads(app, broker, demo, citizen):
    # Another citizen reads something too, so there is something not to show.
    other_client = app.test_client()
    other_client.set_cookie("serdika_lang", "en")
    other = _consent(other_client, demo, demo["citizens"][0], ["given_name"])
    other_client.get(PERSON, headers=_bearer(other["access_token"]))

    mine_client = app.test_client()
    mine_client.set_cookie("serdika_lang", "en")
    mine = _consent(mine_client, demo, citizen, ["given_name"])
    refused = mine_client.get(PERSON, headers=_bearer(mine["access_token"]))
    assert refused.status_code >= 400  # the registry has no record of this citizen

    html = mine_client.get("/wallet/history").get_data(as_text=True)
    rows = _rows(html, mine["consent_id"])
    assert len(rows) == 1 and "Refused" in rows[0]
    assert "The data source holds no record of you." in rows[0]
    assert other["consent_id"] not in html

    with broker.db.sessions() as session:
        own = set(session.scalars(select(Consent.id)
                                  .where(Consent.subject_id == citizen["id"])))
    reads = _json(mine_client.get("/wallet/history.json"))["reads"]
    assert reads and {read["consent_id"] for read in reads} <= own
    assert {row["consent_id"] for row in _csv(mine_client.get("/wallet/history.csv"))} <= own
    assert reads[0]["reason"] == "source:SubjectNotFound"
    # A service this citizen never used: nothing, and no one else's reads either.
    unused = demo["services"][1]["client_id"]
    page = mine_client.get(f"/wallet/history?service={unused}")
    assert page.status_code == 200
    assert "No reads match these filters." in page.get_data(as_text=True)
    assert _json(mine_client.get(f"/wallet/history.json?service={unused}"))["reads"] == []
    assert _csv(mine_client.get(f"/wallet/history.csv?service={unused}")) == []
    # The other citizen's export has none of this citizen's reads.
    theirs = _json(other_client.get("/wallet/history.json"))["reads"]
    assert mine["consent_id"] not in {read["consent_id"] for read in theirs}
    assert other["consent_id"] in {read["consent_id"] for read in theirs}


def test_pages_of_older_and_newer_reads(en_client, monkeypatch, demo, citizen):
    import wallet_ui.history

    monkeypatch.setattr(wallet_ui.history, "PAGE_SIZE", 2)
    granted = _consent(en_client, demo, citizen, ["given_name"])
    for _ in range(5):
        en_client.get(PERSON, headers=_bearer(granted["access_token"]))

    def visit(url: str) -> tuple[int, str | None, str | None]:
        page = en_client.get(url.replace("&amp;", "&"))
        assert page.status_code == 200, page.get_data(as_text=True)
        html = page.get_data(as_text=True)
        older = re.search(r'<a href="([^"]+)" rel="next">Older reads</a>', html)
        newer = re.search(r'<a href="([^"]+)" rel="prev">Newer reads</a>', html)
        return (len(_rows(html, granted["consent_id"])), older and older.group(1),
                newer and newer.group(1))

    count, older, newer = visit("/wallet/history?service=kindergartens")
    assert (count, newer) == (2, None) and older and "before=" in older
    assert "service=kindergartens" in older
    count, older2, newer = visit(older)
    assert count == 2 and older2 and newer and "after=" in newer
    count, older3, newer3 = visit(older2)
    assert (count, older3) == (1, None) and newer3
    count, _older, _newer = visit(newer3)
    assert count == 2
    assert visit(newer)[0] == 2


@pytest.mark.parametrize("url", ["/wallet/history", "/wallet/history.csv",
                                 "/wallet/history.json?service=kindergartens"])
def test_signed_out_goes_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/wallet/sign-in?next=")
    assert "history" in location


@pytest.mark.parametrize(("query", "message"), [
    ("from=2025-13-01", "Enter the “From” date as year-month-day"),
    ("from=yesterday", "Enter the “From” date as year-month-day"),
    ("to=31.03.2025", "Enter the “To” date as year-month-day"),
    ("to=20250331", "Enter the “To” date as year-month-day"),
    ("from=9999-12-31", "Enter the “From” date as year-month-day"),
    ("from=2025-03-02&to=2025-03-01", "The “From” date must not be after the “To” date."),
    ("before=abc", "The link to this page of the list is not valid."),
    ("after=-1", "The link to this page of the list is not valid."),
    ("before=99999999999999999999999", "The link to this page of the list is not valid."),
    ("service=%00%01", "Choose a service from the list."),
    ("service=" + "x" * 300, "Choose a service from the list."),
])
def test_bad_filters_are_said_plainly(en_client, demo, citizen, query, message):
    Flow(en_client, demo["services"][0], citizen).sign_in()
    page = en_client.get("/wallet/history?" + query)
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert 'role="alert"' in html and message in html
    assert "<title>Error:" in html
    assert "Traceback" not in html
    for export in ("/wallet/history.csv?", "/wallet/history.json?"):
        response = en_client.get(export + query)
        assert response.status_code == 400 and response.mimetype == "text/html"
        assert message in response.get_data(as_text=True)


def test_the_page_in_bulgarian_by_default(client, demo, citizen):
    Flow(client, demo["services"][0], citizen).sign_in()
    page = client.get("/wallet/history")
    assert page.status_code == 200
    assert '<html lang="bg">' in page.get_data(as_text=True)
    assert client.get("/wallet/history.json").status_code == 200
