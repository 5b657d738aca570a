"""Serdika's ``personal_data`` authorization details, registered into RFC 9396.

The type's rules are the domain's (:mod:`consent.requests`, checked against the connector
catalogue and the purposes the service may use); this module adapts them to the
:mod:`broker.oauth.rfc9396` extension, which then answers for the wire: the parameter, its
errors, the token response. A plain ``scope`` such as ``civil_registry.person:read`` is
shorthand for all fields of that resource (docs/architecture.md, "The core flow").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from broker.oauth.errors import safe_description
from broker.oauth.rfc9396 import (
    AuthorizationDetails,
    AuthorizationDetailTypes,
    InvalidAuthorizationDetailsError,
)
from consent.catalogue import purpose_rules
from consent.requests import (
    DETAILS_TYPE,
    MAX_ENTRIES,
    AccessRequest,
    InvalidAuthorizationDetails,
    parse_authorization_details,
    parse_scope_shorthand,
)
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker
    from consent.models import Consent


def granted_details(consent: Consent) -> list[dict[str, Any]]:
    """What a consent grants, as the authorization details of its tokens."""
    return [
        {
            "type": DETAILS_TYPE,
            **item,
            "purpose": consent.purpose_code,
            "duration": consent.duration,
        }
        for item in consent.scope
    ]


class PersonalData:
    """The ``personal_data`` type: fields of a connector's resource, for one purpose and time.

    Both ways of asking leave the validated :class:`~consent.requests.AccessRequest` on
    ``grant.request.access_request``, where the wallet's consent page reads it.
    """

    name = DETAILS_TYPE

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def validate(self, grant: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The domain parses the parameter's JSON itself; it is given back this type's entries.
        raw = json.dumps(entries)
        return self._accept(grant, lambda **context: parse_authorization_details(raw, **context))

    def from_scope(self, grant: Any) -> list[dict[str, Any]]:
        """The details a ``scope`` shorthand asks for (all fields, the default purpose)."""
        scope = grant.request.payload.data.get("scope") or ""
        return self._accept(grant, lambda **context: parse_scope_shorthand(scope, **context))

    def _accept(self, grant: Any, parse: Callable[..., AccessRequest]) -> list[dict[str, Any]]:
        service = grant.request.client.service
        try:
            access_request = parse(
                catalogue=self.broker.connectors.catalogue,
                purposes=purpose_rules(self.broker.db.session, service.id),
                default_purpose=service.default_purpose,
                now=utcnow(),
            )
        except InvalidAuthorizationDetails as exc:
            raise InvalidAuthorizationDetailsError(safe_description(str(exc))) from exc
        grant.request.access_request = access_request
        return access_request.authorization_details()


class PersonalDataOnly(AuthorizationDetailTypes):
    """Serdika's one detail type, handed every entry as it came.

    Its schema checks ``type`` among the other members, so a request with several faults is
    told all of them in one description, as services have always been told.
    """

    def __init__(self, personal_data: PersonalData) -> None:
        super().__init__([personal_data])
        self.personal_data = personal_data

    def validate(self, grant: Any, entries: list[Any]) -> list[dict[str, Any]]:
        return self.personal_data.validate(grant, entries)


class ConsentDetails(AuthorizationDetails):
    """RFC 9396 as Serdika speaks it: ``personal_data`` or its ``scope`` shorthand, and
    tokens that grant what their consent grants."""

    def __init__(self, personal_data: PersonalData) -> None:
        super().__init__(PersonalDataOnly(personal_data), max_entries=MAX_ENTRIES)
        self.personal_data = personal_data

    def get_default_authorization_details(self, grant: Any) -> list[dict[str, Any]]:
        return self.personal_data.from_scope(grant)

    def get_granted_authorization_details(self, grant: Any) -> list[dict[str, Any]] | None:
        granted = grant.request.user
        return granted_details(granted.consent) if granted is not None else None
