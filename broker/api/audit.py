"""The auditor's API under ``/api/v1/audit`` (docs/architecture.md, "The ledger").

The tree head and its checkpoint are public; proofs, entries and histories need a token with
the scope ``audit:read`` (client credentials). Every refusal is RFC 9457 problem+json.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from sqlalchemy import select

from broker.api.tokens import requires_scope
from broker.parts import current_broker
from broker.problems import problem
from broker.sequencer import current_head, head_signer
from commons import iso8601
from consent.ledger import tree, writers
from consent.ledger.checkpoint import checkpoint_note
from consent.models import LedgerEntry

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")
AUDIT_SCOPE = "audit:read"
ENTRY_PAGE = 1000
#: How much of an export is sent at a time (the answer streams in constant memory).
EXPORT_CHUNK = 64 * 1024
MAX_INDEX = 2**62


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class BadArgument(ValueError):
    pass


def _int_arg(name: str, *, default: int | None = None, minimum: int = 0) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadArgument(f"'{name}' is required.")
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadArgument(f"'{name}' must be a non-negative integer.")
    value = int(raw)
    if value < minimum or value > MAX_INDEX:
        raise BadArgument(f"'{name}' must be at least {minimum}.")
    return value


def _text_arg(name: str, longest: int) -> str | None:
    """A filter's value: printable text (PostgreSQL refuses NUL in text, which would be a 500)."""
    raw = request.args.get(name)
    if not raw:
        return None
    if len(raw) > longest or not raw.isprintable():
        raise BadArgument(f"'{name}' must be printable text of at most {longest} characters.")
    return raw


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return iso8601.instant(raw)
    except ValueError as exc:
        raise BadArgument(
            f"'{name}' must be an ISO 8601 time with its time zone, such as 2026-11-26T10:00:00Z."
        ) from exc


def _bad(error: BadArgument) -> Response:
    return problem(400, "Bad argument", str(error), code="invalid_request")


@bp.errorhandler(BadArgument)
def bad_argument(error: BadArgument) -> Response:
    return _bad(error)


