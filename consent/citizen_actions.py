"""What a citizen does to one of their consents, or a child's, from their wallet.

Each action finds the consent among those the citizen may act on
(:func:`consent.citizen_consents.own_consent`), raises :class:`NoSuchConsent` otherwise, and
names who acted (the subject, or a parent) in the ledger. A change the consent's state no
longer allows (a double submit, a consent that ended meanwhile) changes nothing. The caller
runs each in one write transaction and commits.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from consent.citizen_consents import actor_for, own_consent
from consent.erasure_requests import request_erasure
from consent.extension import extend_consent
from consent.lifecycle import (
    DomainContext,
    InvalidTransition,
    pause_consent,
    resume_consent,
    revoke_consent,
)
from consent.models import Consent, ConsentStatus, ErasureRequest


class NoSuchConsent(LookupError):
    """The consent is neither the citizen's nor a child's they answer for now."""


class RefreshTokens(Protocol):
    """The token store: an extended consent's live refresh tokens last until its new end."""

    def consent_extended(self, session: Session, consent: Consent) -> None: ...


def _own(session: Session, citizen_id: int, consent_id: str, now: datetime) -> Consent:
    found = own_consent(session, citizen_id, consent_id, now)
    if found is None:
        raise NoSuchConsent(consent_id)
    return found[0]


def withdraw(
    session: Session, context: DomainContext, *, citizen_id: int, consent_id: str, now: datetime
) -> bool:
    """Withdraw the consent (GDPR Art. 7(3)); return whether it is withdrawn now.

    Withdrawn, expired or denied already (a double submit): nothing more to withdraw.
    """
    consent = _own(session, citizen_id, consent_id, now)
    with suppress(InvalidTransition):
        revoke_consent(session, context, consent, now=now, by=actor_for(citizen_id, consent))
    return consent.status == ConsentStatus.REVOKED


def pause(session: Session, *, citizen_id: int, consent_id: str, now: datetime) -> None:
    """Pause the consent: no service may read under it until it is resumed."""
    consent = _own(session, citizen_id, consent_id, now)
    with suppress(InvalidTransition):
        pause_consent(session, consent, now=now, by=actor_for(citizen_id, consent))


def resume(session: Session, *, citizen_id: int, consent_id: str, now: datetime) -> None:
    """Resume a paused consent that is still in term."""
    consent = _own(session, citizen_id, consent_id, now)
    with suppress(InvalidTransition):
        resume_consent(session, consent, now=now, by=actor_for(citizen_id, consent))


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def extend(
    session: Session,
    context: DomainContext,
    tokens: RefreshTokens,
    *,
    citizen_id: int,
    consent_id: str,
    seen_end: str | None,
    now: datetime,
) -> Consent | None:
    """Extend the consent once more by its own duration, within its purpose's maximum.

    ``seen_end`` is the end the citizen saw on the page (ISO 8601): when the consent's end
    is no longer that (a second submit), nothing is extended and None is returned. Raises
    :class:`consent.extension.ExtensionRefused` when the consent cannot be extended.
    """
    consent = _own(session, citizen_id, consent_id, now)
    if seen_end != _stamp(consent.expires_at):
        return None
    extend_consent(session, context, consent, now=now, by=actor_for(citizen_id, consent))
    tokens.consent_extended(session, consent)
    return consent


def ask_erasure(
    session: Session, *, citizen_id: int, consent_id: str, now: datetime
) -> ErasureRequest:
    """Ask the service to erase what it received under the consent (GDPR Art. 17).

    Raises :class:`consent.erasure_requests.ErasureNotPossible` when it received nothing.
    """
    consent = _own(session, citizen_id, consent_id, now)
    return request_erasure(session, consent, now=now, by=actor_for(citizen_id, consent))
