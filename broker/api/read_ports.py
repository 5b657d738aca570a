"""The data read's ports (consent.access) over the broker's prepared statements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from broker.api.tokens import read_grant
from broker.db import Database
from broker.prepared import append_prepared, append_read, give_back_read, take_read
from connectors.registry import ConnectorRegistry
from consent.access_ports import AccessGrant, ReadPorts, Source
from consent.crypto import Keyring
from consent.decisions import ConsentState, Decision
from consent.ledger.entries import LedgerEvent


class PreparedTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    def grant(self, token: str, now: datetime) -> AccessGrant:
        return read_grant(self._db.raw, self._db.dialect, token, now)


class PreparedQuotas:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take(
        self,
        consent_id: str,
        connector: str,
        resource: str,
        max_reads: int,
        period: timedelta,
        now: datetime,
    ) -> int | None:
        return take_read(self._db, consent_id, connector, resource, max_reads, period, now)

    def give_back(self, consent_id: str, connector: str, resource: str) -> None:
        give_back_read(self._db, consent_id, connector, resource)


class PreparedLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(
        self,
        event: LedgerEvent,
        *,
        at: datetime,
        consent_id: str,
        service: str,
        details: dict[str, Any],
    ) -> int:
        return append_prepared(
            self._db, event, at=at, consent_id=consent_id, service=service, details=details
        )

    def append_read(
        self,
        consent_id: str,
        decide: Callable[[ConsentState | None], Decision],
        *,
        at: datetime,
        service: str,
        details: dict[str, Any],
    ) -> Decision:
        return append_read(self._db, consent_id, decide, at=at, service=service, details=details)


class RegistrySources:
    def __init__(self, connectors: ConnectorRegistry) -> None:
        self._connectors = connectors

    def locate(self, connector: str, resource: str) -> Source | None:
        source = self._connectors.get(connector)
        description = self._connectors.catalogue.get(connector)
        if source is None or description is None or resource not in description.resources:
            return None
        return Source(source, description.resources[resource])


def read_ports(db: Database, keyring: Keyring, connectors: ConnectorRegistry) -> ReadPorts:
    return ReadPorts(
        tokens=PreparedTokens(db),
        quotas=PreparedQuotas(db),
        ledger=PreparedLedger(db),
        sources=RegistrySources(connectors),
        keyring=keyring,
    )
