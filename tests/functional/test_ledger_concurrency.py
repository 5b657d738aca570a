"""Concurrent appends and sequencers, as several gunicorn workers or broker nodes do them.

Every process builds its own broker (its own engine and connection pool) from the test
settings, like a worker would, and they start together at a barrier. Appends alternate
between the data read's prepared path (``broker.prepared.append_prepared``) and the domain's
``consent.ledger.entries.append_entry`` inside ``db.writing``. On both backends the ledger must stay
gapless and fork-free, and concurrent sequencers must build exactly the tree a single pass
over the leaves builds.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import secrets
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from consent.ledger import rfc9162
from consent.ledger.entries import LedgerEvent, append_entry, ledger_size
from consent.ledger.heads import SignedTreeHead
from consent.models import LedgerEntry, LedgerNode, TreeHead
from consent.types import utcnow

PROCESSES = 4
APPENDS = 50
SEQUENCERS = 3
SPAWN = multiprocessing.get_context("spawn")


def _broker_for(database_url: str, var_dir: str) -> Any:
    from broker.app import build_broker
    from broker.config import load_settings

    return build_broker(
        load_settings(env={}, var_dir=var_dir, database_url=database_url, issuer="http://localhost")
    )


def _appender(
    database_url: str, var_dir: str, marker: str, worker: int, start: Any, results: Any
) -> None:
    """Append APPENDS entries, alternating the two append paths; report the indexes."""
    from broker.prepared import append_prepared

    broker = _broker_for(database_url, var_dir)
    indexes: list[int] = []
    try:
        start.wait(timeout=60)
        for n in range(APPENDS):
            details = {"worker": worker, "n": n}
            if n % 2:
                indexes.append(
                    append_prepared(
                        broker.db,
                        LedgerEvent.DATA_READ,
                        at=utcnow(),
                        consent_id=None,
                        service=marker,
                        details=details,
                    )
                )
            else:
                with broker.db.sessions() as session, broker.db.writing(session):
                    indexes.append(
                        append_entry(
                            session,
                            LedgerEvent.DATA_READ,
                            at=utcnow(),
                            service=marker,
                            details=details,
                        )
                    )
        results.put(("appender", worker, indexes, None))
    except BaseException as exc:  # report, so the test fails with the cause
        results.put(("appender", worker, indexes, repr(exc)))
    finally:
        broker.db.dispose()


def _sequencer(
    database_url: str, var_dir: str, number: int, start: Any, stop: Any, results: Any
) -> None:
    """Call ``sequence_once`` in a loop until told to stop; report the heads' sizes."""
    from broker.sequencer import sequence_once

    broker = _broker_for(database_url, var_dir)
    sizes: list[int] = []
    try:
        start.wait(timeout=60)
        while not stop.is_set():
            head = sequence_once(broker)
            if head is not None:
                sizes.append(head.tree_size)
        results.put(("sequencer", number, sizes, None))
    except BaseException as exc:
        results.put(("sequencer", number, sizes, repr(exc)))
    finally:
        broker.db.dispose()


def _run(processes: list[Any], results: Any, expected: int) -> dict[tuple[str, int], Any]:
    for process in processes:
        process.start()
    reports: dict[tuple[str, int], Any] = {}
    try:
        while len(reports) < expected:
            kind, number, values, error = results.get(timeout=180)
            assert error is None, f"{kind} {number} failed: {error}"
            reports[(kind, number)] = values
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {expected} processes reported in time")
    return reports


def _check_gapless(broker: Any, marker: str, reported: dict[int, list[int]]) -> list[int]:
    with broker.db.sessions() as session:
        size = ledger_size(session)
        indexes = session.scalars(select(LedgerEntry.index).order_by(LedgerEntry.index)).all()
        ours = session.execute(
            select(LedgerEntry.index, LedgerEntry.entry)
            .where(LedgerEntry.service_client_id == marker)
            .order_by(LedgerEntry.index)
        ).all()
    # Exactly 0..N-1: no gap, no duplicate, and the head agrees.
    assert indexes == list(range(size))
    assert len(set(indexes)) == len(indexes)
    all_reported = sorted(index for values in reported.values() for index in values)
    assert len(all_reported) == len(set(all_reported)) == PROCESSES * APPENDS
    assert [index for index, _ in ours] == all_reported
    # Every process's entries are all there, in the order that process appended them.
    by_worker: dict[int, list[int]] = {}
    for index, text in ours:
        entry = json.loads(text)
        assert entry["index"] == index
        by_worker.setdefault(entry["worker"], []).append(entry["n"])
    assert by_worker == {worker: list(range(APPENDS)) for worker in range(PROCESSES)}
    for worker, values in reported.items():
        assert values == sorted(values), f"worker {worker} got decreasing indexes"
    return all_reported


def test_concurrent_appends_get_unique_consecutive_indexes(app, broker, settings):
    marker = "concurrency-" + secrets.token_hex(4)
    start = SPAWN.Barrier(PROCESSES)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(
            target=_appender,
            args=(settings.database_url, str(settings.var_dir), marker, worker, start, results),
        )
        for worker in range(PROCESSES)
    ]
    try:
        reports = _run(processes, results, PROCESSES)
    finally:
        for process in processes:
            process.join(timeout=60)
    assert all(process.exitcode == 0 for process in processes)
    _check_gapless(broker, marker, {number: values for (_, number), values in reports.items()})


