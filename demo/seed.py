"""Synthetic Bulgarian demo data: citizens, a household with a child, services, an auditor.

Idempotent: running it again changes nothing and prints the same credentials, which are
derived from this installation's secret key (so they are not in git, yet stable).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commons.clock import city_zone
from connectors import meter_readings
from consent.accounts import create_subject
from consent.catalogue import register_service
from consent.crypto import Keyring
from consent.models import Purpose, Service, ServiceKind, Subject
from demo import bankya
from demo import civil_registry as demo_civil_registry
from demo import local_taxes as demo_local_taxes
from demo import meter_readings as demo_meter_readings
from demo.people import population
from demo.sources import BANKYA

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
AUDITOR: dict[str, Any] = {
    "client_id": "auditor-cpdp",
    "name_bg": "Комисия за защита на личните данни",
    "name_en": "Commission for Personal Data Protection",
    "organisation": "КЗЛД",
}


def _derived(secret_key: str, label: str, length: int = 20) -> str:
    digest = hmac.new(secret_key.encode(), b"demo\x00" + label.encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode().lower()[:length]


def seed_sources(sources: Mapping[str, Any] | None, people: dict[str, Any]) -> None:
    """Fill the demo's data sources for the demo people (what a city's registers would hold).

    ``sources`` are the connectors the broker runs with their demo configuration
    (:func:`demo.sources.demo_specs`); None for a broker configured with real sources (a
    connectors file), which gets nothing written into them.
    """
    if sources is None:
        return
    everyone = [
        dict(member, address=address)
        for _, address, members in people["households"]
        for member in members
    ]
    demo_civil_registry.seed_demo(sources["civil_registry"].engine, people["households"])
    demo_local_taxes.seed_demo(sources["local_taxes"].engine, everyone)
    meter_readings.create_schema(sources["meter_readings"].engine)
    demo_meter_readings.seed_demo(
        sources["meter_readings"].engine, everyone, today=datetime.now(city_zone()).date()
    )
    if BANKYA in sources:
        bankya.write_demo_files(sources[BANKYA].directory, everyone)


def holds_other_data(session: Session) -> bool:
    """True when the database has citizens or services but not the demo's own."""
    if session.scalar(select(Service.id).where(Service.client_id == SERVICES[0]["client_id"])):
        return False
    return bool(
        session.scalar(select(Subject.id).limit(1)) or session.scalar(select(Service.id).limit(1))
    )


def seed(
    session: Session,
    *,
    secret_key: str,
    keyring: Keyring,
    sources: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Create what is missing and return the demo logins (docs/architecture.md, "CLI").

    The logins are derived from ``secret_key`` (the installation's); the citizens' national
    ids are sealed with ``keyring``; ``sources`` are the demo sources to fill (see
    :func:`seed_sources`).
    """
    people = population()

    seed_sources(sources, people)

    for purpose in PURPOSES:
        if session.get(Purpose, purpose.code) is None:
            session.add(
                Purpose(**{c.key: getattr(purpose, c.key) for c in Purpose.__table__.columns})
            )
    session.flush()

    citizens = []
    for username, person in people["citizens"]:
        password = _derived(secret_key, f"citizen:{username}", 16)
        if session.scalar(select(Subject.id).where(Subject.username == username)) is None:
            create_subject(
                session,
                keyring,
                username=username,
                password=password,
                national_id=person["national_id"],
            )
        citizens.append(
            {"username": username, "password": password, "national_id": person["national_id"]}
        )

    services = []
    for spec in SERVICES:
        secret_value = _derived(secret_key, f"service:{spec['client_id']}", 32)
        if session.scalar(select(Service.id).where(Service.client_id == spec["client_id"])) is None:
            register_service(
                session, redirect_uris=DEMO_REDIRECTS, client_secret=secret_value, **spec
            )
        services.append(
            {
                "client_id": spec["client_id"],
                "client_secret": secret_value,
                "redirect_uris": DEMO_REDIRECTS,
                "purposes": spec["purposes"],
            }
        )

    auditor_secret = _derived(secret_key, f"auditor:{AUDITOR['client_id']}", 32)
    if session.scalar(select(Service.id).where(Service.client_id == AUDITOR["client_id"])) is None:
        register_service(
            session,
            redirect_uris=[],
            purposes=[],
            kind=ServiceKind.AUDITOR,
            scope="audit:read",
            client_secret=auditor_secret,
            **AUDITOR,
        )
    session.commit()
    return {
        "citizens": citizens,
        "services": services,
        "auditors": [{"client_id": AUDITOR["client_id"], "client_secret": auditor_secret}],
    }
