"""A service's view of its grants (Grant Management): a grant is a consent, its id the grant id.

A service may look at a grant of its own while it stands (active, or paused within its
term) and end it; anything else (another service's consent, an ended one, an unknown id) is
answered as unknown, so nobody learns which consents exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.amendment import STANDING
from consent.lifecycle import Actor, DomainContext, revoke_consent
from consent.models import Consent, Service


def standing_grant(
    session: Session, *, client_id: str, grant_id: str, now: datetime, lock: bool = False
) -> Consent | None:
    """The client's consent ``grant_id`` while it stands, else None."""
    # A consent id is short and printable; PostgreSQL refuses NUL in text (a 500, not a 404).
    if len(grant_id) > 40 or not grant_id.isprintable():
        return None
    query = (
        select(Consent)
        .join(Service, Service.id == Consent.service_id)
        .where(
            Consent.id == grant_id,
            Service.client_id == client_id,
            Consent.status.in_(STANDING),
            Consent.expires_at > now,
        )
    )
    if lock:
        query = query.with_for_update(of=Consent)
    return session.scalars(query).first()


def end_grant(
    session: Session, context: DomainContext, *, client_id: str, grant_id: str, now: datetime
) -> bool:
    """End the client's grant like a withdrawal, by the service; False when it does not stand.

    The caller commits.
    """
    consent = standing_grant(session, client_id=client_id, grant_id=grant_id, now=now, lock=True)
    if consent is None:
        return False
    revoke_consent(session, context, consent, now=now, by=Actor.SERVICE)
    return True
