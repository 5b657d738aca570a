"""RFC 9396 ``authorization_details`` of type ``personal_data``, and the ``scope`` shorthand.

A request is parsed in two steps: a marshmallow schema checks its shape, then
:func:`validate_access_request` checks it against the connector catalogue, the purposes the
service may use and each purpose's maximum duration. Either step raises
:class:`InvalidAuthorizationDetails` with a description a developer can act on.

All entries of one request share a purpose and a duration, because one request becomes one
consent with one purpose and one expiry (the citizen decides on one thing at a time).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import isodate
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from commons import iso8601
from connectors.base import ConnectorDescription
from consent.constraints import NO_LIMITS, ConstraintsSchema, GrantedLimits

if TYPE_CHECKING:
    from consent.models import Consent

DETAILS_TYPE = "personal_data"
SUPPORTED_ACTIONS = ("read",)
MAX_ENTRIES = 10
MAX_FIELDS = 64
_NAME = validate.Regexp(r"^[a-z][a-z0-9_]{0,63}\Z")  # \Z: "$" would admit a final newline


class InvalidAuthorizationDetails(ValueError):
    """The request's authorization details are malformed or not allowed (RFC 9396 §5)."""

    error = "invalid_authorization_details"


class _DetailSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.Equal(DETAILS_TYPE))
    connector = fields.String(required=True, validate=_NAME)
    resource = fields.String(required=True, validate=_NAME)
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        attribute="fields",
        validate=validate.Length(min=1, max=MAX_FIELDS),
    )
    actions = fields.List(
        fields.String(validate=validate.OneOf(SUPPORTED_ACTIONS)),
        load_default=["read"],
        validate=validate.Length(min=1),
    )
    purpose = fields.String(validate=_NAME)
    duration = fields.String(validate=validate.Length(min=2, max=32))
    constraints = fields.Nested(ConstraintsSchema)


_details_schema = _DetailSchema(many=True)


@dataclass(frozen=True)
class ScopeItem:
    connector: str
    resource: str
    fields: tuple[str, ...]
    actions: tuple[str, ...] = ("read",)
    limits: GrantedLimits = NO_LIMITS

    def as_dict(self) -> dict[str, Any]:
        """The item as kept in ``Consent.scope`` and shown in authorization details."""
        result: dict[str, Any] = {
            "connector": self.connector,
            "resource": self.resource,
            "fields": list(self.fields),
            "actions": list(self.actions),
        }
        constraints = self.limits.as_json()
        if constraints:
            result["constraints"] = constraints
        return result


@dataclass(frozen=True)
class PurposeRule:
    """What the domain needs to know of a purpose to validate a request."""

    code: str
    default_duration: str
    max_duration: str


@dataclass(frozen=True)
class AccessRequest:
    """A validated request: one purpose, one duration, one or more resources."""

    purpose: str
    duration: str
    items: tuple[ScopeItem, ...]

    def authorization_details(self) -> list[dict[str, Any]]:
        return [
            {
                "type": DETAILS_TYPE,
                **item.as_dict(),
                "purpose": self.purpose,
                "duration": self.duration,
            }
            for item in self.items
        ]

    def narrowed(self, kept_fields: Mapping[tuple[str, str], set[str]]) -> AccessRequest:
        """Return the request with only ``kept_fields`` per (connector, resource)."""
        items = []
        for item in self.items:
            kept = kept_fields.get((item.connector, item.resource), set())
            names = tuple(name for name in item.fields if name in kept)
            if names:
                items.append(
                    ScopeItem(item.connector, item.resource, names, item.actions, item.limits)
                )
        return AccessRequest(self.purpose, self.duration, tuple(items))


def parse_duration(value: str) -> timedelta | isodate.Duration:
    try:
        if not isinstance(value, str) or not iso8601.DURATION.match(value.removeprefix("-")):
            raise ValueError(value)
        duration = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError, TypeError) as exc:
        raise InvalidAuthorizationDetails(
            f"'duration' must be an ISO 8601 duration such as P90D, not {value!r}."
        ) from exc
    return duration


def duration_end(start: datetime, duration: str) -> datetime:
    """Return when a consent of ``duration`` granted at ``start`` ends."""
    delta = parse_duration(duration)
    try:
        end = start + delta
    except (OverflowError, ValueError) as exc:
        # "P99999999D" overflows datetime; "P1.5Y" has fractional years isodate cannot add.
        raise InvalidAuthorizationDetails(
            f"'duration' {duration!r} cannot be applied to a date; use whole days, "
            "months or years within range."
        ) from exc
    assert isinstance(end, datetime)
    return end


