"""Fixtures for connector tests: an empty SQL database per backend (see ``sqldb.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from tests.unit.connectors.sqldb import BACKENDS, fresh_database_url


@pytest.fixture(params=BACKENDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The SQLAlchemy URL of an empty, fresh database: a SQLite file, then PostgreSQL."""
    yield from fresh_database_url(request.param, tmp_path)


@pytest.fixture
def sql_engine(sql_url: str) -> Iterator[Engine]:
    """An Engine on the empty database of ``sql_url`` (the same one, if a test takes both)."""
    engine = create_engine(sql_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL database, for what only PostgreSQL has (statement timeouts, locks).

    Skipped only when a developer leaves PostgreSQL out of SERDIKA_TEST_DATABASES; CI runs it.
    """
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the test databases")
    yield from fresh_database_url("postgresql", tmp_path)
