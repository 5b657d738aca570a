"""Serdika's grants for Grant Management (broker.oauth.grant_management): a grant is a consent.

The ``grant_id`` is the ``consent_id``; a request that names one reaches the wallet as a
:class:`consent.amendment.GrantTarget` on ``grant.request.grant_target``, where the consent
page shows what would change and the answer amends (``update``) or supersedes (``replace``)
that consent (docs/architecture.md, "The consent state machine").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.oauth.grant_management import GrantManagement
from consent.amendment import GrantTarget
from consent.service_grants import standing_grant
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker


class ConsentGrants(GrantManagement):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def validate_grant_management(self, grant: Any, result: Any) -> None:
        super().validate_grant_management(grant, result)
        asked = grant.request.grant_management
        grant.request.grant_target = (
            GrantTarget(asked.grant_id, replace=asked.action == "replace")
            if asked is not None and asked.grant_id is not None
            else None
        )

    def query_grant(self, grant: Any, grant_id: str) -> Any:
        return standing_grant(
            self.broker.db.session,
            client_id=grant.request.client.get_client_id(),
            grant_id=grant_id,
            now=utcnow(),
        )

    def get_grant_id(self, grant: Any) -> str | None:
        credential = grant.request.authorization_code or grant.request.refresh_token
        consent_id = getattr(credential, "consent_id", None)
        return str(consent_id) if consent_id is not None else None
