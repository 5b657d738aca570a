"""The one decision: may this client read these fields of this resource of this subject now?

Every path (the data API, token introspection, refresh) calls :func:`decide_access`, which reads
the consent's live row with one primary-key query, so a revocation committed by any process is
seen by the very next request in every other process.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from consent.models import Consent, ConsentStatus, Service


class Reason(StrEnum):
    GRANTED = "granted"
    UNKNOWN_CONSENT = "unknown_consent"
    WRONG_CLIENT = "wrong_client"
    NOT_ACTIVE = "not_active"
    PAUSED = "paused"
    REVOKED = "revoked"
    EXPIRED = "expired"
    RESOURCE_NOT_GRANTED = "resource_not_granted"
    FIELD_NOT_GRANTED = "field_not_granted"

    @property
    def ends_consent(self) -> bool:
        """True when no token of the consent can be honoured any more.

        A paused consent refuses everything, but its tokens work again once it is resumed.
        """
        return self not in (
            Reason.GRANTED,
            Reason.PAUSED,
            Reason.RESOURCE_NOT_GRANTED,
            Reason.FIELD_NOT_GRANTED,
        )


@dataclass(frozen=True)
class ConsentState:
    """The live facts of one consent that a decision needs."""

    id: str
    client_id: str
    status: str
    expires_at: datetime | None
    scope: list[dict[str, Any]]
    subject_id: int
    subject_pairwise: str
    subject_pseudonym: str
    purpose: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    state: ConsentState | None = None
    fields: tuple[str, ...] = ()
    #: The granted item's ``constraints`` (consent.constraints), for the read to apply.
    constraints: dict[str, Any] | None = None


STATE_COLUMNS = (
    Consent.id,
    Service.client_id,
    Consent.status,
    Consent.expires_at,
    Consent.scope,
    Consent.subject_id,
    Consent.subject_pairwise,
    Consent.subject_pseudonym,
    Consent.purpose_code,
)


LOAD_STATE = (
    select(*STATE_COLUMNS)
    .join(Service, Service.id == Consent.service_id)
    .where(Consent.id == bindparam("consent_id"))
)


#: The same read under the consent's row lock (``FOR SHARE`` on PostgreSQL; SQLite's writer
#: queue serialises writes anyway): a data read's final decision and its ledger entry are made
#: under it, so no withdrawal, pause or expiry, which change the row first, can fall between.
LOCK_STATE = LOAD_STATE.with_for_update(read=True, of=Consent)


def load_consent_state(session: Session, consent_id: str) -> ConsentState | None:
    """Read one consent's live state by primary key (a prepared Core statement)."""
    row = session.connection().execute(LOAD_STATE, {"consent_id": consent_id}).one_or_none()
    return ConsentState(*row) if row is not None else None


def decide_access(
    session: Session,
    *,
    consent_id: str,
    client_id: str,
    now: datetime,
    connector: str | None = None,
    resource: str | None = None,
    fields: Collection[str] | None = None,
) -> Decision:
    """Decide on the live consent; with no ``connector``, only whether it is still in force."""
    return evaluate(
        load_consent_state(session, consent_id),
        client_id=client_id,
        now=now,
        connector=connector,
        resource=resource,
        fields=fields,
    )


def evaluate(
    state: ConsentState | None,
    *,
    client_id: str,
    now: datetime,
    connector: str | None = None,
    resource: str | None = None,
    fields: Collection[str] | None = None,
) -> Decision:
    """Decide from a loaded state; pure, so properties can be tested without a database.

    ``fields=None`` asks for every granted field of the resource; any field named that the
    consent does not grant refuses the whole read (no silent narrowing).
    """
    if state is None:
        return Decision(False, Reason.UNKNOWN_CONSENT)
    if state.client_id != client_id:
        return Decision(False, Reason.WRONG_CLIENT)
    if state.status == ConsentStatus.REVOKED:
        return Decision(False, Reason.REVOKED, state)
    if state.status == ConsentStatus.EXPIRED:
        return Decision(False, Reason.EXPIRED, state)
    if state.status == ConsentStatus.PAUSED:
        if state.expires_at is None or now >= state.expires_at:
            return Decision(False, Reason.EXPIRED, state)
        return Decision(False, Reason.PAUSED, state)
    if state.status != ConsentStatus.ACTIVE:
        return Decision(False, Reason.NOT_ACTIVE, state)
    if state.expires_at is None or now >= state.expires_at:
        return Decision(False, Reason.EXPIRED, state)
    if connector is None:
        return Decision(True, Reason.GRANTED, state)

    item = next(
        (
            item
            for item in state.scope
            if item["connector"] == connector
            and item["resource"] == resource
            and "read" in item["actions"]
        ),
        None,
    )
    if item is None:
        return Decision(False, Reason.RESOURCE_NOT_GRANTED, state)
    granted = tuple(item["fields"])
    limits = item.get("constraints")
    if fields is None:
        return Decision(True, Reason.GRANTED, state, granted, limits)
    asked = tuple(dict.fromkeys(fields))
    if not asked or not set(asked) <= set(granted):
        return Decision(False, Reason.FIELD_NOT_GRANTED, state)
    return Decision(True, Reason.GRANTED, state, asked, limits)
