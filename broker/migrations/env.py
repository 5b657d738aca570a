"""Alembic environment: the models' metadata, the URL from the broker's settings."""

from __future__ import annotations

from alembic import context

import broker.oauth.models
import wallet_ui.models  # noqa: F401 - registers the wallet tables
from broker.db import make_engine
from consent.models import Base

_ = broker.oauth.models
config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "the broker passes sqlalchemy.url"
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(
            connection=connectable, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
