"""A citizen downloads a receipt bundle: only their own, once a signed head covers it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from broker.sequencer import head_signer
from consent.ledger.sequencing import publish_head
from consent.models import Receipt
from consent.receipt_downloads import ATTEMPTS, NoSuchReceipt, own_receipt, receipt_bundle
from consent.receipts import verify_bundle
from tests.unit.consent.factories import citizen, granted


def _granted_receipt(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who, other = citizen(broker, session), citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        session.flush()
        receipt = session.scalar(select(Receipt).where(Receipt.consent_id == consent.id))
        assert receipt is not None
        return who.id, other.id, consent.id, receipt.id


def test_only_the_citizens_own_receipts_are_found(broker, demo):
    who, other, consent_id, receipt_id = _granted_receipt(broker, demo)
    now = datetime.now(UTC)
    with broker.db.sessions() as session:
        assert own_receipt(session, who, consent_id, receipt_id, now).id == receipt_id
        for citizen_id, consent, receipt in (
            (other, consent_id, receipt_id),
            (who, "cns_other", receipt_id),
            (who, consent_id, "rct_other"),
            (who, consent_id, "x" * 41),
        ):
            with pytest.raises(NoSuchReceipt):
                own_receipt(session, citizen_id, consent, receipt, now)


def test_without_a_signed_head_the_download_waits_then_gives_up(broker, demo):
    who, _other, consent_id, receipt_id = _granted_receipt(broker, demo)
    pauses: list[float] = []
    with broker.db.sessions() as session:
        download = receipt_bundle(
            session,
            broker.db.sessions,
            citizen_id=who,
            consent_id=consent_id,
            receipt_id=receipt_id,
            now=datetime.now(UTC),
            current_head=lambda: None,
            jwk=broker.keys.public_jwk(),
            pause=pauses.append,
        )
    assert download.bundle is None and download.receipt.id == receipt_id
    assert len(pauses) == ATTEMPTS


def test_a_covered_receipt_comes_as_a_bundle_that_verifies(broker, demo):
    who, _other, consent_id, receipt_id = _granted_receipt(broker, demo)

    def head():
        with broker.db.sessions() as session, broker.db.writing(session):
            return publish_head(session, head_signer(broker), now=datetime.now(UTC))

    with broker.db.sessions() as session:
        download = receipt_bundle(
            session,
            broker.db.sessions,
            citizen_id=who,
            consent_id=consent_id,
            receipt_id=receipt_id,
            now=datetime.now(UTC),
            current_head=head,
            jwk=broker.keys.public_jwk(),
            pause=lambda seconds: None,
        )
    assert download.bundle is not None
    assert verify_bundle(download.bundle, broker.keys.signing_key.public_key()) == []
