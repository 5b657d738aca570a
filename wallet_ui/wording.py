"""How the wallet says things in words: statuses, durations, a consent's limits, its scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import isodate
from flask_babel import format_date, ngettext
from flask_babel import gettext as _

from consent.constraints import GrantedLimits
from consent.lifecycle import Actor
from consent.models import Consent, ConsentStatus
from wallet_ui.blueprint import bp
from wallet_ui.locale import current_locale
from wallet_ui.ports import wallet_parts


@bp.app_template_filter("status_label")
def status_label(status: str, revoked_by: str | None = None) -> str:
    """Say a consent's status as the citizen reads it; a withdrawal says who withdrew it."""
    if status == ConsentStatus.REVOKED and revoked_by == Actor.SERVICE:
        return _("Given up by the service")
    if status == ConsentStatus.REVOKED and revoked_by == Actor.GUARDIAN:
        return _("Withdrawn by a parent")
    labels: dict[str, str] = {
        ConsentStatus.REQUESTED: _("Waiting for your answer"),
        ConsentStatus.ACTIVE: _("Active"),
        ConsentStatus.PAUSED: _("Paused by you"),
        ConsentStatus.DENIED: _("Refused by you"),
        ConsentStatus.REVOKED: _("Withdrawn by you"),
        ConsentStatus.EXPIRED: _("Expired"),
    }
    return labels.get(status, status)


@bp.app_template_global()
def ended_in_words(consent: Consent, status: str) -> str:
    """Say how and when a consent of the history ended (a date on the city's calendar)."""
    withdrawn: dict[str | None, Callable[..., str]] = {
        Actor.SERVICE: lambda **date: _("Given up by the service on %(date)s", **date),
        Actor.GUARDIAN: lambda **date: _("Withdrawn by a parent on %(date)s", **date),
    }
    sayings: dict[str, tuple[Callable[..., str], datetime | None]] = {
        ConsentStatus.REVOKED: (
            withdrawn.get(
                consent.revoked_by, lambda **date: _("Withdrawn by you on %(date)s", **date)
            ),
            consent.revoked_at,
        ),
        ConsentStatus.EXPIRED: (
            lambda **date: _("Expired on %(date)s", **date),
            consent.expires_at,
        ),
        ConsentStatus.DENIED: (
            lambda **date: _("Refused by you on %(date)s", **date),
            consent.decided_at,
        ),
        ConsentStatus.REQUESTED: (
            lambda **date: _("Waiting for your answer since %(date)s", **date),
            consent.requested_at,
        ),
    }
    say, when = sayings.get(status, (None, None))
    if say is None or when is None:
        return status_label(status)
    return say(date=format_date(when, "long"))


@bp.app_template_filter("human_duration")
def human_duration(iso: str) -> str:
    """Say an ISO 8601 duration in words, such as "90 days" or "1 year"."""
    try:
        value = isodate.parse_duration(iso)
    except (isodate.ISO8601Error, ValueError):
        return iso
    if isinstance(value, isodate.Duration):
        months = int(value.years * 12 + value.months)
        if months and months % 12 == 0:
            return ngettext("%(num)d year", "%(num)d years", months // 12)
        if months:
            return ngettext("%(num)d month", "%(num)d months", months)
        value = value.tdelta
    days = value.days
    if days:
        return ngettext("%(num)d day", "%(num)d days", days)
    return ngettext("%(num)d hour", "%(num)d hours", max(1, value.seconds // 3600))


def limits_in_words(constraints: dict[str, Any] | None) -> list[str]:
    """Say a consent's constraints (consent.constraints) as sentences for the citizen."""
    limits = GrantedLimits.stored(constraints)
    lines = []
    if limits.date_from and limits.date_to:
        lines.append(
            _(
                "Only data from %(start)s to %(end)s.",
                start=format_date(limits.date_from, "long"),
                end=format_date(limits.date_to, "long"),
            )
        )
    elif limits.date_from:
        lines.append(
            _("Only data from %(start)s onwards.", start=format_date(limits.date_from, "long"))
        )
    elif limits.date_to:
        lines.append(_("Only data up to %(end)s.", end=format_date(limits.date_to, "long")))
    if limits.granularity is not None:
        lines.append(
            {
                "hourly": _("Values hour by hour at the finest."),
                "daily": _("Daily totals at the finest, never hour by hour."),
                "monthly": _("Monthly totals only, never daily or hourly values."),
            }[limits.granularity.value]
        )
    if limits.frequency is not None:
        lines.append(
            ngettext(
                "At most %(num)d read every %(period)s.",
                "At most %(num)d reads every %(period)s.",
                limits.frequency.max_reads,
                period=human_duration(limits.frequency.per),
            )
        )
    return lines


def scope_view(scope: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name each granted field and source in the citizen's language."""
    catalogue = wallet_parts().sources.catalogue
    locale = current_locale()
    view = []
    for item in scope:
        source = catalogue.get(item["connector"])
        resource = source.resources.get(item["resource"]) if source else None
        view.append(
            {
                "source": source.label(locale) if source else item["connector"],
                "resource": resource.label(locale) if resource else item["resource"],
                "fields": [
                    resource.fields[name].label(locale)
                    if resource and name in resource.fields
                    else name
                    for name in item["fields"]
                ],
                "constraints": item.get("constraints"),
            }
        )
    return view
