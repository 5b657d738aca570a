"""Synthetic Bulgarian demo data: citizens, a household with a child, services, an auditor.

Idempotent: running it again changes nothing and prints the same credentials, which are
derived from this installation's secret key (so they are not in git, yet stable).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime
from typing import Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from commons import egn
from connectors import civil_registry
from consent.accounts import create_subject
from consent.catalogue import register_service
from consent.models import Purpose, Service, ServiceKind, Subject

PURPOSES = [
    Purpose(
        code="kindergarten_enrolment",
        name_bg="Прием в детска градина",
        name_en="Kindergarten enrolment",
        description_bg="Класиране и прием на дете в общинска детска градина.",
        description_en="Ranking and admitting a child to a municipal kindergarten.",
        legal_basis="public_task",
        dpv_iri="https://w3id.org/dpv#ServiceProvision",
        default_duration="P90D",
        max_duration="P1Y",
        retention="P5Y",
    ),
    Purpose(
        code="public_transport_card",
        name_bg="Преференциална карта за градски транспорт",
        name_en="Public transport concession card",
        description_bg="Издаване на карта с намаление за градския транспорт в София.",
        description_en="Issuing a reduced-fare card for Sofia's public transport.",
        legal_basis="public_task",
        dpv_iri="https://w3id.org/dpv#ServiceProvision",
        default_duration="P1Y",
        max_duration="P2Y",
        retention="P3Y",
    ),
    Purpose(
        code="energy_poverty_support",
        name_bg="Подкрепа при енергийна бедност",
        name_en="Energy poverty support",
        description_bg="Проверка на право на помощ за отопление и енергия.",
        description_en="Checking eligibility for heating and energy support.",
        legal_basis="consent",
        dpv_iri="https://w3id.org/dpv#PublicBenefit",
        default_duration="P6M",
        max_duration="P1Y",
        retention="P5Y",
    ),
]

DEMO_REDIRECTS = ["http://127.0.0.1:9001/callback", "http://localhost:9001/callback"]
SERVICES: list[dict[str, Any]] = [
    {
        "client_id": "kindergartens",
        "name_bg": "Столична община — Детски градини",
        "name_en": "Sofia Municipality — Kindergartens",
        "organisation": "Столична община",
        "purposes": ["kindergarten_enrolment"],
    },
    {
        "client_id": "transport-card",
        "name_bg": "Център за градска мобилност — карти",
        "name_en": "Urban Mobility Centre — travel cards",
        "organisation": "Център за градска мобилност ЕАД",
        "purposes": ["public_transport_card"],
    },
    {
        "client_id": "energy-support",
        "name_bg": "Социално подпомагане — енергийна бедност",
        "name_en": "Social support — energy poverty",
        "organisation": "Столична община, направление Социални дейности",
        "purposes": ["energy_poverty_support", "public_transport_card"],
    },
]
AUDITOR = {
    "client_id": "auditor-cpdp",
    "name_bg": "Комисия за защита на личните данни",
    "name_en": "Commission for Personal Data Protection",
    "organisation": "КЗЛД",
}


def _derived(secret_key: str, label: str, length: int = 20) -> str:
    digest = hmac.new(secret_key.encode(), b"demo\x00" + label.encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode().lower()[:length]


def _people(fake: Faker) -> dict[str, Any]:
    """Three wallet citizens in two households, and a minor child of the parent."""
    street = fake.street_address
    home = f"гр. София, {street()}"
    maria = dict(given_name="Мария", middle_name="Иванова", family_name="Петрова",
                 birth_date=date(1988, 3, 14), gender="F", household_role="parent")
    georgi = dict(given_name="Георги", middle_name="Димитров", family_name="Петров",
                  birth_date=date(1985, 11, 2), gender="M", household_role="parent")
    child = dict(given_name="Никола", middle_name="Георгиев", family_name="Петров",
                 birth_date=date(2021, 6, 21), gender="M", household_role="child")
    elena = dict(given_name="Елена", middle_name="Стоянова", family_name="Костова",
                 birth_date=date(1951, 9, 30), gender="F", household_role="member")
    for person, serial in ((maria, 471), (georgi, 186), (child, 244), (elena, 593)):
        person["national_id"] = egn.make(person["birth_date"], serial)
    return {
        "households": [
            ("hh-0001", home, [maria, georgi, child]),
            ("hh-0002", f"гр. София, {street()}", [elena]),
        ],
        "citizens": [("maria", maria), ("georgi", georgi), ("elena", elena)],
    }


def demo_people() -> list[dict[str, Any]]:
    """Every person of the demo households (the citizens and the child), with address."""
    fake = Faker("bg_BG")
    fake.seed_instance(2026)
    return [dict(member, address=address)
            for _, address, members in _people(fake)["households"] for member in members]


def seed_sources(broker: Any, people: dict[str, Any]) -> None:
    """Fill the demo's data sources for the demo people (what a city's registers would hold).

    Only the sources the broker runs with their demo configuration are filled; a broker
    configured with real sources (a connectors file) gets nothing written into them.
    """
    from broker.sources import CSV_CONNECTOR, csv_directory
    from connectors import csv_files, local_taxes, meter_readings
    from connectors.limits import city_zone

    everyone = [dict(member, address=address)
                for _, address, members in people["households"] for member in members]
    connectors = broker.connectors
    if broker.settings.connectors_file is not None:
        return
    engine = connectors["civil_registry"].engine
    civil_registry.create_schema(engine)
    for household_id, address, members in people["households"]:
        civil_registry.upsert_household(
            engine, household_id, address,
            [dict(member, address=address) for member in members],
        )
    local_taxes.create_schema(connectors["local_taxes"].engine)
    local_taxes.seed_demo(connectors["local_taxes"].engine, everyone)
    meter_readings.create_schema(connectors["meter_readings"].engine)
    meter_readings.seed_demo(connectors["meter_readings"].engine, everyone,
                             today=datetime.now(city_zone()).date())
    if CSV_CONNECTOR in connectors:
        csv_files.write_demo_files(csv_directory(broker.settings), everyone)


def holds_other_data(session: Session) -> bool:
    """True when the database has citizens or services but not the demo's own."""
    if session.scalar(select(Service.id).where(Service.client_id == SERVICES[0]["client_id"])):
        return False
    return bool(session.scalar(select(Subject.id).limit(1)) or
                session.scalar(select(Service.id).limit(1)))


