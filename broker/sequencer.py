"""The ledger's sequencer: one at a time integrates entries into the tree and signs a head.

On PostgreSQL a transaction-scoped advisory lock elects it among all nodes and workers; on
SQLite the single-writer queue already admits one at a time. Every gunicorn worker runs a
daemon thread that tries every few seconds, so heads follow the entries without a separate
service; the tree-head endpoint also sequences on demand when the latest head lags.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from consent.ledger import ledger_size
from consent.transparency import SignedTreeHead, latest_head, publish_head
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key: any constant the deployment does not use elsewhere.
SEQUENCER_LOCK_KEY = 0x5E7D1CA
SEQUENCE_INTERVAL_SECONDS = 2.0


def sequence_once(broker: Broker) -> SignedTreeHead | None:
    """Integrate waiting entries and sign a head; None when another sequencer holds the lock."""
    db = broker.db
    with db.sessions() as session, db.writing(session):
        if not db.is_sqlite:
            elected = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY}
            ).scalar_one()
            if not elected:
                return None
        return publish_head(session, broker.domain.signer, now=utcnow())


def current_head(broker: Broker) -> SignedTreeHead | None:
    """The latest signed head, sequencing first when entries wait beyond it."""
    with broker.db.sessions() as session:
        head = latest_head(session)
        waiting = ledger_size(session) > (head.tree_size if head else -1)
    if waiting:
        head = sequence_once(broker) or head
        if head is None:
            with broker.db.sessions() as session:
                head = latest_head(session)
    return head


class SequencerThread(threading.Thread):
    """Tries to sequence every few seconds until stopped; errors are logged, never raised."""

    def __init__(self, broker: Broker, interval: float = SEQUENCE_INTERVAL_SECONDS) -> None:
        super().__init__(name="serdika-sequencer", daemon=True)
        self.broker = broker
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.broker.db.sessions() as session:
                    head = latest_head(session)
                    if ledger_size(session) == (head.tree_size if head else -1):
                        continue
                sequence_once(self.broker)
            except Exception:  # keep sequencing after a transient database failure
                log.exception("sequencing failed; retrying in %.0f s", self.interval)


def start_in_worker(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook: a sequencer and a notifier thread per worker."""
    from broker.mail import NotifierThread

    app = worker.wsgi
    broker = getattr(app, "extensions", {}).get("serdika")
    if broker is not None:
        SequencerThread(broker).start()
        NotifierThread(app, broker.settings.notify_interval_seconds).start()