@bp.get("/tree-head")
def tree_head() -> Response:
    head = current_head(current_broker())
    if head is None:
        return problem(
            503,
            "No tree head yet",
            "The ledger has no signed head yet.",
            headers={"Retry-After": "2"},
        )
    response = _json(head.as_json())
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/checkpoint")
def checkpoint() -> Response:
    broker = current_broker()
    head = current_head(broker)
    if head is None:
        return problem(
            503,
            "No tree head yet",
            "The ledger has no signed head yet.",
            headers={"Retry-After": "2"},
        )
    note = checkpoint_note(broker.settings.issuer, head_signer(broker), head)
    response = Response(note, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _integrated_size(session: Any) -> int:
    return tree.tree_size(session)


@bp.get("/proofs/inclusion")
@requires_scope(AUDIT_SCOPE)
def inclusion() -> Response:
    index = _int_arg("index")
    size = _int_arg("tree_size", minimum=1)
    with current_broker().db.sessions() as session:
        available = _integrated_size(session)
        if size > available:
            raise BadArgument(f"'tree_size' {size} is beyond the tree ({available} entries).")
        if index >= size:
            raise BadArgument(f"'index' must be smaller than 'tree_size' ({size}).")
        path = tree.inclusion_proof(session, index, size)
    return _json({"leaf_index": index, "tree_size": size, "audit_path": [_b64(h) for h in path]})


@bp.get("/proofs/consistency")
@requires_scope(AUDIT_SCOPE)
def consistency() -> Response:
    first = _int_arg("first", minimum=1)
    second = _int_arg("second", minimum=1)
    with current_broker().db.sessions() as session:
        available = _integrated_size(session)
        if second > available:
            raise BadArgument(f"'second' {second} is beyond the tree ({available} entries).")
        if first > second:
            raise BadArgument("'first' must not be greater than 'second'.")
        path = tree.consistency_proof(session, first, second)
    return _json({"first": first, "second": second, "consistency_path": [_b64(h) for h in path]})


@bp.get("/entries")
@requires_scope(AUDIT_SCOPE)
def entries() -> Response:
    start = _int_arg("start", default=0)
    end = _int_arg("end", default=MAX_INDEX)
    if end < start:
        raise BadArgument("'end' must not be smaller than 'start'.")
    filters = []
    if service := _text_arg("service", 64):
        filters.append(LedgerEntry.service_client_id == service)
    if purpose := _text_arg("purpose", 64):
        filters.append(LedgerEntry.purpose == purpose)
    if event := _text_arg("event", 32):
        filters.append(LedgerEntry.event == event)
    if since := _time_arg("since"):
        filters.append(LedgerEntry.recorded_at >= since)
    if until := _time_arg("until"):
        filters.append(LedgerEntry.recorded_at < until)
    broker = current_broker()

    def lines() -> Iterator[str]:
        position = start
        with broker.db.sessions() as session:
            while position < end:
                page = session.execute(
                    select(LedgerEntry.index, LedgerEntry.entry)
                    .where(LedgerEntry.index >= position, LedgerEntry.index < end, *filters)
                    .order_by(LedgerEntry.index)
                    .limit(ENTRY_PAGE)
                ).all()
                for index, entry in page:
                    # The stored text is the entry's RFC 8785 form: sent as is, not re-encoded.
                    yield f'{{"type":"entry","index":{index},"entry":{entry}}}\n'
                if len(page) < ENTRY_PAGE:
                    return
                position = page[-1][0] + 1
                session.commit()

    return Response(stream_with_context(lines()), mimetype="application/jsonl")


@bp.get("/export")
@requires_scope(AUDIT_SCOPE)
def export() -> Response:
    """The ledger up to its latest signed head, with that head and its key, as ``serdika audit
    export --format jsonl`` writes it: a remote auditor saves it and runs ``serdika audit
    verify`` on it. ``since``, ``until`` and ``service`` filter it (each entry then carries its
    inclusion proof)."""
    filters = writers.ExportFilter(_time_arg("since"), _time_arg("until"), _text_arg("service", 64))
    broker = current_broker()
    head = current_head(broker)
    if head is None:
        return problem(
            503,
            "No signed head yet",
            "The ledger has not been sequenced yet.",
            code="no_tree_head",
            headers={"Retry-After": "5"},
        )
    jwk = broker.keys.jwk_of(head.key_id) or broker.keys.public_jwk()

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = writers.JsonlWriter(out)
        for _ in writers.export_steps(broker.db.sessions, head, jwk, writer, filters):
            if out.tell() >= EXPORT_CHUNK:
                yield _drain(out)
        yield _drain(out)

    response = Response(stream_with_context(lines()), mimetype="application/jsonl")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="serdika-ledger-{head.tree_size}.jsonl"'
    )
    return response


def _drain(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


@bp.get("/consents/<consent_id>")
@requires_scope(AUDIT_SCOPE)
def consent_history(consent_id: str) -> Response:
    if not (0 < len(consent_id) <= 40 and consent_id.isascii() and consent_id.isprintable()):
        return problem(404, "No such consent", code="not_found")
    broker = current_broker()
    head = current_head(broker)
    with broker.db.sessions() as session:
        rows = session.execute(
            select(LedgerEntry.index, LedgerEntry.entry, LedgerEntry.leaf_hash)
            .where(LedgerEntry.consent_id == consent_id)
            .order_by(LedgerEntry.index)
        ).all()
        if not rows:
            return problem(
                404,
                "No such consent",
                "The ledger holds no entry of this consent.",
                code="not_found",
            )
        size = head.tree_size if head else 0
        history = []
        for index, entry, leaf in rows:
            item: dict[str, Any] = {
                "index": index,
                "entry": json.loads(entry),
                "leaf_hash": _b64(leaf),
            }
            if index < size:
                item["inclusion_proof"] = {
                    "leaf_index": index,
                    "tree_size": size,
                    "audit_path": [_b64(h) for h in tree.inclusion_proof(session, index, size)],
                }
            history.append(item)
    return _json(
        {
            "consent_id": consent_id,
            "tree_head": head.as_json() if head else None,
            "entries": history,
        }
    )
