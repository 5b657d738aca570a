"""The ledger's leaves: consecutive indexes, RFC 8785 bytes, RFC 9162 leaf hashes."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
import rfc8785
from sqlalchemy import select

from consent.ledger.entries import LedgerEvent, append_entry, canonical_bytes, ledger_size
from consent.ledger.rfc9162 import leaf_hash
from consent.models import LedgerEntry


def _append(session, **details) -> int:
    return append_entry(
        session,
        LedgerEvent.DATA_READ,
        at=datetime.now(UTC),
        consent_id="cns_ledger_test",
        service="kindergartens",
        details=details or None,
    )


def test_leaf_hash_is_rfc9162():
    data = b'{"a":1}'
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()


def test_canonical_bytes_are_rfc8785():
    entry = {"z": 1, "a": [True, None, 1.5e21], "é": "ж\u2028", "n": -0.0}
    assert canonical_bytes(entry) == rfc8785.dumps(entry)
    assert canonical_bytes(entry).startswith(b'{"a":')


def test_appended_entries(broker, demo):
    with broker.db.sessions() as session, broker.db.writing(session):
        start = ledger_size(session)
        indexes = [_append(session, fields=["given_name"], subject="ab" * 32) for _ in range(3)]
        assert indexes == [start, start + 1, start + 2]
        assert ledger_size(session) == start + 3
    with broker.db.sessions() as session:
        rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.index)).all()
        assert [row.index for row in rows] == list(range(len(rows)))
        assert len(rows) == ledger_size(session)
        for row in rows:
            data = row.entry.encode()
            assert data == rfc8785.dumps(json.loads(row.entry))
            assert row.leaf_hash == hashlib.sha256(b"\x00" + data).digest()
            entry = json.loads(row.entry)
            assert entry["index"] == row.index and entry["event"] == row.event
            assert entry["v"] == 1 and entry["time"].endswith("Z")
        last = json.loads(rows[-1].entry)
        assert last["consent"] == "cns_ledger_test" and last["service"] == "kindergartens"
        assert last["fields"] == ["given_name"]


def test_a_rolled_back_append_gives_its_index_back(broker, demo):
    with broker.db.sessions() as session:
        start = ledger_size(session)
        session.rollback()
        with pytest.raises(RuntimeError), broker.db.writing(session):
            assert _append(session) == start
            raise RuntimeError("the transaction fails after the append")
        assert ledger_size(session) == start
        with broker.db.writing(session):
            assert _append(session) == start
        assert session.scalar(select(LedgerEntry.index).where(LedgerEntry.index > start)) is None


def test_concurrent_appends_get_unique_consecutive_indexes(broker, demo):
    threads_count, per_thread = 4, 5
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_count)

    def work() -> None:
        try:
            barrier.wait(timeout=30)
            with broker.db.sessions() as session:
                for _ in range(per_thread):
                    with broker.db.writing(session):
                        index = _append(session)
                    with lock:
                        results.append(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    with broker.db.sessions() as session:
        start = ledger_size(session)
    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = threads_count * per_thread
    assert sorted(results) == list(range(start, start + total))
    with broker.db.sessions() as session:
        assert ledger_size(session) == start + total
        stored = session.scalars(
            select(LedgerEntry.index).where(LedgerEntry.index >= start).order_by(LedgerEntry.index)
        ).all()
        assert stored == list(range(start, start + total))
