"""My data (/wallet/my-data): what each source holds about the signed-in citizen, to them alone."""

from __future__ import annotations

import dataclasses
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker import create_app
from broker.own_data import Outcome, OwnDataReader
from connectors.base import (
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Health,
    ResourceDescription,
    SubjectRef,
)
from connectors.registry import ConnectorRegistry
from consent.models import Subject
from tests.flows import create_citizen, csrf_token

ROUTES = ("/wallet/my-data", "/wallet/export", "/wallet/export.json", "/wallet/export.html")


def _client(app: Flask, lang: str = "en") -> FlaskClient:
    """A client of its own address (per-address sign-in limits), reading ``lang``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.{secrets.randbelow(256)}." \
                                         f"{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    client.set_cookie("serdika_lang", lang)
    return client


def signed_in(app: Flask, citizen: dict[str, Any], lang: str = "en") -> FlaskClient:
    """A client signed in as ``citizen`` through the sign-in form."""
    client = _client(app, lang)
    page = client.get("/wallet/sign-in")
    response = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _text(html: str) -> str:
    """The page's text without tags, whitespace collapsed (for reading values)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _section(html: str, connector: str) -> str:
    start = html.index(f'<section class="own-source" aria-labelledby="source-{connector}">')
    return html[start:html.index("</section>", start)]


@pytest.mark.parametrize("route", ROUTES)
def test_signed_out_goes_to_sign_in(client: FlaskClient, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/wallet/sign-in?next=")
    assert route.replace("/", "%2F") in response.headers["Location"] or \
        route in response.headers["Location"]


def test_the_demo_citizen_sees_every_source(app: Flask, broker: Any, demo: Any) -> None:
    maria = demo["citizens"][0]
    client = signed_in(app, maria)
    response = client.get("/wallet/my-data")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<h1>My data</h1>" in html
    assert 'href="/wallet/my-data"' in html  # the nav links the page
    catalogue = broker.connectors.catalogue
    for name, source in catalogue.items():
        assert f'<h2 id="source-{name}">{source.label("en")}</h2>' in html
    person = _text(_section(html, "civil_registry"))
    fields = catalogue["civil_registry"].resources["person"].fields
    for field, value in (("given_name", "Мария"), ("family_name", "Петрова"),
                         ("national_id", maria["national_id"]),
                         ("birth_date", "March 14, 1988")):
        assert f"{fields[field].label('en')} {value}" in person
    assert "Sex female" in person
    # The household is a table with a caption and column headers.
    assert "<caption" in html and '<th scope="col">Given name</th>' in html
    assert "Георги" in person and "Никола" in person


def test_meter_readings_show_monthly_totals_of_the_last_year(app: Flask, broker: Any,
                                                           demo: Any) -> None:
    html = signed_in(app, demo["citizens"][0]).get("/wallet/my-data").get_data(as_text=True)
    meters = _section(html, "meter_readings")
    assert "Monthly totals of the whole months from" in meters
    label = broker.connectors.catalogue["meter_readings"].resources["electricity"] \
        .fields["consumption"].label("en")
    start = meters.index(f">{label}</caption>")
    table = meters[start:meters.index("</table>", start)]
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table)
    assert len(rows) == 12, rows
    assert all(re.fullmatch(r"[A-Z][a-z]+ \d{4}", row) for row in rows), rows
    assert '<th scope="col">Period</th>' in table
    assert '<th scope="col">Electricity (kWh)</th>' in table


@pytest.mark.parametrize("lang, money", [("en", r"€\d[\d,]*\.\d{2}\b"),
                                         ("bg", r"\b\d[\d ]*,\d{2} €")])
def test_amounts_are_money_in_euro(app: Flask, demo: Any, lang: str, money: str) -> None:
    """Two decimals, the locale's separators and the euro sign; never leva, no bare numbers."""
    html = signed_in(app, demo["citizens"][0], lang).get("/wallet/my-data") \
        .get_data(as_text=True)
    taxes = _text(_section(html, "local_taxes"))
    assert len(re.findall(money, taxes)) >= 6, taxes
    assert "BGN" not in html and "лв" not in html
    # The currency is in each amount, not a column of its own.
    assert '<th scope="col">Currency</th>' not in html
    assert '<th scope="col">Валута</th>' not in html


