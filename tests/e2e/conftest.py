"""The real server, once per database backend: migrated, seeded, served by gunicorn.

PostgreSQL gets a throwaway database from the shared helper in ``tests/conftest.py`` (skipped
when unreachable on a developer's machine, required under ``CI=true``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _postgres_database
from tests.e2e.harness import RealServer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def e2e_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e-sqlite') / 'serdika.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="module")
def real_server(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RealServer]:
    base: Path = tmp_path_factory.mktemp("e2e")
    server = RealServer(database_url=e2e_database_url, var_dir=base / "var",
                        log_path=base / "server.log", workers=2)
    with server.serving():
        yield server
