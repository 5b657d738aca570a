"""Fixtures shared by every test: a migrated database per backend, an app, demo data.

Every test that takes ``app`` runs once on SQLite and once on PostgreSQL. PostgreSQL is
found at ``SERDIKA_TEST_POSTGRES_URL`` (default: the CI server); when it is unreachable the
PostgreSQL half is skipped on a developer's machine and fails under CI (``CI=true``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker import create_app
from broker.config import load_settings
from broker.migrate import upgrade

POSTGRES_URL = os.environ.get("SERDIKA_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [name for name in os.environ.get("SERDIKA_TEST_DATABASES",
                                             "sqlite,postgresql").split(",") if name]


def _postgres_database() -> Iterator[str]:
    """Create a throwaway database on the PostgreSQL server, and drop it afterwards."""
    name = f"serdika_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required under CI: {exc}") from exc
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "serdika.sqlite3"
        yield f"sqlite:///{path}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def demo_upstream(var_dir: Path) -> Iterator[Any]:
    """The demo's Social Assistance Agency (demo/upstream.py) on a free loopback port."""
    from broker.keys import load_keys
    from demo.sources import start_upstream

    base = load_settings(env={}, var_dir=var_dir)
    upstream = start_upstream(base.sandbox_url, load_keys(base).secret_key, port=0)
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, var_dir: Path, demo_upstream: Any) -> Any:
    return load_settings(env={}, var_dir=var_dir, database_url=database_url,
                         issuer="http://localhost", sandbox_url=demo_upstream.url.rstrip("/"))


@pytest.fixture(scope="session")
def app(settings: Any) -> Iterator[Flask]:
    upgrade(settings.database_url)
    application = create_app({"settings": settings, "TESTING": True})
    yield application
    application.extensions["serdika"].db.dispose()


@pytest.fixture(scope="session")
def demo(app: Flask) -> dict[str, Any]:
    from broker.sources import demo_sources
    from demo.seed import seed

    broker = app.extensions["serdika"]
    with broker.db.sessions() as session:
        return seed(session, secret_key=broker.keys.secret_key, keyring=broker.keys.keyring,
                    sources=demo_sources(broker.settings, broker.connectors))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def broker(app: Flask) -> Any:
    return app.extensions["serdika"]
