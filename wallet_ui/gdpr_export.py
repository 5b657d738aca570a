"""The citizen's data export (GDPR Art. 15, right of access, and Art. 20, portability).

``GET /wallet/export`` is a page that says what the export holds and links its two forms:

- ``GET /wallet/export.json``: one JSON document, streamed as a download in constant memory
  (each list is read in keyset chunks, as :func:`consent.history.iter_history` does)::

      {"format": "serdika-export", "version": 1, "generated_at": ...,
       "subject": {"username", "locale", "created_at"},
       "consents": [{"id", "status", "service": {...}, "purpose": {..., "legal_basis"},
                     "scope": [{"connector", "resource", "fields", "actions",
                                "constraints"}], "duration", "requested_at", "decided_at",
                     "expires_at", "revoked_at"}],
       "receipts": [{"id", "consent_id", "kind", "issued_at", "ledger_index", "jws"}],
       "access_history": [ as ``/wallet/history.json``'s "reads" ],
       "notifications": [{"kind", "consent_id", "details", "created_at", "read_at"}],
       "my_data": [{"connector", "name", "result", "resources": [{"resource", "name",
                    "result", "window", "labels", "data"}]}],
       "verification": {"jwks_uri", "jwks"}}

  Times are ISO 8601 in UTC; receipts are the JWS compact strings, verifiable with the key
  under ``verification``.
- ``GET /wallet/export.html``: the same content as a readable, printable page (the wallet's
  stylesheet has print rules), streamed from the template.

Both are never cached. ``my_data`` is read from the sources when the export reaches it, as on
the "My data" page (:mod:`wallet_ui.mydata`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from flask import Response, current_app, render_template, stream_with_context, url_for
from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from consent.catalogue import LEGAL_BASES
from consent.citizen_consents import effective_status
from consent.history import iter_history
from consent.models import Consent, Notification, Purpose, Receipt, Service, Subject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.locale import current_locale
from wallet_ui.mydata import own_reads, views_of, window_in_words
from wallet_ui.notices import describer
from wallet_ui.ports import SourceRead, wallet_parts
from wallet_ui.reads import ReadNamer, ReadView, iso, read_json
from wallet_ui.signed_in import signed_in
from wallet_ui.wording import scope_view

CHUNK = 200
T = TypeVar("T")


def _keyset(
    session: Session,
    query: Select[*tuple[Any, ...]],
    key: Sequence[Any],
    value_of: Callable[[Any], tuple[Any, ...]],
    chunk: int = CHUNK,
) -> Iterator[Any]:
    """Yield the rows of ``query`` ordered by ``key`` (unique), one short query per chunk."""
    after: tuple[Any, ...] | None = None
    while True:
        page = query if after is None else query.where(tuple_(*key) > tuple_(*after))
        rows = session.execute(page.order_by(*key).limit(chunk)).all()
        yield from rows
        if len(rows) < chunk:
            return
        after = value_of(rows[-1])


def consents_of(
    session: Session, subject_id: int, chunk: int = CHUNK
) -> Iterator[tuple[Consent, Service, Purpose]]:
    """The subject's consents with their service and purpose, the oldest first."""
    query = (
        select(Consent, Service, Purpose)
        .join(Service, Service.id == Consent.service_id)
        .join(Purpose, Purpose.code == Consent.purpose_code)
        .where(Consent.subject_id == subject_id)
    )
    for row in _keyset(
        session,
        query,
        (Consent.requested_at, Consent.id),
        lambda row: (row[0].requested_at, row[0].id),
        chunk,
    ):
        yield row[0], row[1], row[2]


def receipts_of(session: Session, subject_id: int, chunk: int = CHUNK) -> Iterator[Receipt]:
    """The receipts of every consent of the subject, the oldest first."""
    query = (
        select(Receipt)
        .join(Consent, Consent.id == Receipt.consent_id)
        .where(Consent.subject_id == subject_id)
    )
    for row in _keyset(
        session,
        query,
        (Receipt.issued_at, Receipt.id),
        lambda row: (row[0].issued_at, row[0].id),
        chunk,
    ):
        yield row[0]


def notifications_of(
    session: Session, subject_id: int, chunk: int = CHUNK
) -> Iterator[Notification]:
    """The subject's notifications, the oldest first."""
    query = select(Notification).where(Notification.subject_id == subject_id)
    for row in _keyset(session, query, (Notification.id,), lambda row: (row[0].id,), chunk):
        yield row[0]


