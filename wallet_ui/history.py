"""The access history ("data tracker"): every read of the citizen's data, and its exports.

``GET /wallet/history`` lists the reads newest first, 50 a page, with links to older and newer
pages (keyset cursors ``before``/``after`` on the ledger index). The filters come from a plain
GET form: ``service`` (a client id), ``from`` and ``to`` (``YYYY-MM-DD``, both days included,
in the time zone the wallet shows times in). A bad value gives the page again, status 400, with
the problem said in the citizen's language.

``GET /wallet/history.csv`` and ``GET /wallet/history.json`` take the same filters and stream
every matching read (chunk by chunk, see :func:`consent.history.iter_history`) as a download
that is never cached.

- CSV, UTF-8 with a byte-order mark (so spreadsheet programs read Cyrillic right), columns
  ``time`` (ISO 8601 UTC), ``service``, ``purpose``, ``source``, ``resource`` (names in the
  citizen's language), ``fields`` (field names in the citizen's language, separated by ``;``),
  ``result`` (``read`` or ``refused``), ``reason`` (why it was refused, in plain words),
  ``consent_id``.
- JSON, one document: ``{"subject": "me", "generated_at": ..., "filters": {...},
  "reads": [...]}``, each read ``{"time", "result", "reason"`` (the ledger's code, or null),
  ``"reason_text", "consent_id", "service": {"client_id", "name"}, "purpose": {"code",
  "name"}, "source": {"connector", "name"}, "resource": {"name", "label"},
  "fields": [{"name", "label"}], "window": {"from", "to", "granularity"}`` (only what a dated
  read had)``}``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import to_utc
from werkzeug.datastructures import MultiDict

from commons import iso8601
from commons.spreadsheet import inert_cell
from consent.history import HistoryPage, ReadFilter, history_page, iter_history, services_used
from consent.models import Subject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.errors import error_page
from wallet_ui.ports import wallet_parts
from wallet_ui.reads import ReadNamer, ReadView, iso, read_json
from wallet_ui.signed_in import signed_in

PAGE_SIZE = 50
CSV_COLUMNS = (
    "time",
    "service",
    "purpose",
    "source",
    "resource",
    "fields",
    "result",
    "reason",
    "consent_id",
)

_CURSOR = re.compile(r"^\d{1,18}$")


@dataclass
class Query:
    """The filters and page cursor read from the query string, and what was wrong with them."""

    where: ReadFilter = field(default_factory=ReadFilter)
    values: dict[str, str] = field(default_factory=dict)
    before: int | None = None
    after: int | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)

    def link(self, **cursor: Any) -> str:
        """The page's URL with the same filters and the given cursor."""
        arguments: dict[str, Any] = {key: value for key, value in self.values.items() if value}
        return url_for("wallet.history", **arguments, **cursor)


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` where the wallet shows times, in UTC."""
    return to_utc(datetime.combine(day, time())).replace(tzinfo=UTC)


def _parse_day(raw: str, message: str, name: str, query: Query) -> date | None:
    if not raw:
        return None
    try:
        if not iso8601.DAY.match(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
        _day_start(day + timedelta(days=1))  # the far ends of the calendar overflow
        _day_start(day)
    except (ValueError, OverflowError):
        query.errors.append((name, message))
        return None
    return day


def parse_query(args: MultiDict[str, str]) -> Query:
    """Read ``service``, ``from``, ``to``, ``before`` and ``after``; collect what is wrong."""
    query = Query()
    service = args.get("service", "").strip()
    start_raw = args.get("from", "").strip()
    end_raw = args.get("to", "").strip()
    query.values = {"service": service[:64], "from": start_raw[:32], "to": end_raw[:32]}
    if service and not (len(service) <= 64 and service.isascii() and service.isprintable()):
        query.errors.append(("service", _("Choose a service from the list.")))
        query.values["service"] = ""
        service = ""
    start = _parse_day(
        start_raw,
        _("Enter the “From” date as year-month-day, for example 2025-03-31."),
        "from",
        query,
    )
    end = _parse_day(
        end_raw, _("Enter the “To” date as year-month-day, for example 2025-03-31."), "to", query
    )
    if start and end and start > end:
        query.errors.append(("from", _("The “From” date must not be after the “To” date.")))
    for name in ("before", "after"):
        raw = args.get(name)
        if raw is None:
            continue
        if not _CURSOR.match(raw):
            query.errors.append(
                (
                    "results",
                    _(
                        "The link to this page of the list is not "
                        "valid. Start again from the newest reads."
                    ),
                )
            )
            break
        setattr(query, name, int(raw))
    query.where = ReadFilter(
        service=service or None,
        since=_day_start(start) if start else None,
        until=_day_start(end + timedelta(days=1)) if end else None,
    )
    return query


@bp.get("/wallet/history")
@signed_in
def history(subject: Subject) -> Response | str:
    query = parse_query(request.args)
    session = wallet_parts().db.session
    page = HistoryPage([])
    if not query.errors:
        page = history_page(
            session,
            subject.id,
            query.where,
            before=query.before,
            after=query.after,
            limit=PAGE_SIZE,
        )
    name = ReadNamer()
    html = render_template(
        "wallet/history.html",
        query=query,
        errors=query.errors,
        reads=[name(record) for record in page.records],
        page=page,
        services=services_used(session, subject.id),
        filtered=any(query.values.values()),
        older_url=query.link(before=page.older) if page.older is not None else None,
        newer_url=query.link(after=page.newer) if page.newer is not None else None,
        export_query={key: value for key, value in query.values.items() if value},
    )
    return Response(html, status=400 if query.errors else 200)


def _export(subject: Subject, kind: str) -> Response:
    query = parse_query(request.args)
    if query.errors:
        return error_page(400, " ".join(message for _name, message in query.errors))
    body = _csv(subject.id, query) if kind == "csv" else _json(subject.id, query)
    mimetype = "text/csv" if kind == "csv" else "application/json"
    response = Response(stream_with_context(body), mimetype=mimetype)
    filename = f"serdika-access-history-{utcnow().date().isoformat()}.{kind}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _views(subject_id: int, query: Query) -> Iterator[ReadView]:
    """Every matching read, named, from a session of the export's own (closed at the end)."""
    name = ReadNamer()
    with wallet_parts().db.sessions() as session:
        for record in iter_history(session, subject_id, query.where):
            yield name(record)


def _csv(subject_id: int, query: Query) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + taken()
    for count, view in enumerate(_views(subject_id, query), start=1):
        record = view.record
        writer.writerow(
            [
                iso(record.at),
                inert_cell(view.service),
                inert_cell(view.purpose),
                inert_cell(view.source),
                inert_cell(view.resource),
                inert_cell(";".join(label for _name, label in view.fields)),
                "refused" if record.refused else "read",
                inert_cell(view.reason),
                record.consent_id,
            ]
        )
        if count % 100 == 0:
            yield taken()
    yield taken()


def _json(subject_id: int, query: Query) -> Iterator[str]:
    head = {
        "subject": "me",
        "generated_at": iso(utcnow()),
        "filters": {key: value or None for key, value in query.values.items()},
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "reads": ['
    separator = ""
    for view in _views(subject_id, query):
        yield separator + json.dumps(read_json(view), ensure_ascii=False)
        separator = ", "
    yield "]}\n"


@bp.get("/wallet/history.csv")
@signed_in
def history_csv(subject: Subject) -> Response:
    return _export(subject, "csv")


@bp.get("/wallet/history.json")
@signed_in
def history_json(subject: Subject) -> Response:
    return _export(subject, "json")
