"""My data: what each connected source holds about the signed-in citizen, shown to them alone.

``GET /wallet/my-data`` reads every resource of every source, all fields, through the
own-data reader the host hands the wallet (:class:`wallet_ui.ports.OwnDataReader`), and
shows the values labelled in the citizen's language: plain values and small records as a list
of terms, lists of records (members, properties, dated records, monthly totals) as tables.
A source that is down or holds no record of the citizen gets a calm sentence of its own; the
page is still 200 and the other sources are shown. The page is never cached.

The view is not recorded in the consent ledger: a citizen looking at their own data discloses
nothing to anyone and involves no consent, and a log of it would itself be personal data
that could never be erased (data minimisation, GDPR Art. 5(1)(c)).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, render_template
from flask_babel import (
    format_currency,
    format_date,
    format_decimal,
    lazy_gettext,
    to_user_timezone,
)
from flask_babel import gettext as _

from consent.models import Subject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.locale import current_locale
from wallet_ui.ports import SourceRead, wallet_parts
from wallet_ui.signed_in import signed_in

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Names of the columns inside records, which the connector catalogue does not label.
COLUMNS: dict[str, Any] = {
    "period": lazy_gettext("Period"),
    "national_id": lazy_gettext("Personal number (EGN)"),
    "given_name": lazy_gettext("Given name"),
    "middle_name": lazy_gettext("Middle name"),
    "family_name": lazy_gettext("Family name"),
    "birth_date": lazy_gettext("Date of birth"),
    "role": lazy_gettext("Role in the household"),
    "address": lazy_gettext("Address"),
    "kind": lazy_gettext("Kind"),
    "share": lazy_gettext("Share"),
    "tax_base": lazy_gettext("Tax base"),
    "currency": lazy_gettext("Currency"),
    "registration": lazy_gettext("Registration plate"),
    "make": lazy_gettext("Make and model"),
    "engine_power_kw": lazy_gettext("Engine power (kW)"),
    "amount": lazy_gettext("Amount"),
    "kwh": lazy_gettext("Electricity (kWh)"),
    "m3": lazy_gettext("Water (m³)"),
    "benefit": lazy_gettext("Benefit"),
    "amount_eur": lazy_gettext("Amount (EUR)"),
    "paid_on": lazy_gettext("Paid on"),
    "year": lazy_gettext("Year"),
    "assessed": lazy_gettext("Assessed"),
    "paid": lazy_gettext("Paid"),
    "balance": lazy_gettext("Balance"),
}

#: Codes that sources use as values, said in words.
CODES: dict[str, Any] = {
    "F": lazy_gettext("female"),
    "M": lazy_gettext("male"),
    "parent": lazy_gettext("parent"),
    "child": lazy_gettext("child"),
    "member": lazy_gettext("member"),
    "apartment": lazy_gettext("apartment"),
    "house": lazy_gettext("house"),
    "garage": lazy_gettext("garage"),
    "land": lazy_gettext("land"),
    "granted": lazy_gettext("granted"),
    "refused": lazy_gettext("refused"),
    "not_applied": lazy_gettext("not applied for"),
    "heating_allowance": lazy_gettext("heating allowance"),
}


@dataclass
class Shown:
    """One field's value, ready for the page: a text, a list of terms, or a table."""

    label: str
    text: str | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    @property
    def is_table(self) -> bool:
        return bool(self.columns)


def column_label(name: str) -> str:
    label = COLUMNS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()


def _parse_moment(value: Any) -> date | datetime | None:
    if not isinstance(value, str):
        return None
    try:
        if _DAY.match(value):
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _local_day(moment: date | datetime) -> date:
    # A record's date-time carries the source's city offset: its own date is the local day.
    return moment.date() if isinstance(moment, datetime) else moment


def period_in_words(start: Any, end: Any) -> str:
    """Say a dated record's ``[start, end)`` as a year, a month, a day or a range of days."""
    first, after = _parse_moment(start), _parse_moment(end)
    if first is None or after is None:
        return f"{start} – {end}"
    day, next_day = _local_day(first), _local_day(after)
    if day.month == 1 and day.day == 1 and next_day == day.replace(year=day.year + 1):
        return str(day.year)
    month_after = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    if day.day == 1 and next_day == month_after:
        return format_date(day, "LLLL y")
    last = next_day - timedelta(days=1)
    if last <= day:
        return format_date(day, "long")
    return f"{format_date(day, 'long')} – {format_date(last, 'long')}"


def value_in_words(value: Any) -> str:
    """Say one plain value in the citizen's language: dates, numbers, codes, yes and no."""
    if value is None or value == "":
        return _("Not recorded")
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, int):
        return str(value)  # counts, years, kilowatts: no digit grouping ("2025", not "2,025")
    if isinstance(value, float):
        return str(format_decimal(value))
    if isinstance(value, str):
        if _DAY.match(value):
            try:
                return str(format_date(date.fromisoformat(value), "long"))
            except ValueError:
                return value
        code = CODES.get(value)
        return str(code) if code is not None else value
    if isinstance(value, Mapping):
        shown = _money(value)
        if shown is not None:
            return shown
        currency = value.get("currency")
        return "; ".join(
            f"{column_label(str(key))}: {named_value(str(key), item, currency)}"
            for key, item in value.items()
            if key != "currency" or money(0, currency) is None
        )
    if isinstance(value, Sequence):
        return ", ".join(value_in_words(item) for item in value)
    return str(value)


