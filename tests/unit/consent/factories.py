"""Test data for the citizen-side services: citizens, a child in their care, a consent."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commons import egn
from consent.accounts import create_subject
from consent.lifecycle import record_decision
from consent.models import Consent, Guardianship, Service, Subject
from consent.requests import AccessRequest, ScopeItem

#: given_name and family_name are required fields; birth_date is optional.
REQUEST = AccessRequest(
    "kindergarten_enrolment",
    "P90D",
    (ScopeItem("civil_registry", "person", ("given_name", "family_name", "birth_date")),),
)


def citizen(broker: Any, session: Session, born: date | None = None) -> Subject:
    born = born or date(1970, 1, 1) + timedelta(days=secrets.randbelow(15000))
    return create_subject(
        session,
        broker.keys.keyring,
        username="cz_" + secrets.token_hex(6),
        password="a long enough password",
        national_id=egn.make(born, secrets.randbelow(1000)),
    )


def service(session: Session, demo: dict[str, Any]) -> Service:
    found = session.scalar(
        select(Service).where(Service.client_id == demo["services"][0]["client_id"])
    )
    assert found is not None
    return found


def child_of(broker: Any, session: Session, parent: Subject, now: datetime) -> Subject:
    """A minor child whose parent answers for them until a year from now."""
    child = citizen(broker, session)
    session.add(
        Guardianship(
            guardian_subject_id=parent.id,
            ward_subject_id=child.id,
            started_at=now,
            ends_at=now + timedelta(days=365),
        )
    )
    session.flush()
    return child


def granted(
    broker: Any,
    session: Session,
    demo: dict[str, Any],
    subject: Subject,
    now: datetime,
    decided_by: Subject | None = None,
) -> Consent:
    return record_decision(
        session,
        broker.domain,
        subject=subject,
        service=service(session, demo),
        request=REQUEST,
        allow=True,
        now=now,
        decided_by=decided_by,
    )