def test_concurrent_sequencers_build_one_tree_while_appends_continue(app, broker, settings):
    from broker.sequencer import sequence_once

    marker = "sequencing-" + secrets.token_hex(4)
    start = SPAWN.Barrier(PROCESSES + SEQUENCERS)
    stop = SPAWN.Event()
    results = SPAWN.Queue()
    url, var = settings.database_url, str(settings.var_dir)
    appenders = [
        SPAWN.Process(target=_appender, args=(url, var, marker, worker, start, results))
        for worker in range(PROCESSES)
    ]
    sequencers = [
        SPAWN.Process(target=_sequencer, args=(url, var, number, start, stop, results))
        for number in range(SEQUENCERS)
    ]
    for process in appenders + sequencers:
        process.start()
    reports: dict[tuple[str, int], Any] = {}
    try:
        while len([key for key in reports if key[0] == "appender"]) < PROCESSES:
            kind, number, values, error = results.get(timeout=180)
            assert error is None, f"{kind} {number} failed: {error}"
            reports[(kind, number)] = values
        stop.set()
        while len(reports) < PROCESSES + SEQUENCERS:
            kind, number, values, error = results.get(timeout=180)
            assert error is None, f"{kind} {number} failed: {error}"
            reports[(kind, number)] = values
    finally:
        stop.set()
        for process in appenders + sequencers:
            process.join(timeout=60)
    assert all(process.exitcode == 0 for process in appenders + sequencers)
    _check_gapless(
        broker,
        marker,
        {number: values for (kind, number), values in reports.items() if kind == "appender"},
    )
    for number in range(SEQUENCERS):
        sizes = reports[("sequencer", number)]
        assert sizes == sorted(sizes), f"sequencer {number} saw the tree shrink"
    assert any(reports[("sequencer", number)] for number in range(SEQUENCERS))

    final = sequence_once(broker)
    assert final is not None
    with broker.db.sessions() as session:
        size = ledger_size(session)
        leaves = session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.index)).all()
        heads = session.scalars(select(TreeHead).order_by(TreeHead.tree_size)).all()
        node_rows = session.execute(
            select(LedgerNode.level, LedgerNode.index, LedgerNode.hash)
        ).all()
        duplicates = session.execute(
            select(LedgerNode.level, LedgerNode.index, func.count())
            .group_by(LedgerNode.level, LedgerNode.index)
            .having(func.count() > 1)
        ).all()
    assert final.tree_size == size == len(leaves)
    assert final.verify(broker.keys.signing_key.public_key())

    # The root recomputed from every leaf hash, and every published head on the way: no fork.
    head_roots = {head.tree_size: head.root_hash for head in heads}
    compact = rfc9162.CompactRange()
    for leaf in leaves:
        compact.append(leaf)
        if compact.size in head_roots:
            assert head_roots[compact.size] == compact.root(), (
                f"the head of size {compact.size} forks from the ledger"
            )
    assert compact.root() == final.root_hash
    for head in heads:
        assert SignedTreeHead(
            head.tree_size, head.root_hash, head.timestamp, head.key_id, head.signature
        ).verify(broker.keys.signing_key.public_key())

    # Exactly the nodes one pass over the leaves builds: none missing, none twice, none wrong.
    assert duplicates == []
    memory = rfc9162.MemoryNodeStore(leaves)
    assert len(node_rows) == len(memory.nodes)
    stored = Counter((level, index) for level, index, _ in node_rows)
    assert max(stored.values()) == 1
    assert {(level, index): digest for level, index, digest in node_rows} == memory.nodes


def _loader(database_url: str, var_dir: str, entries: int, start: Any, results: Any) -> None:
    """``serdika demo load``'s batched append (one head bump per batch), then sequencing."""
    from broker.sequencer import sequence_once
    from demo.ledger_load import load

    broker = _broker_for(database_url, var_dir)
    try:
        start.wait(timeout=60)
        result = load(broker.db, entries, batch=700, sequence=lambda: sequence_once(broker))
        results.put(("loader", 0, [result.first_index, result.entries], None))
    except BaseException as exc:
        results.put(("loader", 0, [], repr(exc)))
    finally:
        broker.db.dispose()


def test_batched_demo_load_interleaves_with_single_appends_without_gaps(app, broker, settings):
    marker = "batched-" + secrets.token_hex(4)
    loaded = 3500
    with broker.db.sessions() as session:
        before = ledger_size(session)
    start = SPAWN.Barrier(PROCESSES + 1)
    results = SPAWN.Queue()
    url, var = settings.database_url, str(settings.var_dir)
    processes = [
        SPAWN.Process(target=_appender, args=(url, var, marker, worker, start, results))
        for worker in range(PROCESSES)
    ]
    processes.append(SPAWN.Process(target=_loader, args=(url, var, loaded, start, results)))
    try:
        reports = _run(processes, results, PROCESSES + 1)
    finally:
        for process in processes:
            process.join(timeout=60)
    assert all(process.exitcode == 0 for process in processes)
    _check_gapless(
        broker,
        marker,
        {number: values for (kind, number), values in reports.items() if kind == "appender"},
    )
    with broker.db.sessions() as session:
        assert ledger_size(session) == before + loaded + PROCESSES * APPENDS
        synthetic = session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.index >= before, LedgerEntry.service_client_id != marker)
        )
    assert synthetic == loaded
    first, entries = reports[("loader", 0)]
    assert entries == loaded and first >= before
