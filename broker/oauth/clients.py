"""Services as Authlib clients: exact redirect URIs; Basic auth with a hashed secret, or
``private_key_jwt`` (broker.oauth.rfc7523), whichever the service was registered with."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, cast

from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from sqlalchemy import Table, bindparam, select

from broker.prepared import Prepared
from consent.crypto import token_hash
from consent.models import Service, ServiceKind, ServiceStatus

if TYPE_CHECKING:
    from broker.db import Database

CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
PRIVATE_KEY_JWT = "private_key_jwt"


@dataclass(frozen=True)
class ServiceRecord:
    """The columns of a :class:`~consent.models.Service`, read without the ORM.

    Client authentication runs on every token, introspection and revocation call, so the
    row is read with one prepared Core statement into this plain record.
    """

    id: int
    client_id: str
    client_secret_hash: bytes
    kind: str
    name_bg: str
    name_en: str
    organisation: str
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    default_purpose: str | None
    sandbox: bool
    status: str
    token_endpoint_auth_method: str
    jwks: dict[str, Any] | None
    jwks_uri: str | None


_SERVICE_TABLE = cast(Table, Service.__table__)
_READ_CLIENT = Prepared(
    select(*(_SERVICE_TABLE.c[field.name] for field in fields(ServiceRecord))).where(
        _SERVICE_TABLE.c.client_id == bindparam("client_id"),
        _SERVICE_TABLE.c.status == ServiceStatus.ACTIVE.value,
    )
)


@dataclass
class OAuthClient:
    """Adapts a service to Authlib's ``ClientMixin``."""

    service: ServiceRecord

    def get_client_id(self) -> str:
        return self.service.client_id

    def get_default_redirect_uri(self) -> None:
        # FAPI 2.0: the redirect_uri is always sent and always matched exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if self.service.kind == ServiceKind.AUDITOR:
            allowed = set(self.service.scope.split())
            asked = set((scope or self.service.scope).split())
            return " ".join(sorted(asked & allowed))
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.service.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(token_hash(client_secret), self.service.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # RFC 7591 §2: a client authenticates with the one method it was registered with, at
        # every endpoint (a private_key_jwt client has no secret to send).
        return method == self.service.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.service.kind == ServiceKind.SERVICE

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.service.grant_types


def client_auth_methods(fapi2: bool) -> list[str]:
    """The client authentication methods of the server: under the FAPI 2.0 profile only
    private_key_jwt (FAPI 2.0 Security Profile §5.3.2.1, no shared secrets)."""
    return [PRIVATE_KEY_JWT] if fapi2 else [CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT]


def query_client(db: Database, client_id: str | None) -> OAuthClient | None:
    # Control characters are never in a client id, and PostgreSQL refuses NUL in text (a 500).
    if not client_id or len(client_id) > 64 or not client_id.isprintable():
        return None
    row = _READ_CLIENT.one_or_none(db.raw, db.dialect, client_id=client_id)
    return OAuthClient(ServiceRecord(*row)) if row is not None else None


def client_secret_basic(query_client: Any, request: Any) -> Any:
    """Authlib's Basic authentication, but credentials that are not UTF-8 fail it (401).

    Authlib decodes the Basic credentials as UTF-8 and lets ``UnicodeDecodeError`` escape,
    which would be a 500.
    """
    try:
        return authenticate_client_secret_basic(query_client, request)
    except UnicodeDecodeError:
        return None
