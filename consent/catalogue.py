"""The purpose catalogue, legal bases in plain words, and service registration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.client_keys import InvalidClientKeys, check_jwks_uri, check_public_jwks
from consent.crypto import new_secret, token_hash
from consent.models import Purpose, Service, ServiceKind, ServicePurpose
from consent.requests import PurposeRule


@dataclass(frozen=True)
class LegalBasis:
    code: str
    article_en: str
    article_bg: str
    plain_bg: str
    plain_en: str
    dpv_iri: str

    def plain(self, locale: str) -> str:
        return self.plain_bg if locale == "bg" else self.plain_en

    def article(self, locale: str) -> str:
        return self.article_bg if locale == "bg" else self.article_en


LEGAL_BASES = {
    basis.code: basis
    for basis in (
        LegalBasis(
            "consent",
            "GDPR Art. 6(1)(a)",
            "ОРЗД, чл. 6, пар. 1, буква „а“",
            "Вашето съгласие. Можете да го оттеглите по всяко време, толкова лесно, "
            "колкото сте го дали.",
            "Your consent. You can withdraw it at any time, as easily as you gave it.",
            "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a",
        ),
        LegalBasis(
            "public_task",
            "GDPR Art. 6(1)(e)",
            "ОРЗД, чл. 6, пар. 1, буква „д“",
            "Задача от обществен интерес, възложена на общината със закон; "
            "данните се четат само с Вашето съгласие тук.",
            "A task in the public interest given to the municipality by law; "
            "the data is read only with your consent here.",
            "https://w3id.org/dpv/legal/eu/gdpr#A6-1-e",
        ),
        LegalBasis(
            "contract",
            "GDPR Art. 6(1)(b)",
            "ОРЗД, чл. 6, пар. 1, буква „б“",
            "Договор, който сключвате или сте сключили с услугата.",
            "A contract you are making or have made with the service.",
            "https://w3id.org/dpv/legal/eu/gdpr#A6-1-b",
        ),
    )
}


class RegistrationError(ValueError):
    """A service cannot be registered as asked."""


def purpose_rules(session: Session, service_id: int) -> dict[str, PurposeRule]:
    """The purposes a service may ask consent for, with their durations."""
    rows = session.execute(
        select(Purpose.code, Purpose.default_duration, Purpose.max_duration)
        .join(ServicePurpose, ServicePurpose.purpose_code == Purpose.code)
        .where(ServicePurpose.service_id == service_id)
    ).all()
    return {code: PurposeRule(code, default, maximum) for code, default, maximum in rows}


#: What every service may ask for with client credentials: acknowledging erasure requests.
SERVICE_SCOPE = "erasure:manage"


#: Client ids travel in HTTP Basic (no ':'), in logs, the ledger and auditors' spreadsheets
#: (no leading '=', '+', '-' or '@'): a letter or digit, then letters, digits, '.', '_', '-'.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def register_service(
    session: Session,
    *,
    name_bg: str,
    name_en: str,
    organisation: str,
    redirect_uris: list[str],
    purposes: list[str],
    kind: ServiceKind = ServiceKind.SERVICE,
    scope: str = "",
    sandbox: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
    jwks: Any = None,
    jwks_uri: str | None = None,
    production: bool = False,
) -> tuple[Service, str | None]:
    """Register an OAuth client and return it with its secret (shown once, stored hashed).

    With ``jwks`` (a JWK Set of public keys) or ``jwks_uri``, the client authenticates with
    ``private_key_jwt`` (RFC 7523 §2.2) and has no secret: None is returned for it.
    """
    if jwks is not None and jwks_uri is not None:
        raise RegistrationError("give the service's keys as a JWK Set or a JWKS URI, not both")
    try:
        keys = check_public_jwks(jwks) if jwks is not None else None
        keys_uri = check_jwks_uri(jwks_uri, production=production) if jwks_uri else None
    except InvalidClientKeys as exc:
        raise RegistrationError(str(exc)) from exc
    private_key_jwt = keys is not None or keys_uri is not None
    for uri in redirect_uris:
        _check_redirect_uri(uri)
    known = set(session.scalars(select(Purpose.code).where(Purpose.code.in_(purposes))))
    missing = [code for code in purposes if code not in known]
    if missing:
        raise RegistrationError(f"unknown purpose(s): {', '.join(missing)}")
    if kind == ServiceKind.SERVICE and not (redirect_uris and purposes):
        raise RegistrationError("a service needs at least one redirect URI and one purpose")
    client_id = client_id or new_secret("srv_" if kind == ServiceKind.SERVICE else "aud_", 12)
    if not CLIENT_ID.fullmatch(client_id):
        raise RegistrationError(
            f"client id {client_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if session.scalar(select(Service.id).where(Service.client_id == client_id)) is not None:
        raise RegistrationError(f"client id {client_id!r} is taken")
    # A private_key_jwt client gets a random secret nobody is told: the column stays filled,
    # and no Basic credentials can match it (it may only use its method anyway).
    secret = client_secret or new_secret("", 32)
    if kind == ServiceKind.SERVICE:
        # Client credentials only for its own housekeeping, such as erasure requests.
        grant_types = ["authorization_code", "refresh_token", "client_credentials"]
        scope = " ".join(sorted({*scope.split(), SERVICE_SCOPE}))
    else:
        grant_types = ["client_credentials"]
    service = Service(
        client_id=client_id,
        client_secret_hash=token_hash(secret),
        kind=kind,
        name_bg=name_bg,
        name_en=name_en,
        organisation=organisation,
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        scope=scope,
        default_purpose=purposes[0] if purposes else None,
        sandbox=sandbox,
        token_endpoint_auth_method="private_key_jwt" if private_key_jwt else "client_secret_basic",
        jwks=keys,
        jwks_uri=keys_uri,
    )
    session.add(service)
    session.flush()
    session.add_all(ServicePurpose(service_id=service.id, purpose_code=code) for code in purposes)
    return service, None if private_key_jwt else secret


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise RegistrationError(f"redirect URI {uri!r} must use https (http only on loopback)")
    if parts.fragment:
        raise RegistrationError(f"redirect URI {uri!r} must not have a fragment")
