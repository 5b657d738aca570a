"""Erasing a citizen's account (GDPR Art. 17) while the ledger stays verifiable.

The ledger names a citizen only by a keyed pseudonym derived from their own key. Erasure
withdraws every active or paused consent (with receipts and ledger entries as usual), then destroys
that key, the encrypted national id and the sign-in data, and blanks the pseudonyms kept on
the consent rows. The ledger itself is untouched, so every root and proof still verifies,
but nothing left in the store links its entries to the person.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.crypto import ledger_pseudonym
from consent.guardianship import end_guardianships_of
from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import Actor, DomainContext, revoke_consent, subject_key
from consent.models import Consent, ConsentStatus, Subject

ERASED = "erased"


def erase_subject(
    session: Session, context: DomainContext, subject: Subject, *, now: datetime
) -> int:
    """Erase ``subject``; return how many consents were withdrawn. The caller commits."""
    if subject.erased_at is not None:
        return 0
    pseudonym = ledger_pseudonym(subject_key(context.keyring, subject))
    # Every consent row this transaction changes is locked before it appends anything, the
    # order a data read's final decision takes them too (consent rows, then the ledger's
    # head): taken the other way round the two would deadlock on PostgreSQL.
    session.execute(
        select(Consent.id)
        .where(Consent.subject_id == subject.id)
        .order_by(Consent.id)
        .with_for_update()
    )
    active = session.scalars(
        select(Consent).where(
            Consent.subject_id == subject.id,
            Consent.status.in_((ConsentStatus.ACTIVE, ConsentStatus.PAUSED)),
        )
    ).all()
    for consent in active:
        revoke_consent(session, context, consent, now=now, by=Actor.ERASURE)
    # Before the key goes: the guardianship entries name the parent by this pseudonym.
    end_guardianships_of(session, context.keyring, subject, now=now)
    append_entry(session, LedgerEvent.SUBJECT_ERASED, at=now, details={"subject": pseudonym})
    session.execute(
        update(Consent)
        .where(Consent.subject_id == subject.id)
        .values(subject_pseudonym=ERASED, subject_pairwise=ERASED)
    )
    subject.pseudonym_key_ciphertext = None
    subject.national_id_ciphertext = None
    subject.email_ciphertext = None
    subject.national_id_index = None
    subject.password_hash = "!"  # noqa: S105 - matches no argon2 hash: nobody can sign in
    subject.username = f"erased-{secrets.token_hex(8)}"
    # Wallet sessions die with it: they only resolve to subjects not erased.
    subject.erased_at = now
    return len(active)