def seed(session: Session, broker: Any) -> dict[str, Any]:
    """Create what is missing and return the demo logins (DESIGN.md ``demo seed --json``)."""
    secret = broker.keys.secret_key
    fake = Faker("bg_BG")
    fake.seed_instance(2026)
    people = _people(fake)

    seed_sources(broker, people)

    for purpose in PURPOSES:
        if session.get(Purpose, purpose.code) is None:
            session.add(Purpose(**{c.key: getattr(purpose, c.key)
                                   for c in Purpose.__table__.columns}))
    session.flush()

    citizens = []
    for username, person in people["citizens"]:
        password = _derived(secret, f"citizen:{username}", 16)
        if session.scalar(select(Subject.id).where(Subject.username == username)) is None:
            create_subject(session, broker.keys.keyring, username=username, password=password,
                           national_id=person["national_id"])
        citizens.append({"username": username, "password": password,
                         "national_id": person["national_id"]})

    services = []
    for spec in SERVICES:
        secret_value = _derived(secret, f"service:{spec['client_id']}", 32)
        if session.scalar(select(Service.id).where(Service.client_id == spec["client_id"])) \
                is None:
            register_service(session, redirect_uris=DEMO_REDIRECTS, client_secret=secret_value,
                             **spec)
        services.append({"client_id": spec["client_id"], "client_secret": secret_value,
                         "redirect_uris": DEMO_REDIRECTS, "purposes": spec["purposes"]})

    auditor_secret = _derived(secret, f"auditor:{AUDITOR['client_id']}", 32)
    if session.scalar(select(Service.id).where(Service.client_id == AUDITOR["client_id"])) \
            is None:
        register_service(session, redirect_uris=[], purposes=[], kind=ServiceKind.AUDITOR,
                         scope="audit:read", client_secret=auditor_secret, **AUDITOR)
    session.commit()
    return {
        "citizens": citizens,
        "services": services,
        "auditors": [{"client_id": AUDITOR["client_id"], "client_secret": auditor_secret}],
    }
