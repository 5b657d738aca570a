"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import broker.oauth.models  # noqa: F401 - their tables join the shared metadata
import wallet_ui.models  # noqa: F401
from consent.models import Base, Service, ServiceKind


def test_migrated_schema_matches_the_models(app: Any) -> None:
    engine = app.extensions["serdika"].db.engine
    with engine.connect() as connection:
        # The demo's source tables share the test database; only the broker's are compared.
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _parents: kind != "table"
            or name in Base.metadata.tables or name == "alembic_version"})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_service_may_acknowledge_erasure_requests(broker: Any, demo: Any) -> None:
    with broker.db.sessions() as session:
        services = session.query(Service).filter(Service.kind == ServiceKind.SERVICE).all()
    assert services
    for service in services:
        assert "client_credentials" in service.grant_types
        assert "erasure:manage" in service.scope.split()


def test_services_registered_before_0004_gain_the_erasure_scope(tmp_path: Any) -> None:
    from sqlalchemy import create_engine, text

    from broker.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0003")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO services (client_id, client_secret_hash, kind, name_bg, name_en, "
            "organisation, redirect_uris, grant_types, scope, sandbox, status, created_at) "
            "VALUES ('old', x'00', 'service', 'с', 's', 'o', '[]', "
            "'[\"authorization_code\", \"refresh_token\"]', '', 0, 'active', "
            "'2026-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO services (client_id, client_secret_hash, kind, name_bg, name_en, "
            "organisation, redirect_uris, grant_types, scope, sandbox, status, created_at) "
            "VALUES ('aud', x'00', 'auditor', 'а', 'a', 'o', '[]', "
            "'[\"client_credentials\"]', 'audit:read', 0, 'active', '2026-01-01 00:00:00')"))
    upgrade(url)
    with engine.connect() as connection:
        rows = dict(connection.execute(text(
            "SELECT client_id, grant_types || ' ' || scope FROM services")).all())
    engine.dispose()
    assert rows["old"] == ('["authorization_code", "refresh_token", "client_credentials"] '
                           'erasure:manage')
    assert rows["aud"] == '["client_credentials"] audit:read'