def test_bulgarian_labels(app: Flask, broker: Any, demo: Any) -> None:
    html = signed_in(app, demo["citizens"][0], "bg").get("/wallet/my-data") \
        .get_data(as_text=True)
    assert '<html lang="bg">' in html
    for name, source in broker.connectors.catalogue.items():
        assert f'<h2 id="source-{name}">{source.label("bg")}</h2>' in html
    fields = broker.connectors.catalogue["civil_registry"].resources["person"].fields
    assert f"<dt>{fields['given_name'].label('bg')}</dt><dd>Мария</dd>" in html
    assert "<dd>14 март 1988\u202fг.</dd>" in html  # CLDR's long date, narrow no-break space


def test_a_source_that_does_not_know_the_resource_says_so(app: Flask, demo: Any) -> None:
    html = signed_in(app, demo["citizens"][0]).get("/wallet/my-data").get_data(as_text=True)
    bankya = _section(html, "bankya")
    # Maria holds a parking permit but no waste fee exemption.
    assert "БНК-" in bankya
    assert bankya.count("This source holds no record of you.") == 1


def test_another_citizens_data_is_never_shown(app: Flask, demo: Any) -> None:
    maria, georgi, elena = demo["citizens"]
    html = signed_in(app, elena).get("/wallet/my-data").get_data(as_text=True)
    assert "Елена" in html and elena["national_id"] in html
    for other in (maria, georgi):
        assert other["national_id"] not in html
    assert "Мария" not in html and "Петрова" not in html


def test_a_citizen_no_source_knows_gets_a_calm_message_per_source(app: Flask, broker: Any,
                                                                  demo: Any) -> None:
    stranger = create_citizen(broker, "m_")
    response = signed_in(app, stranger).get("/wallet/my-data")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("This source holds no record of you.") == len(broker.connectors)
    for citizen in demo["citizens"]:
        assert citizen["national_id"] not in html
    assert "<table" not in html


def _dead_address() -> str:
    """A loopback address where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def app_without_sandbox(settings: Any, app: Flask, demo: Any) -> Iterator[Flask]:
    """A second broker on the same database whose Social Assistance Agency is unreachable."""
    application = create_app({"settings": dataclasses.replace(settings,
                                                              sandbox_url=_dead_address()),
                              "TESTING": True})
    yield application
    application.extensions["serdika"].db.dispose()


def test_an_unavailable_source_gives_a_message_and_the_others_still_show(
        app_without_sandbox: Flask, demo: Any, caplog: pytest.LogCaptureFixture) -> None:
    maria = demo["citizens"][0]
    caplog.set_level("WARNING")
    response = signed_in(app_without_sandbox, maria).get("/wallet/my-data")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    social = _section(html, "social_assistance")
    assert "This source cannot be reached just now. Please try again later" in social
    assert "<table" not in social and "<dl" not in social
    assert "Мария" in _section(html, "civil_registry")
    assert "Monthly totals" in _section(html, "meter_readings")
    # The operator's log names the source and the error, never the citizen or a value.
    logged = caplog.text
    assert "connector=social_assistance" in logged
    assert maria["national_id"] not in logged and "Мария" not in logged


class _Held:
    """A source that answers only when the test lets it (a stuck upstream), by the protocol."""

    name = "held"

    def __init__(self) -> None:
        self.release = threading.Event()

    def describe(self) -> ConnectorDescription:
        field = FieldDescription("note", "Бележка", "Note", "dpv:Data")
        return ConnectorDescription("held", "Задържан", "Held", {
            "record": ResourceDescription("record", "Запис", "Record", {"note": field})})

    def fetch(self, subject: SubjectRef, resource: str, fields: Any,
              constraints: Constraints | None = None) -> dict[str, Any]:
        self.release.wait(60)
        return {"note": "late"}

    def health(self) -> Health:
        return Health(True)


def test_a_source_past_the_deadline_is_unavailable_and_the_others_are_read(
        broker: Any, demo: Any) -> None:
    held = _Held()
    registry = ConnectorRegistry({"civil_registry": broker.connectors["civil_registry"],
                                  "held": held})
    reader = OwnDataReader(registry, broker.keys.keyring, workers=2, deadline=0.2)
    try:
        with broker.db.sessions() as session:
            maria = session.scalars(select(Subject).where(Subject.username == "maria")).one()
            sources = {source.connector: source
                       for source in reader.read(maria, today=date.today())}
        assert sources["held"].outcome is Outcome.UNAVAILABLE
        assert sources["held"].resources[0].data == {}
        assert sources["civil_registry"].outcome is Outcome.READ
        person = sources["civil_registry"].resources[0]
        assert person.data["national_id"] == demo["citizens"][0]["national_id"]
    finally:
        held.release.set()
        reader.close()
