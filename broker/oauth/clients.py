"""Services as Authlib clients: exact redirect URIs, hashed secrets, Basic auth only."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.crypto import token_hash
from consent.models import Service, ServiceKind, ServiceStatus

TOKEN_ENDPOINT_AUTH_METHOD = "client_secret_basic"  # noqa: S105 - a method name


@dataclass
class OAuthClient:
    """Adapts a :class:`~consent.models.Service` row to Authlib's ``ClientMixin``."""

    service: Service

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
        return method == TOKEN_ENDPOINT_AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.service.kind == ServiceKind.SERVICE

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.service.grant_types


def query_client(session: Session, client_id: str | None) -> OAuthClient | None:
    # Control characters are never in a client id, and PostgreSQL refuses NUL in text (a 500).
    if not client_id or len(client_id) > 64 or not client_id.isprintable():
        return None
    service = session.scalar(
        select(Service).where(
            Service.client_id == client_id, Service.status == ServiceStatus.ACTIVE
        )
    )
    return OAuthClient(service) if service is not None else None
