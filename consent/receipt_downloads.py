"""A citizen downloads one of their receipts as a bundle they can verify offline.

The bundle (:func:`consent.receipts.bundle_for`) holds the receipt's JWS, its ledger entry,
an inclusion proof, a signed tree head and the public key, for ``serdika receipt verify``.
A receipt just issued may not be covered by a signed head yet: the head is asked for again
a few times (another node may hold the sequencer for a moment) before giving up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from consent.citizen_consents import is_reference, own_consent
from consent.ledger.heads import SignedTreeHead
from consent.models import Receipt
from consent.receipts import ReceiptNotCovered, bundle_for

#: How many times the head is asked for before the citizen is asked to come back later.
ATTEMPTS = 8


class NoSuchReceipt(LookupError):
    """No such receipt of a consent the citizen may see."""


@dataclass(frozen=True)
class ReceiptDownload:
    """The receipt, and its bundle; None while no signed head covers it yet."""

    receipt: Receipt
    bundle: dict[str, Any] | None


def own_receipt(
    session: Session, citizen_id: int, consent_id: str, receipt_id: str, now: datetime
) -> Receipt:
    """The receipt of one of the citizen's consents (or a child's); else :class:`NoSuchReceipt`."""
    found = own_consent(session, citizen_id, consent_id, now)
    row = session.get(Receipt, receipt_id) if found and is_reference(receipt_id) else None
    if row is None or row.consent_id != consent_id:
        raise NoSuchReceipt(receipt_id)
    return row


def receipt_bundle(
    session: Session,
    sessions: Callable[[], Session],
    *,
    citizen_id: int,
    consent_id: str,
    receipt_id: str,
    now: datetime,
    current_head: Callable[[], SignedTreeHead | None],
    jwk: dict[str, Any],
    pause: Callable[[float], None] | None = None,
) -> ReceiptDownload:
    """Find the citizen's receipt and bundle it with the latest signed head.

    ``sessions`` opens a fresh session for each try: it must see the tree nodes of a head
    committed just now. Raises :class:`NoSuchReceipt`.
    """
    row = own_receipt(session, citizen_id, consent_id, receipt_id, now)
    sleep = pause or time.sleep
    for attempt in range(ATTEMPTS):
        head = current_head()
        if head is not None:
            with sessions() as fresh:
                try:
                    bundle = bundle_for(
                        fresh, jws=row.jws, ledger_index=row.ledger_index, head=head, jwk=jwk
                    )
                    return ReceiptDownload(row, bundle)
                except ReceiptNotCovered:
                    pass
        sleep(0.05 * (attempt + 1))
    return ReceiptDownload(row, None)
