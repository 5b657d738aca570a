"""The ports of the data read (consent.access): what it needs from its host, as protocols.

The broker implements them over its prepared statements (``broker.api.read_ports``); a test
may implement them in memory (tests/unit/consent/test_access.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.base import Connector, ResourceDescription
from consent.crypto import Keyring
from consent.decisions import ConsentState, Decision
from consent.ledger.entries import LedgerEvent


class TokenRefused(Exception):
    """The access token cannot be used: absent, malformed, unknown, expired or revoked, or
    presented without a proof of the key it is bound to (``proof_of_possession``)."""

    def __init__(
        self, detail: str, missing: bool = False, *, proof_of_possession: bool = False
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing = missing
        self.proof_of_possession = proof_of_possession


def check_binding(bound_jkt: str | None, proof_jkt: str | None) -> None:
    """A token bound to a key (RFC 9449 §6: the thumbprint ``jkt``) is used only with a proof
    of that key, and a proof goes only with a token bound to its key (§7.1); the host checked
    the proof itself. Raise :class:`TokenRefused` otherwise."""
    if bound_jkt == proof_jkt:
        return
    if proof_jkt is None:
        detail = "This token is DPoP-bound: send it as 'Authorization: DPoP' with a proof."
    elif bound_jkt is None:
        detail = "This token is not DPoP-bound: send it as 'Authorization: Bearer'."
    else:
        detail = "The DPoP proof is signed with another key than the token is bound to."
    raise TokenRefused(detail, proof_of_possession=True)


@dataclass(frozen=True)
class AccessGrant:
    """A live access token with its consent's state, as read in one statement."""

    client_id: str
    consent_id: str | None
    consent: ConsentState | None
    sealed_national_id: bytes | None
    #: The RFC 7638 thumbprint of the DPoP key the token is bound to (RFC 9449), or None.
    jkt: str | None = None


class AccessTokens(Protocol):
    def grant(self, token: str, now: datetime) -> AccessGrant:
        """Return the live token's grant, or raise :class:`TokenRefused`."""


class ReadQuotas(Protocol):
    def take(
        self,
        consent_id: str,
        connector: str,
        resource: str,
        max_reads: int,
        period: timedelta,
        now: datetime,
    ) -> int | None:
        """Count one read; None when it may go ahead, else seconds until one is allowed."""

    def give_back(self, consent_id: str, connector: str, resource: str) -> None:
        """Return the unit of a read that failed at the source."""


class ReadLedger(Protocol):
    def append(
        self,
        event: LedgerEvent,
        *,
        at: datetime,
        consent_id: str,
        service: str,
        details: dict[str, Any],
    ) -> int:
        """Append one entry; return its index."""

    def append_read(
        self,
        consent_id: str,
        decide: Callable[[ConsentState | None], Decision],
        *,
        at: datetime,
        service: str,
        details: dict[str, Any],
    ) -> Decision:
        """Decide again on the consent as it now stands and, only if that allows the read,
        append its ``data:read`` entry: both in one write transaction, under the consent's row
        lock (``consent.decisions.LOCK_STATE``). Return the decision.

        A withdrawal, pause or expiry changes the consent's row before it appends its own entry
        (``consent.lifecycle.transition``), so a read's entry either precedes that entry, with
        the consent in force, or the read is refused: by index, no read follows the end of its
        consent.
        """


@dataclass(frozen=True)
class Source:
    connector: Connector
    resource: ResourceDescription


class Sources(Protocol):
    def locate(self, connector: str, resource: str) -> Source | None:
        """The connector serving ``resource`` on this node, or None."""


@dataclass(frozen=True)
class ReadPorts:
    tokens: AccessTokens
    quotas: ReadQuotas
    ledger: ReadLedger
    sources: Sources
    keyring: Keyring
