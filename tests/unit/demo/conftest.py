"""Fixtures for demo tests: the connector tests' empty SQL databases, one per backend."""

from tests.unit.connectors.conftest import postgres_url, sql_engine, sql_url

__all__ = ["postgres_url", "sql_engine", "sql_url"]
