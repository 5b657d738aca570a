"""The demo's Social Assistance Agency: its heating allowances, and how the broker reads them.

The ``social_assistance`` connector of the demo is a plain :mod:`connectors.http_json`
instance (:func:`demo_connector_options`) pointed at the agency's API, which
:class:`demo.upstream.SocialAssistanceUpstream` serves on loopback from :func:`demo_benefits`.

The demo data is made up and deterministic: the same people and day give the same answers.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

API_KEY_HEADER = "X-API-Key"
DPV_PD = "https://w3id.org/dpv/pd#"
#: The allowance's monthly amount: 101.60 лв., converted at the fixed rate of 1.95583 лв./EUR.
MONTHLY_HEATING_ALLOWANCE_EUR = 51.95
#: Heating seasons run from November to March; the agency decides on applications by mid-October.
SEASON_MONTHS = (11, 12, 1, 2, 3)
DECISION_DAY = (10, 15)
PENSION_AGE = 65


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _latest_season(today: date) -> int:
    """The year in which the latest season decided on by ``today`` starts."""
    return today.year if today >= date(today.year, *DECISION_DAY) else today.year - 1


def _month_after(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def _payments(season_starts: list[int], today: date) -> list[dict[str, Any]]:
    payments = []
    for year in season_starts:
        for month in SEASON_MONTHS:
            start = date(year if month >= 11 else year + 1, month, 1)
            end = _month_after(start)
            if end <= today:  # only months already over are paid
                payments.append(
                    {
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "benefit": "heating_allowance",
                        "amount_eur": MONTHLY_HEATING_ALLOWANCE_EUR,
                        "paid_on": start.replace(day=20).isoformat(),
                    }
                )
    return payments


def demo_benefits(people: list[dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
    """The agency's answers for the demo people, by national id.

    Minors have no record (the agency answers 404). A pensioner receives the allowance in each
    of the last three seasons; any other adult has, by a hash of the national id, been granted
    it for the last two seasons, refused it, or never applied.
    """
    latest = _latest_season(today)
    answers: dict[str, dict[str, Any]] = {}
    for person in people:
        national_id, born = person["national_id"], person["birth_date"]
        if isinstance(born, str):
            born = date.fromisoformat(born)
        if _age(born, today) < 18:
            continue
        if _age(born, today) >= PENSION_AGE:
            status, seasons = "granted", [latest - 2, latest - 1, latest]
        else:
            status, seasons = (
                ("not_applied", []),
                ("granted", [latest - 1, latest]),
                ("refused", []),
            )[hashlib.sha256(national_id.encode()).digest()[0] % 3]
        decided = date(latest, *DECISION_DAY) if status != "not_applied" else None
        amount = MONTHLY_HEATING_ALLOWANCE_EUR if status == "granted" else None
        answers[national_id] = {
            "national_id": national_id,
            "heating_allowance": {
                "season": f"{latest}/{latest + 1}",
                "status": status,
                "monthly_amount_eur": amount,
                "decision_date": decided.isoformat() if decided else None,
            },
            "payments": _payments(seasons, today),
        }
    return answers


def _field(pointer: str, bg: str, en: str, category: str, **flags: Any) -> dict[str, Any]:
    return {
        "pointer": pointer,
        "label_bg": bg,
        "label_en": en,
        "dpv": DPV_PD + category,
        "sensitivity": "personal",
        **flags,
    }


def demo_connector_options(base_url: str, api_key: str) -> dict[str, Any]:
    """The ``http_json`` options of the demo's ``social_assistance`` connector."""
    return {
        "base_url": base_url.rstrip("/") + "/",
        "label_bg": "Агенция за социално подпомагане",
        "label_en": "Social Assistance Agency",
        "timeout": 2.0,
        "deadline": 5.0,
        "retries": 2,
        "backoff": 0.2,
        "breaker_failures": 5,
        "breaker_reset": 30,
        "health_path": "/health",
        "auth": {"type": "api_key", "header": API_KEY_HEADER, "key": api_key},
        "resources": {
            "benefits": {
                "label_bg": "Целева помощ за отопление",
                "label_en": "Heating allowance",
                "path": "/people/{subject}/benefits",
                "subject_pointer": "/national_id",
                "date_from_param": "from",
                "date_to_param": "to",
                "fields": {
                    "heating_allowance_status": _field(
                        "/heating_allowance/status",
                        "Право на помощ за отопление (отпусната, отказана, без заявление)",
                        "Heating allowance status (granted, refused, not applied for)",
                        "FinancialStatus",
                        optional=False,
                    ),
                    "monthly_amount_eur": _field(
                        "/heating_allowance/monthly_amount_eur",
                        "Месечен размер на помощта (евро)",
                        "Monthly amount of the allowance (EUR)",
                        "Income",
                        nullable=True,
                    ),
                    "decision_date": _field(
                        "/heating_allowance/decision_date",
                        "Дата на решението",
                        "Date of the decision",
                        "FinancialStatus",
                        nullable=True,
                    ),
                    "payments": _field(
                        "/payments",
                        "Изплатени суми по месеци",
                        "Payments by month",
                        "Transactional",
                        dated=True,
                    ),
                },
            }
        },
    }
