"""A read of the citizen's data, named for them: which service, source, fields, and why not.

The access history, a consent's page and the data export show reads alike:
:class:`ReadNamer` names each :class:`consent.history.AccessRecord` from the connector
catalogue in the citizen's language, :func:`read_json` says it as the exports write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _

from consent.decisions import Reason
from consent.history import AccessRecord
from wallet_ui.locale import current_locale
from wallet_ui.ports import wallet_parts


def refusal_in_words(reason: str | None) -> str:
    """Say why a read was refused, in the citizen's language."""
    if reason is None:
        return ""
    if reason in ("source:SourceUnavailable", "source:SourceTimeout"):
        return _("The data source was unavailable.")
    if reason == "source:SubjectNotFound":
        return _("The data source holds no record of you.")
    if reason.startswith("source:"):
        return _("The data source gave an answer that could not be used.")
    return {
        Reason.REVOKED: _("The consent had been withdrawn."),
        Reason.EXPIRED: _("The consent had expired."),
        Reason.NOT_ACTIVE: _("The consent was not active."),
        Reason.PAUSED: _("You had paused the consent."),
        Reason.RESOURCE_NOT_GRANTED: _("The consent does not cover this data."),
        Reason.FIELD_NOT_GRANTED: _("The service asked for details the consent does not cover."),
        "outside_date_range": _("The service asked for dates outside the period you allowed."),
        "granularity_too_fine": _("The service asked for more detailed values than you allowed."),
        "frequency_exceeded": _("The service asked more often than you allowed."),
    }.get(reason, _("The read was refused."))


@dataclass(frozen=True)
class ReadView:
    """One read, named for the citizen: labels from the connector catalogue."""

    record: AccessRecord
    service: str
    purpose: str
    source: str
    resource: str
    fields: list[tuple[str, str]]
    reason: str


class ReadNamer:
    """Names sources, resources and fields in the citizen's language.

    As :func:`wallet_ui.wording.scope_view` names a consent's scope.
    """

    def __init__(self) -> None:
        self.catalogue = wallet_parts().sources.catalogue
        self.locale = current_locale()

    def __call__(self, record: AccessRecord) -> ReadView:
        source = self.catalogue.get(record.connector)
        resource = source.resources.get(record.resource) if source else None
        return ReadView(
            record=record,
            service=record.service_name(self.locale),
            purpose=record.purpose_name(self.locale),
            source=source.label(self.locale) if source else record.connector,
            resource=resource.label(self.locale) if resource else record.resource,
            fields=[
                (
                    name,
                    resource.fields[name].label(self.locale)
                    if resource and name in resource.fields
                    else name,
                )
                for name in record.fields
            ],
            reason=refusal_in_words(record.reason),
        )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def read_json(view: ReadView) -> dict[str, Any]:
    record = view.record
    return {
        "time": iso(record.at),
        "result": "refused" if record.refused else "read",
        "reason": record.reason,
        "reason_text": view.reason or None,
        "consent_id": record.consent_id,
        "service": {"client_id": record.service, "name": view.service},
        "purpose": {"code": record.purpose, "name": view.purpose},
        "source": {"connector": record.connector, "name": view.source},
        "resource": {"name": record.resource, "label": view.resource},
        "fields": [{"name": name, "label": label} for name, label in view.fields],
        "window": record.window,
    }