#: Record columns that hold an amount in the record's ``currency``.
MONEY_COLUMNS = frozenset({"amount", "tax_base", "assessed", "paid", "balance"})


def money(amount: Any, currency: Any) -> str | None:
    """An amount as money: two decimals, the locale's separators and the currency's sign."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        return None
    return str(format_currency(amount, currency.upper()))


def named_value(name: str, value: Any, currency: Any = None) -> str:
    """Say one value of a record, knowing its column: amounts in ``currency`` (or in euro,
    for a column named ``..._eur``) are money."""
    if name.endswith("_eur"):
        currency = "EUR"
    elif name not in MONEY_COLUMNS:
        currency = None
    shown = money(value, currency) if currency else None
    return shown if shown is not None else value_in_words(value)


def _money(value: Mapping[str, Any]) -> str | None:
    if set(value) == {"amount", "currency"}:
        return money(value["amount"], value["currency"])
    return None


def show(label: str, value: Any, *, dated: bool) -> Shown:
    """Turn one field's value into what the page shows."""
    if isinstance(value, Mapping):
        amount = _money(value)
        if amount is not None:
            return Shown(label, text=amount)
        currency = value.get("currency")
        return Shown(
            label,
            pairs=[
                (column_label(str(key)), named_value(str(key), item, currency))
                for key, item in value.items()
                # The currency is said in each amount.
                if key != "currency" or money(0, currency) is None
            ],
        )
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        names: list[str] = []
        for record in value:
            names.extend(name for name in record if name not in names)
        if all(money(0, record.get("currency")) is not None for record in value):
            names.remove("currency")  # each amount says its currency
        if dated and "start" in names and "end" in names:
            names = ["period", *(name for name in names if name not in ("start", "end"))]
        rows = [
            [
                period_in_words(record.get("start"), record.get("end"))
                if name == "period"
                else named_value(name, record.get(name), record.get("currency"))
                for name in names
            ]
            for record in value
        ]
        return Shown(label, columns=[column_label(name) for name in names], rows=rows)
    if isinstance(value, list) and not value:
        return Shown(label, text=_("None recorded"))
    return Shown(label, text=value_in_words(value))


@dataclass
class ResourceView:
    name: str
    label: str
    outcome: str
    window: dict[str, str]
    plain: list[Shown]
    tables: list[Shown]


@dataclass
class SourceView:
    name: str
    label: str
    outcome: str
    resources: list[ResourceView]


def window_in_words(window: Mapping[str, str]) -> str:
    """Say which dates a dated resource was read for."""
    if "from" not in window or "to" not in window:
        return ""
    start = format_date(date.fromisoformat(window["from"]), "long")
    end = format_date(date.fromisoformat(window["to"]), "long")
    if window.get("granularity") == "monthly":
        return _(
            "Monthly totals of the whole months from %(start)s to %(end)s.", start=start, end=end
        )
    if window.get("granularity") == "daily":
        return _("Daily totals from %(start)s to %(end)s.", start=start, end=end)
    return _("Records from %(start)s to %(end)s.", start=start, end=end)


def views_of(reads: Sequence[SourceRead], locale: str) -> list[SourceView]:
    """Name and shape what the sources answered, for the page and the printable export."""
    sources = []
    for source in reads:
        resources = []
        for read in source.resources:
            plain: list[Shown] = []
            tables: list[Shown] = []
            for name, value in read.data.items():
                description = read.description.fields.get(name)
                label = description.label(locale) if description else name
                shown = show(label, value, dated=bool(description and description.dated))
                (tables if shown.is_table else plain).append(shown)
            resources.append(
                ResourceView(
                    read.resource,
                    read.description.label(locale),
                    str(read.outcome),
                    read.window_json(),
                    plain,
                    tables,
                )
            )
        sources.append(
            SourceView(
                source.connector, source.description.label(locale), str(source.outcome), resources
            )
        )
    return sources


@bp.get("/wallet/my-data")
@signed_in
def my_data(subject: Subject) -> Response:
    reads = own_reads(subject)
    html = render_template(
        "wallet/my_data.html",
        sources=views_of(reads, current_locale()),
        window_in_words=window_in_words,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def own_reads(subject: Subject) -> list[SourceRead]:
    """Read every source for ``subject`` now (today on the city's clock)."""
    return list(wallet_parts().own_data.read(subject, today=city_today()))


def city_today() -> date:
    """Today's date where the wallet shows times (Sofia)."""
    return to_user_timezone(utcnow()).date()
