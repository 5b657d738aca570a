"""Downloading a receipt: ``GET /wallet/consents/<consent_id>/receipts/<receipt_id>``.

The download is the receipt bundle of :mod:`consent.receipt_downloads` (the JWS, its ledger
entry, an inclusion proof, a signed head and the public key), for ``serdika receipt verify``
offline. While no signed head covers a receipt just issued, the citizen is asked to come back
in a minute (503, ``Retry-After``).
"""

from __future__ import annotations

import json

from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consent.models import Subject
from consent.receipt_downloads import NoSuchReceipt, receipt_bundle
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.errors import error_page
from wallet_ui.ports import wallet_parts
from wallet_ui.signed_in import signed_in


@bp.get("/wallet/consents/<consent_id>/receipts/<receipt_id>")
@signed_in
def receipt(subject: Subject, consent_id: str, receipt_id: str) -> Response:
    """Download the receipt bundle of one of the citizen's consents (or a child's)."""
    parts = wallet_parts()
    try:
        download = receipt_bundle(
            parts.db.session,
            parts.db.sessions,
            citizen_id=subject.id,
            consent_id=consent_id,
            receipt_id=receipt_id,
            now=utcnow(),
            current_head=parts.current_head,
            jwk=parts.keys.public_jwk(),
        )
    except NoSuchReceipt:
        return error_page(404, _("There is no such receipt in your wallet."))
    if download.bundle is None:
        unavailable = error_page(
            503,
            _("Your receipt is being recorded in the public log. Please try again in a minute."),
        )
        unavailable.headers["Retry-After"] = "2"
        return unavailable
    row = download.receipt
    response = Response(
        json.dumps(download.bundle, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="serdika-receipt-{row.kind}-{row.id}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