def _when(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def consent_json(
    consent: Consent, service: Service, purpose: Purpose, now: datetime
) -> dict[str, Any]:
    basis = LEGAL_BASES.get(purpose.legal_basis)
    return {
        "id": consent.id,
        "status": effective_status(consent, now),
        "service": {
            "client_id": service.client_id,
            "name_bg": service.name_bg,
            "name_en": service.name_en,
            "organisation": service.organisation,
        },
        "purpose": {
            "code": purpose.code,
            "name_bg": purpose.name_bg,
            "name_en": purpose.name_en,
            "legal_basis": purpose.legal_basis,
            "legal_basis_article": basis.article_en if basis else None,
            "dpv": purpose.dpv_iri,
        },
        "scope": consent.scope,
        "duration": consent.duration,
        "requested_at": _when(consent.requested_at),
        "decided_at": _when(consent.decided_at),
        "expires_at": _when(consent.expires_at),
        "revoked_at": _when(consent.revoked_at),
    }


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "consent_id": receipt.consent_id,
        "kind": receipt.kind,
        "issued_at": _when(receipt.issued_at),
        "ledger_index": receipt.ledger_index,
        "jws": receipt.jws,
    }


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "kind": notification.kind,
        "consent_id": notification.consent_id,
        "details": notification.details,
        "created_at": _when(notification.created_at),
        "read_at": _when(notification.read_at),
    }


def my_data_json(reads: Sequence[SourceRead], locale: str) -> list[dict[str, Any]]:
    return [
        {
            "connector": source.connector,
            "name": source.description.label(locale),
            "result": str(source.outcome),
            "resources": [
                {
                    "resource": read.resource,
                    "name": read.description.label(locale),
                    "result": str(read.outcome),
                    "window": read.window_json(),
                    "labels": {
                        name: field.label(locale) for name, field in read.description.fields.items()
                    },
                    "data": dict(read.data) if str(read.outcome) == "read" else None,
                }
                for read in source.resources
            ],
        }
        for source in reads
    ]


def _dumps(value: Any) -> str:
    # ``default=str``: a source may hand over decimals or dates; they are kept as text.
    return json.dumps(value, ensure_ascii=False, default=str)


def _array(items: Iterator[Any]) -> Iterator[str]:
    separator = ""
    for item in items:
        yield separator + _dumps(item)
        separator = ", "


def _export_json(subject: Subject) -> Iterator[str]:
    parts = wallet_parts()
    locale = current_locale()
    now = utcnow()
    head = {
        "format": "serdika-export",
        "version": 1,
        "generated_at": iso(now),
        "subject": {
            "username": subject.username,
            "locale": subject.locale,
            "created_at": _when(subject.created_at),
        },
    }
    with parts.db.sessions() as session:
        yield _dumps(head)[:-1] + ', "consents": ['
        yield from _array(consent_json(*row, now) for row in consents_of(session, subject.id))
        yield '], "receipts": ['
        yield from _array(receipt_json(row) for row in receipts_of(session, subject.id))
        yield '], "access_history": ['
        name = ReadNamer()
        yield from _array(read_json(name(record)) for record in iter_history(session, subject.id))
        yield '], "notifications": ['
        yield from _array(notification_json(row) for row in notifications_of(session, subject.id))
    yield '], "my_data": '
    yield _dumps(my_data_json(own_reads(subject), locale))
    verification = {
        "jwks_uri": url_for("jwks", _external=True),
        "jwks": {"keys": [parts.keys.public_jwk()]},
    }
    yield ', "verification": ' + _dumps(verification) + "}\n"


class Peeked(Generic[T]):
    """An iterator that knows, without consuming it, whether it holds anything (for templates)."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._first: list[T] = []
        self._looked = False

    def __bool__(self) -> bool:
        if not self._looked:
            self._looked = True
            self._first = [item for item in [next(self._items, None)] if item is not None]
        return bool(self._first)

    def __iter__(self) -> Iterator[T]:
        bool(self)
        yield from self._first
        self._first = []
        yield from self._items


def _export_html(subject: Subject) -> Iterator[str]:
    parts = wallet_parts()
    now = utcnow()
    locale = current_locale()
    with parts.db.sessions() as session:
        name = ReadNamer()
        reads: Iterator[ReadView] = (name(record) for record in iter_history(session, subject.id))
        context: dict[str, Any] = {
            "subject": subject,
            "generated_at": now,
            "consents": Peeked(consents_of(session, subject.id)),
            "receipts": Peeked(receipts_of(session, subject.id)),
            "reads": Peeked(reads),
            "notifications": Peeked(notifications_of(session, subject.id)),
            "describe": describer(session, locale),
            "own_sources": lambda: views_of(own_reads(subject), locale),
            "status_of": lambda consent: effective_status(consent, now),
            "scope_of": scope_view,
            "window_in_words": window_in_words,
            "legal_basis": LEGAL_BASES.get,
        }
        current_app.update_template_context(context)
        template = current_app.jinja_env.get_template("wallet/export_document.html")
        stream = template.stream(context)
        stream.enable_buffering(64)
        yield from stream


def _download(body: Iterator[str], mimetype: str, filename: str | None = None) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    if filename is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/wallet/export")
@signed_in
def export(subject: Subject) -> Response:
    response = Response(render_template("wallet/export.html"), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/wallet/export.json")
@signed_in
def export_json(subject: Subject) -> Response:
    filename = f"serdika-my-data-{utcnow().date().isoformat()}.json"
    return _download(_export_json(subject), "application/json", filename)


@bp.get("/wallet/export.html")
@signed_in
def export_html(subject: Subject) -> Response:
    return _download(_export_html(subject), "text/html")
