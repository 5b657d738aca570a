"""What the wallet needs from its host, as small typed ports, and the one way to reach them.

The app factory builds a :class:`WalletParts` from its own parts and hands it to
:func:`wallet_ui.init_wallet`; the wallet never imports the broker. Inside a request (or a
mail being rendered) the views reach the parts through :func:`wallet_parts`, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from flask import Flask, Response, current_app
from sqlalchemy.orm import Session

from connectors.base import ConnectorDescription, ResourceDescription
from consent.amendment import GrantTarget
from consent.crypto import Keyring
from consent.ledger.heads import SignedTreeHead
from consent.lifecycle import DomainContext
from consent.models import Consent, Service, Subject
from consent.requests import AccessRequest, GrantedSubject
from consent.wards import Child

#: Where :func:`init_wallet` keeps the parts in ``app.extensions``.
EXTENSION = "serdika.wallet"


class Database(Protocol):
    """The store: the request's session, write transactions, and fresh sessions."""

    @property
    def session(self) -> Session:
        """The request's session, opened on first use and closed at the request's end."""

    def writing(self, session: Session | None = None) -> AbstractContextManager[Session]:
        """A write transaction (queued on SQLite) that commits at the end of the block."""

    def sessions(self) -> Session:
        """A new session of its own (use it as a context manager), e.g. for a stream."""


class Sources(Protocol):
    """The connected data sources, as their descriptions (labels, fields, which optional)."""

    @property
    def catalogue(self) -> Mapping[str, ConnectorDescription]: ...


class Keys(Protocol):
    """The keys the wallet uses: the keyring that seals e-mail addresses, the public JWK."""

    @property
    def keyring(self) -> Keyring: ...

    def public_jwk(self) -> dict[str, Any]: ...


class Settings(Protocol):
    """The settings the wallet reads: the public URL, the sign-in failure limits, and where
    citizens write about accessibility."""

    @property
    def issuer(self) -> str: ...
    @property
    def accessibility_email(self) -> str: ...
    @property
    def sign_in_window_seconds(self) -> int: ...
    @property
    def sign_in_max_failures_per_account(self) -> int: ...
    @property
    def sign_in_max_failures_per_address(self) -> int: ...


class ConsentClient(Protocol):
    """The service asking, as the authorization server knows it."""

    @property
    def service(self) -> Service: ...


class ConsentGrantRequest(Protocol):
    @property
    def access_request(self) -> AccessRequest: ...
    @property
    def grant_target(self) -> GrantTarget | None:
        """The consent the request names to change (Grant Management), if any."""


class ConsentGrant(Protocol):
    """An authorization request validated by the server, waiting for the citizen's answer."""

    @property
    def client(self) -> ConsentClient: ...
    @property
    def request(self) -> ConsentGrantRequest: ...
    @property
    def redirect_uri(self) -> str: ...


class AuthorizationServer(Protocol):
    """The OAuth 2.0 authorization server, as the consent page and the wallet use it."""

    def get_consent_grant(self, end_user: Any = None) -> ConsentGrant:
        """Validate the authorization request; raise ``OAuth2Error`` when it is not valid."""

    def create_authorization_response(
        self, *, grant: ConsentGrant, grant_user: GrantedSubject | None
    ) -> Response:
        """Answer the service: a code for ``grant_user``, or ``access_denied`` for None."""

    def redirect_error(self, error: Any) -> Response:
        """Send an authorization error back to its validated redirect URI."""

    def consent_replaced(self, session: Session, consent: Consent) -> None:
        """Every token issued for ``consent`` before its scope was replaced stops working."""

    def consent_extended(self, session: Session, consent: Consent) -> None:
        """Let the consent's live refresh tokens last until its new end."""


class GuardianshipReader(Protocol):
    """A parent's minor children, from the registry, with guardianships kept in step."""

    def refresh(self, db: Database, guardian: Subject, *, now: datetime) -> bool:
        """Bring the guardianships in step with the registry; False if it did not answer."""

    def children(self, session: Session, guardian: Subject, *, now: datetime) -> list[Child]:
        """The children ``guardian`` may act for at ``now``, the eldest first."""


class ResourceRead(Protocol):
    """One resource of one source, read for the citizen: all its fields, or why not."""

    @property
    def resource(self) -> str: ...
    @property
    def description(self) -> ResourceDescription: ...
    @property
    def outcome(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...

    def window_json(self) -> dict[str, str]: ...


class SourceRead(Protocol):
    """Every resource of one configured source, and how reading it went overall."""

    @property
    def connector(self) -> str: ...
    @property
    def description(self) -> ConnectorDescription: ...
    @property
    def outcome(self) -> str: ...
    @property
    def resources(self) -> Sequence[ResourceRead]: ...


class OwnDataReader(Protocol):
    """Reads what every source holds about one citizen, for that citizen alone."""

    def read(self, subject: Subject, *, today: date) -> Sequence[SourceRead]: ...


@dataclass(frozen=True)
class WalletParts:
    """Everything the wallet is given by the app that hosts it."""

    db: Database
    settings: Settings
    keys: Keys
    sources: Sources
    #: Keys and the receipt signer, for the consent lifecycle (consent.lifecycle).
    domain: DomainContext
    oauth: AuthorizationServer
    guardians: GuardianshipReader
    own_data: OwnDataReader
    #: The latest signed tree head of the ledger, sequencing first when entries wait.
    current_head: Callable[[], SignedTreeHead | None]


def keep_parts(app: Flask, parts: WalletParts) -> None:
    """Remember ``parts`` for the views of ``app`` (called by :func:`wallet_ui.init_wallet`)."""
    app.extensions[EXTENSION] = parts


def wallet_parts(app: Flask | None = None) -> WalletParts:
    """The parts of the wallet of ``app``, by default the app handling the current request."""
    parts: WalletParts = (app or current_app).extensions[EXTENSION]
    return parts
