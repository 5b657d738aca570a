"""The citizen's consents as the wallet shows them: status now, own or a child's, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent.citizen_actions import withdraw
from consent.citizen_consents import (
    Withdrawal,
    actor_for,
    consent_page,
    dashboard,
    days_left,
    effective_status,
    is_reference,
    own_consent,
    withdrawal_of,
)
from consent.lifecycle import Actor
from consent.models import Consent, ConsentStatus
from tests.unit.consent.factories import child_of, citizen, granted


def test_a_consent_past_its_end_reads_as_expired():
    now = datetime.now(UTC)
    ended = Consent(status=ConsentStatus.PAUSED, expires_at=now - timedelta(seconds=1))
    running = Consent(status=ConsentStatus.ACTIVE, expires_at=now + timedelta(days=90))
    assert effective_status(ended, now) == ConsentStatus.EXPIRED
    assert effective_status(running, now) == ConsentStatus.ACTIVE
    assert effective_status(Consent(status="denied"), now) == ConsentStatus.DENIED


def test_days_left_are_rounded_up():
    now = datetime.now(UTC)
    assert days_left(Consent(expires_at=now + timedelta(days=90)), now) == 90
    assert days_left(Consent(expires_at=now + timedelta(hours=1)), now) == 1
    assert days_left(Consent(expires_at=now - timedelta(days=1)), now) == 0
    assert days_left(Consent(expires_at=None), now) == 0


def test_only_short_printable_references_are_looked_up():
    assert is_reference("cns_abc")
    assert not is_reference("")
    assert not is_reference("x" * 41)
    assert not is_reference("cns_\x00")
    assert not is_reference("съгласие")


def test_a_parent_sees_a_childs_consent_and_acts_as_guardian(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        parent, stranger = citizen(broker, session), citizen(broker, session)
        child = child_of(broker, session, parent, now)
        consent = granted(broker, session, demo, child, now, decided_by=parent)
        assert own_consent(session, parent.id, consent.id, now) is not None
        assert own_consent(session, child.id, consent.id, now) is not None
        assert own_consent(session, stranger.id, consent.id, now) is None
        # The child comes of age: the parent no longer sees it.
        assert own_consent(session, parent.id, consent.id, now + timedelta(days=366)) is None
        assert actor_for(parent.id, consent) == Actor.GUARDIAN
        assert actor_for(child.id, consent) == Actor.SUBJECT


def test_the_dashboard_splits_consents_in_force_from_the_rest(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        kept = granted(broker, session, demo, who, now)
        ended = granted(broker, session, demo, who, now)
        withdraw(session, broker.domain, citizen_id=who.id, consent_id=ended.id, now=now)
        found = dashboard(session, who.id, now)
        assert [row[0].id for row in found.in_force] == [kept.id]
        assert [row[0].id for row in found.ended] == [ended.id]


def test_a_consent_page_has_its_receipts_and_what_may_be_done(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who, other = citizen(broker, session), citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        page = consent_page(session, who.id, consent.id, now)
        assert page is not None
        assert page.status == ConsentStatus.ACTIVE
        assert [receipt.kind for receipt in page.receipts] == ["grant"]
        assert page.may_ask_erasure and page.erasure_requests == []
        assert page.reads.records == []
        assert consent_page(session, other.id, consent.id, now) is None


def test_a_withdrawal_has_its_receipt(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        not_yet = withdrawal_of(session, who.id, consent.id, now)
        assert not isinstance(not_yet, Withdrawal) and not_yet is not None
        withdraw(session, broker.domain, citizen_id=who.id, consent_id=consent.id, now=now)
        done = withdrawal_of(session, who.id, consent.id, now)
        assert isinstance(done, Withdrawal)
        assert done.receipt is not None and done.receipt.kind == "revocation"
        assert withdrawal_of(session, who.id, "cns_unknown", now) is None
