"""Fresh, empty SQL databases for connector tests: a SQLite file, or a throwaway PostgreSQL one.

SQL connectors are tested on both backends the broker supports. Use the ``sql_engine`` (or
``sql_url``) fixture of this package's ``conftest.py``; outside pytest fixtures, use
:func:`fresh_database_url` or :func:`fresh_engine` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.conftest import BACKENDS, _postgres_database

__all__ = ["BACKENDS", "fresh_database_url", "fresh_engine", "locked", "sqlalchemy_url"]


def sqlalchemy_url(url: str) -> str:
    """Name the PostgreSQL driver the project ships (psycopg 3) in a plain ``postgresql://`` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def fresh_database_url(backend: str, directory: Path) -> Iterator[str]:
    """Yield the SQLAlchemy URL of an empty database; a PostgreSQL one is dropped afterwards.

    ``backend`` is ``"sqlite"`` (a file in ``directory``) or ``"postgresql"`` (skipped when the
    server is unreachable, except under CI; see ``tests/conftest.py``).
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'source.sqlite3'}"
    elif backend == "postgresql":
        for url in _postgres_database():
            yield sqlalchemy_url(url)
    else:
        raise ValueError(f"unknown test database backend {backend!r}")


@contextmanager
def fresh_engine(backend: str, directory: Path) -> Iterator[Engine]:
    """An Engine on an empty database, disposed (and the database dropped) afterwards."""
    for url in fresh_database_url(backend, directory):
        engine = create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def locked(engine: Engine, table: str) -> Iterator[None]:
    """Hold an exclusive lock on ``table`` (PostgreSQL) from another connection in the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(5), "the lock was not taken"
        yield
    finally:
        release.set()
        holder.join()
