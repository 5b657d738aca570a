"""Synthetic Bulgarian demo data: citizens, a household with a child, services, an auditor.

Idempotent: running it again changes nothing and prints the same credentials, which are
derived from this installation's secret key (so they are not in git, yet stable).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from commons.clock import city_zone
from connectors import meter_readings
from consent.accounts import create_subject
from consent.catalogue import register_service
from consent.crypto import Keyring
from consent.ledger.jwk import jwk_thumbprint, public_jwk_of
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
#: The FAPI-grade demo service: it authenticates with private_key_jwt (RFC 7523), its private
#: key written under the var directory (docs/architecture.md, "OAuth 2.0 at FAPI 2.0 grade").
FAPI_SERVICE: dict[str, Any] = {
    "client_id": "kindergartens-fapi",
    "name_bg": "Столична община — Детски градини (FAPI 2.0)",
    "name_en": "Sofia Municipality — Kindergartens (FAPI 2.0)",
    "organisation": "Столична община",
    "purposes": ["kindergarten_enrolment"],
}
#: Where under the var directory the demo's private client keys are written.
DEMO_KEYS_DIR = "demo-client-keys"
AUDITOR: dict[str, Any] = {
    "client_id": "auditor-cpdp",
    "name_bg": "Комисия за защита на личните данни",
    "name_en": "Commission for Personal Data Protection",
    "organisation": "КЗЛД",
}


def _derived(secret_key: str, label: str, length: int = 20) -> str:
    digest = hmac.new(secret_key.encode(), b"demo\x00" + label.encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode().lower()[:length]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def demo_client_key(secret_key: str, client_id: str) -> dict[str, str]:
    """The private Ed25519 JWK of a demo client, derived from ``secret_key`` like the demo's
    secrets (stable, not in git); its ``kid`` is its RFC 7638 thumbprint."""
    seed_bytes = hmac.new(
        secret_key.encode(), b"demo\x00client-key:" + client_id.encode(), hashlib.sha256
    ).digest()
    public = public_jwk_of(Ed25519PrivateKey.from_private_bytes(seed_bytes).public_key())
    return {
        **public,
        "d": _b64url(seed_bytes),
        "kid": jwk_thumbprint(public),
        "alg": "EdDSA",
        "use": "sig",
    }


def public_jwks(private_jwk: Mapping[str, str]) -> dict[str, Any]:
    return {"keys": [{k: v for k, v in private_jwk.items() if k != "d"}]}


def write_private_key(var_dir: Path, client_id: str, private_jwk: Mapping[str, str]) -> Path:
    """Write the private JWK under ``var_dir`` (git-ignored), readable by its owner only."""
    directory = var_dir / DEMO_KEYS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{client_id}.jwk.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(private_jwk, handle, indent=2)
        handle.write("\n")
    return path


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
    var_dir: Path | None = None,
) -> dict[str, Any]:
    """Create what is missing and return the demo logins (docs/architecture.md, "CLI").

    The logins are derived from ``secret_key`` (the installation's); the citizens' national
    ids are sealed with ``keyring``; ``sources`` are the demo sources to fill (see
    :func:`seed_sources`). The FAPI-grade service's private key is written under ``var_dir``
    (its ``private_key_file``; None without a ``var_dir``).
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

    fapi_key = demo_client_key(secret_key, FAPI_SERVICE["client_id"])
    if (
        session.scalar(select(Service.id).where(Service.client_id == FAPI_SERVICE["client_id"]))
        is None
    ):
        register_service(
            session, redirect_uris=DEMO_REDIRECTS, jwks=public_jwks(fapi_key), **FAPI_SERVICE
        )
    key_file = write_private_key(var_dir, FAPI_SERVICE["client_id"], fapi_key) if var_dir else None
    services.append(
        {
            "client_id": FAPI_SERVICE["client_id"],
            "token_endpoint_auth_method": "private_key_jwt",
            "private_key_file": str(key_file) if key_file else None,
            "kid": fapi_key["kid"],
            "alg": fapi_key["alg"],
            "redirect_uris": DEMO_REDIRECTS,
            "purposes": FAPI_SERVICE["purposes"],
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