def parse_authorization_details(
    raw: str,
    *,
    catalogue: Mapping[str, ConnectorDescription],
    purposes: Mapping[str, PurposeRule],
    default_purpose: str | None,
    now: datetime,
) -> AccessRequest:
    """Parse and validate the ``authorization_details`` request parameter (a JSON array)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidAuthorizationDetails("'authorization_details' is not valid JSON.") from exc
    if not isinstance(data, list) or not data:
        raise InvalidAuthorizationDetails(
            "'authorization_details' must be a non-empty JSON array of objects."
        )
    if len(data) > MAX_ENTRIES:
        raise InvalidAuthorizationDetails(f"At most {MAX_ENTRIES} entries are allowed.")
    try:
        entries = _details_schema.load(data)
    except ValidationError as exc:
        raise InvalidAuthorizationDetails(_describe(exc.messages)) from exc

    purpose_codes = {entry.get("purpose") or default_purpose for entry in entries}
    durations = {entry.get("duration") for entry in entries}
    if len(purpose_codes) > 1 or len(durations) > 1:
        raise InvalidAuthorizationDetails(
            "All entries of one request must share one 'purpose' and one 'duration'."
        )
    items = tuple(
        ScopeItem(
            entry["connector"],
            entry["resource"],
            tuple(dict.fromkeys(entry["fields"])) if entry.get("fields") else (),
            tuple(dict.fromkeys(entry["actions"])),
            GrantedLimits.loaded(entry.get("constraints")),
        )
        for entry in entries
    )
    return validate_access_request(
        purpose_codes.pop(),
        durations.pop(),
        items,
        catalogue=catalogue,
        purposes=purposes,
        now=now,
    )


def parse_scope_shorthand(
    scope: str,
    *,
    catalogue: Mapping[str, ConnectorDescription],
    purposes: Mapping[str, PurposeRule],
    default_purpose: str | None,
    now: datetime,
) -> AccessRequest:
    """Parse ``connector.resource:read`` scopes: all fields, the client's default purpose."""
    items = []
    for token in dict.fromkeys(scope.split()):
        target, _, action = token.partition(":")
        connector, _, resource = target.partition(".")
        if action not in SUPPORTED_ACTIONS or not connector or not resource:
            raise InvalidAuthorizationDetails(
                f"Scope {token!r} is not of the form 'connector.resource:read'."
            )
        items.append(ScopeItem(connector, resource, ()))
    if not items:
        raise InvalidAuthorizationDetails(
            "Send 'authorization_details' of type 'personal_data' or a 'scope'."
        )
    return validate_access_request(
        default_purpose, None, tuple(items), catalogue=catalogue, purposes=purposes, now=now
    )


def validate_access_request(
    purpose_code: str | None,
    duration: str | None,
    items: tuple[ScopeItem, ...],
    *,
    catalogue: Mapping[str, ConnectorDescription],
    purposes: Mapping[str, PurposeRule],
    now: datetime,
) -> AccessRequest:
    """Check a request against the catalogue and the service's purposes; fill defaults."""
    if purpose_code is None:
        raise InvalidAuthorizationDetails(
            "No 'purpose' given and the client has no default purpose."
        )
    rule = purposes.get(purpose_code)
    if rule is None:
        raise InvalidAuthorizationDetails(
            f"The client may not ask for data for purpose {purpose_code!r}."
        )
    duration = duration or rule.default_duration
    end = duration_end(now, duration)
    if end <= now:
        raise InvalidAuthorizationDetails("'duration' must be positive.")
    if end > duration_end(now, rule.max_duration):
        raise InvalidAuthorizationDetails(
            f"'duration' {duration} exceeds the maximum {rule.max_duration} "
            f"of purpose {purpose_code!r}."
        )

    seen: set[tuple[str, str]] = set()
    resolved = []
    for item in items:
        description = catalogue.get(item.connector)
        if description is None:
            raise InvalidAuthorizationDetails(f"Unknown connector {item.connector!r}.")
        resource = description.resources.get(item.resource)
        if resource is None or resource.wallet_only:
            raise InvalidAuthorizationDetails(
                f"Connector {item.connector!r} has no resource {item.resource!r}."
            )
        if (item.connector, item.resource) in seen:
            raise InvalidAuthorizationDetails(
                f"Resource {item.connector}.{item.resource} appears more than once."
            )
        seen.add((item.connector, item.resource))
        unknown = [name for name in item.fields if name not in resource.fields]
        if unknown:
            raise InvalidAuthorizationDetails(
                f"Resource {item.connector}.{item.resource} has no field(s) "
                f"{', '.join(sorted(unknown))}."
            )
        try:
            item.limits.check_applies_to(resource, f"{item.connector}.{item.resource}")
        except ValueError as exc:
            raise InvalidAuthorizationDetails(str(exc)) from exc
        names = item.fields or tuple(resource.fields)
        resolved.append(ScopeItem(item.connector, item.resource, names, item.actions, item.limits))
    return AccessRequest(purpose_code, duration, tuple(resolved))


def _describe(messages: Any) -> str:
    """Flatten marshmallow's nested messages into one sentence for the error description."""
    parts: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            parts.append(f"{path.lstrip('.') or 'authorization_details'}: {' '.join(node)}")
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    walk(messages, "authorization_details")
    return "; ".join(parts)[:500]


@dataclass
class GrantedSubject:
    """What a token is issued for: the citizen a request was granted for, and their consent.

    It is Authlib's "grant user" (``get_user_id``), handed from the wallet's consent page to the
    authorization server.
    """

    subject_id: int
    consent: Consent

    def get_user_id(self) -> int:
        return self.subject_id
