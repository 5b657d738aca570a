"""Which guardianships are in force: whom a parent may answer for, and until when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from consent.wards import (
    Child,
    coming_of_age_at,
    is_ward_now,
    may_act_for,
    wards_of,
    was_ever_ward,
)
from tests.unit.consent.factories import child_of, citizen


def test_a_child_is_named_only_when_the_registry_told_their_names():
    born = date(2015, 3, 1)
    ends = coming_of_age_at(born)
    assert Child(1, born, ends).name is None
    assert Child(1, born, ends, "Мария", "Иванова").name == "Мария Иванова"
    assert Child(1, born, ends, "Мария").name == "Мария"


def test_control_ends_at_midnight_in_sofia_on_the_18th_birthday():
    assert coming_of_age_at(date(2010, 6, 15)) == datetime(2028, 6, 14, 21, 0, tzinfo=UTC)


def test_a_guardianship_is_in_force_until_it_ends(broker):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        parent, stranger = citizen(broker, session), citizen(broker, session)
        child = child_of(broker, session, parent, now)
        assert may_act_for(session, parent.id, child.id, now)
        assert not may_act_for(session, stranger.id, child.id, now)
        assert [row.ward_subject_id for row in wards_of(session, parent, now)] == [child.id]
        assert is_ward_now(session, child.id, now) and was_ever_ward(session, child.id)
        later = now + timedelta(days=366)
        assert not may_act_for(session, parent.id, child.id, later)
        assert wards_of(session, parent.id, later) == []
        assert not is_ward_now(session, child.id, later) and was_ever_ward(session, child.id)
        assert not was_ever_ward(session, parent.id)
