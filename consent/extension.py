"""Extending a consent: its end moves later, by its own duration, within its purpose.

The status stays what it was (active or paused); the ledger gets ``consent:extended`` and the
citizen an ``extension`` receipt, in the same transaction as the new end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import Actor, DomainContext, issue_receipt
from consent.models import Consent, ConsentStatus, Purpose, Receipt, Service
from consent.receipts import ReceiptKind
from consent.requests import duration_end

S = ConsentStatus


class ExtensionRefused(Exception):
    """The consent cannot be extended: it has ended, or its purpose allows no later end."""


def extension_end(consent: Consent, purpose: Purpose, now: datetime) -> datetime | None:
    """How far an extension would move the consent's end, or None when it cannot move.

    One extension adds the consent's own duration to its end, but never beyond the purpose's
    maximum counted from today: extending can renew a consent, not make it endless.
    """
    if consent.status not in (S.ACTIVE, S.PAUSED):
        return None
    if consent.expires_at is None or consent.expires_at <= now:
        return None
    end = min(
        duration_end(consent.expires_at, consent.duration),
        duration_end(now, purpose.max_duration),
    )
    # Less than a day later is not worth a receipt; it would only confuse.
    return end if end - consent.expires_at >= timedelta(days=1) else None


def extend_consent(
    session: Session,
    context: DomainContext,
    consent: Consent,
    *,
    now: datetime,
    by: Actor = Actor.SUBJECT,
) -> Receipt:
    """Move the end of an active or paused consent later (:func:`extension_end`).

    Appends ``consent:extended`` and issues an ``extension`` receipt that names the new end;
    the update is conditional on the end read, so a double submit extends once. Raises
    :class:`ExtensionRefused` when the consent cannot be extended.
    """
    purpose = session.get(Purpose, consent.purpose_code)
    assert purpose is not None
    previous = consent.expires_at
    end = extension_end(consent, purpose, now)
    if end is None or previous is None:
        raise ExtensionRefused(consent.id)
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Consent)
            .where(
                Consent.id == consent.id,
                Consent.status.in_((S.ACTIVE, S.PAUSED)),
                Consent.expires_at == previous,
            )
            .values(expires_at=end)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        session.refresh(consent)
        raise ExtensionRefused(consent.id)
    consent.expires_at = end
    service = session.get(Service, consent.service_id)
    assert service is not None
    index = append_entry(
        session,
        LedgerEvent.CONSENT_EXTENDED,
        at=now,
        consent_id=consent.id,
        service=service.client_id,
        details={
            "subject": consent.subject_pseudonym,
            "by": by,
            # As the grant entry writes its end.
            "expires": end.isoformat(),
            "previous_expires": previous.isoformat(),
        },
    )
    return issue_receipt(
        session, context, consent, service, kind=ReceiptKind.EXTENSION, at=now, ledger_index=index
    )
