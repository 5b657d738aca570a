"""The ledger's sequencer: one at a time integrates entries into the tree and signs a head.

On PostgreSQL a transaction-scoped advisory lock elects it among all nodes and workers; on
SQLite the single-writer queue already admits one at a time. Every gunicorn worker runs a
daemon thread that tries every few seconds, so heads follow the entries without a separate
service; the tree-head endpoint also sequences on demand when the latest head lags.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text

from broker.parts import Broker
from consent.ledger.heads import SignedTreeHead, TreeHeadSigner
from consent.ledger.sequencing import head_lags, latest_head, publish_head
from consent.types import utcnow

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key: any constant the deployment does not use elsewhere.
SEQUENCER_LOCK_KEY = 0x5E7D1CA
SEQUENCE_INTERVAL_SECONDS = 2.0


def head_signer(broker: Broker) -> TreeHeadSigner:
    """The signer of this broker's tree heads and checkpoints: its current signing key."""
    return TreeHeadSigner(broker.keys.signing_key, broker.keys.key_id)


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
        return publish_head(session, head_signer(broker), now=utcnow())


def current_head(broker: Broker) -> SignedTreeHead | None:
    """The latest signed head, sequencing first when entries wait beyond it."""
    with broker.db.sessions() as session:
        head = latest_head(session)
        waiting = head_lags(session, head)
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
                    if not head_lags(session, latest_head(session)):
                        continue
                sequence_once(self.broker)
            except Exception:  # keep sequencing after a transient database failure
                log.exception("sequencing failed; retrying in %.0f s", self.interval)
