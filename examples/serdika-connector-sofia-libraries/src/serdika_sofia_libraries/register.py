"""The libraries' register as a SQLite file: its tables, and a writer for tests and demos.

The library system owns the file; the connector only reads it. :func:`write_register` and
:func:`demo_members` make a register with plausible, deterministic data, for tests and for a
broker's demo.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    national_id TEXT PRIMARY KEY,
    card_number TEXT NOT NULL UNIQUE,
    home_branch TEXT NOT NULL,
    member_since TEXT NOT NULL,          -- YYYY-MM-DD
    valid_until TEXT NOT NULL            -- YYYY-MM-DD
);
CREATE TABLE IF NOT EXISTS loans (
    card_number TEXT NOT NULL REFERENCES members (card_number),
    title TEXT NOT NULL,
    branch TEXT NOT NULL,
    borrowed TEXT NOT NULL,              -- YYYY-MM-DD
    returned TEXT                        -- YYYY-MM-DD, NULL while on loan
);
CREATE INDEX IF NOT EXISTS loans_by_card ON loans (card_number, borrowed);
CREATE TABLE IF NOT EXISTS visits (
    card_number TEXT NOT NULL REFERENCES members (card_number),
    branch TEXT NOT NULL,
    entered_at TEXT NOT NULL             -- UTC, YYYY-MM-DDTHH:MM:SS+00:00
);
CREATE INDEX IF NOT EXISTS visits_by_card ON visits (card_number, entered_at);
"""

BRANCHES = (
    "Столична библиотека, пл. „Славейков“ 4",
    "Районна библиотека „Лозенец“",
    "Районна библиотека „Младост“",
    "Библиотека на читалище „Славянска беседа“",
)
TITLES = (
    "Под игото — Иван Вазов",
    "Бай Ганьо — Алеко Константинов",
    "Тютюн — Димитър Димов",
    "Железният светилник — Димитър Талев",
    "Време разделно — Антон Дончев",
    "Физика на тъгата — Георги Господинов",
    "Времеубежище — Георги Господинов",
    "Старопланински легенди — Йордан Йовков",
    "Хайка за вълци — Ивайло Петров",
    "Приказки за деца — Ран Босилек",
)


@dataclass(frozen=True)
class Loan:
    title: str
    branch: str
    borrowed: date
    returned: date | None = None


@dataclass(frozen=True)
class Member:
    national_id: str
    card_number: str
    home_branch: str
    member_since: date
    valid_until: date
    loans: list[Loan] = field(default_factory=list)
    visits: list[datetime] = field(default_factory=list)  # aware instants


def write_register(path: Path, members: Iterable[Member]) -> None:
    """Create the register's tables in ``path`` if needed, and replace these members' rows."""
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)
        for member in members:
            db.execute("DELETE FROM loans WHERE card_number = ?", (member.card_number,))
            db.execute("DELETE FROM visits WHERE card_number = ?", (member.card_number,))
            db.execute("DELETE FROM members WHERE national_id = ?", (member.national_id,))
            db.execute(
                "INSERT INTO members VALUES (?, ?, ?, ?, ?)",
                (
                    member.national_id,
                    member.card_number,
                    member.home_branch,
                    member.member_since.isoformat(),
                    member.valid_until.isoformat(),
                ),
            )
            db.executemany(
                "INSERT INTO loans VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        member.card_number,
                        loan.title,
                        loan.branch,
                        loan.borrowed.isoformat(),
                        loan.returned.isoformat() if loan.returned else None,
                    )
                    for loan in member.loans
                ],
            )
            db.executemany(
                "INSERT INTO visits VALUES (?, ?, ?)",
                [
                    (
                        member.card_number,
                        member.home_branch,
                        moment.astimezone(UTC).replace(microsecond=0).isoformat(),
                    )
                    for moment in member.visits
                ],
            )


def demo_members(national_ids: Iterable[str], today: date) -> list[Member]:
    """Two years of plausible library use for each person, the same for the same inputs."""
    sofia = ZoneInfo("Europe/Sofia")
    members = []
    for national_id in national_ids:
        rng = random.Random(f"sofia-libraries:{national_id}")  # noqa: S311 - demo data
        branch = rng.choice(BRANCHES)
        loans = []
        borrowed = today - timedelta(days=700 + rng.randrange(30))
        while borrowed < today - timedelta(days=30):
            returned = borrowed + timedelta(days=7 + rng.randrange(21))
            loans.append(Loan(rng.choice(TITLES), branch, borrowed, returned))
            borrowed = returned + timedelta(days=3 + rng.randrange(40))
        loans.append(Loan(rng.choice(TITLES), branch, today - timedelta(days=5)))
        visits = [
            datetime.combine(loan.borrowed, time(10 + rng.randrange(9), rng.randrange(60)), sofia)
            for loan in loans
        ] + [
            datetime.combine(
                today - timedelta(days=day), time(9 + rng.randrange(10), rng.randrange(60)), sofia
            )
            for day in range(1, 28, 2 + rng.randrange(3))
        ]
        members.append(
            Member(
                national_id=national_id,
                card_number=f"СБ-{rng.randrange(10**8):08d}",
                home_branch=branch,
                member_since=today - timedelta(days=800 + rng.randrange(2000)),
                valid_until=today + timedelta(days=30 + rng.randrange(330)),
                loans=loans,
                visits=visits,
            )
        )
    return members
