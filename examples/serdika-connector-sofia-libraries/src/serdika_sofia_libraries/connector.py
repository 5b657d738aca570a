"""Reads a citizen's library membership, loans and visits from the libraries' register.

The libraries keep their register in a SQLite file (see :mod:`serdika_sofia_libraries.register`
for its tables); the connector opens it read-only for each read, so the library system may
keep writing to it. Options, as in the broker's connectors TOML file::

    [connectors.sofia_libraries]
    kind = "sofia_libraries"
    path = "/srv/libraries/register.sqlite3"   # required: the register's SQLite file
    timeout = 2.0                                # seconds to wait while it is being written
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import (
    ConnectorConfigError,
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Granularity,
    Health,
    ResourceDescription,
    Sensitivity,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.limits import aggregate, window

DPV = "https://w3id.org/dpv/pd#"
MAX_TIMEOUT = 30.0


def _field(name: str, bg: str, en: str, category: str, **options: Any) -> FieldDescription:
    return FieldDescription(name, bg, en, DPV + category, **options)


def _resource(
    name: str,
    bg: str,
    en: str,
    *fields: FieldDescription,
    granularities: tuple[Granularity, ...] = (),
) -> ResourceDescription:
    return ResourceDescription(name, bg, en, {f.name: f for f in fields}, granularities)


DESCRIPTION = ConnectorDescription(
    name="sofia_libraries",
    label_bg="Столична библиотека и районните библиотеки",
    label_en="Sofia municipal libraries",
    resources={
        r.name: r
        for r in (
            _resource(
                "membership",
                "Читателска карта",
                "Library membership",
                _field("card_number", "Номер на картата", "Card number", "Identifier"),
                _field("home_branch", "Библиотека", "Home library", "Location"),
                _field("member_since", "Читател от", "Member since", "GroupMembership"),
                _field("valid_until", "Валидна до", "Valid until", "GroupMembership"),
            ),
            _resource(
                "loans",
                "Заети книги",
                "Loans",
                # What a person reads can reveal beliefs and health: treat it as special data.
                _field(
                    "history",
                    "Върнати книги (заглавие, библиотека, дати)",
                    "Returned books (title, library, dates)",
                    "Interest",
                    sensitivity=Sensitivity.SPECIAL,
                    dated=True,
                ),
                _field("on_loan", "Книги у читателя сега", "Books on loan now", "GroupMembership"),
            ),
            _resource(
                "visits",
                "Посещения",
                "Visits",
                _field(
                    "visits",
                    "Брой посещения",
                    "Number of visits",
                    "Location",
                    sensitivity=Sensitivity.LOW,
                    dated=True,
                ),
                granularities=(Granularity.DAILY, Granularity.MONTHLY),
            ),
        )
    },
)


class SofiaLibrariesConnector:
    """Serves ``membership``, ``loans`` (dated) and ``visits`` (a daily or monthly series)."""

    name = "sofia_libraries"

    def __init__(self, path: str | None = None, *, timeout: float = 2.0) -> None:
        if not isinstance(path, str) or not path.strip():
            raise ConnectorConfigError("path", "the path of the register's SQLite file")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ConnectorConfigError("timeout", "a number of seconds")
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ConnectorConfigError("timeout", f"must be more than 0 and at most {MAX_TIMEOUT}")
        # Read-only, so a mistyped path fails the read instead of creating an empty register.
        self._uri = Path(path).absolute().as_uri() + "?mode=ro"
        self.timeout = float(timeout)

    def describe(self) -> ConnectorDescription:
        return DESCRIPTION

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        description = DESCRIPTION.resources.get(resource)
        if description is None:
            raise SubjectNotFound("the libraries serve no such resource")
        wanted = list(dict.fromkeys(fields))
        unknown = set(wanted) - set(description.fields)
        if unknown:
            raise ValueError(f"{resource} has no fields {sorted(unknown)}")
        if description.dated and (
            constraints is None or constraints.date_from is None or constraints.date_to is None
        ):
            raise ValueError("dated reads need a resolved date range")
        try:
            with closing(self._connect()) as db:
                card = db.execute(
                    "SELECT card_number FROM members WHERE national_id = ?",
                    (subject.national_id,),
                ).fetchone()
                if card is None:
                    raise SubjectNotFound("no library member with this national id")
                if resource == "membership":
                    values = self._membership(db, card[0])
                elif resource == "loans":
                    values = self._loans(db, card[0], wanted, constraints)
                else:
                    values = self._visits(db, card[0], constraints)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise SourceTimeout("the libraries' register stayed locked") from exc
            raise SourceUnavailable("the libraries' register cannot be read") from exc
        except sqlite3.Error as exc:
            raise SourceUnavailable("the libraries' register cannot be read") from exc
        return {name: values[name] for name in wanted}

    def health(self) -> Health:
        try:
            with closing(self._connect()) as db:
                db.execute("SELECT 1 FROM members LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            return Health(False, f"the register cannot be read: {exc}")
        return Health(True)

    def _connect(self) -> sqlite3.Connection:
        # One connection per read: cheap for SQLite, and nothing is shared between threads.
        return sqlite3.connect(self._uri, uri=True, timeout=self.timeout)

    @staticmethod
    def _membership(db: sqlite3.Connection, card: str) -> dict[str, Any]:
        row = db.execute(
            "SELECT card_number, home_branch, member_since, valid_until FROM members"
            " WHERE card_number = ?",
            (card,),
        ).fetchone()
        names = ("card_number", "home_branch", "member_since", "valid_until")
        return dict(zip(names, row, strict=True))

    @staticmethod
    def _loans(
        db: sqlite3.Connection, card: str, wanted: list[str], constraints: Constraints | None
    ) -> dict[str, Any]:
        assert constraints is not None and constraints.date_to is not None
        values: dict[str, Any] = {}
        if "history" in wanted:
            # A loan returned on day R covers its days up to R inclusive: it ends at R + 1.
            rows = db.execute(
                "SELECT title, branch, borrowed, returned FROM loans WHERE card_number = ?"
                " AND returned IS NOT NULL AND borrowed >= ? AND returned <= ?"
                " ORDER BY borrowed, title",
                (card, str(constraints.date_from), str(constraints.date_to)),
            )
            values["history"] = [
                {
                    "start": borrowed,
                    "end": (date.fromisoformat(returned) + timedelta(days=1)).isoformat(),
                    "title": title,
                    "branch": branch,
                }
                for title, branch, borrowed, returned in rows
            ]
        if "on_loan" in wanted:
            values["on_loan"] = db.execute(
                "SELECT count(*) FROM loans WHERE card_number = ? AND returned IS NULL", (card,)
            ).fetchone()[0]
        return values

    @staticmethod
    def _visits(
        db: sqlite3.Connection, card: str, constraints: Constraints | None
    ) -> dict[str, Any]:
        assert constraints is not None
        granularity = constraints.granularity or Granularity.MONTHLY
        start, end = (moment.astimezone(UTC).isoformat() for moment in window(constraints))
        rows = db.execute(
            "SELECT entered_at FROM visits WHERE card_number = ? AND entered_at >= ?"
            " AND entered_at < ?",
            (card, start, end),
        )
        records = aggregate(
            ((datetime.fromisoformat(at), 1.0) for (at,) in rows),
            granularity,
            constraints,
            value_key="visits",
        )
        return {"visits": [{**record, "visits": int(record["visits"])} for record in records]}
