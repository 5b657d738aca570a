"""The demo's Social Assistance Agency: a small JSON API on a loopback port (development only).

The ``social_assistance`` connector of the demo is a plain :mod:`connectors.http_json`
instance pointed at this server, so the demo exercises a real HTTP upstream with API-key
authentication, timeouts and the circuit breaker, without any outside network::

    upstream = SandboxUpstream(demo_benefits(people, today), api_key).start()
    options = demo_connector_options(upstream.url, api_key)   # kind = "http_json"

The API, as the agency might publish it:

- ``GET /people/{national_id}/benefits?from=YYYY-MM-DD&to=YYYY-MM-DD`` with the header
  ``X-API-Key``: the person's heating allowance (целева помощ за отопление) for the latest
  heating season, and the monthly payments of the allowance whose month lies within
  ``[from, to]`` (both optional). 401 without the right key, 404 for a person the agency does
  not know.
- ``GET /health``: ``{"status": "ok"}``, no key needed.

The demo data is made up and deterministic: the same people and day give the same answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Mapping
from datetime import date, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
    return {"pointer": pointer, "label_bg": bg, "label_en": en, "dpv": DPV_PD + category,
            "sensitivity": "personal", **flags}


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (40 ms a read on Linux loopback).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, as the connector's pooled client expects

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/health":
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif len(parts) == 3 and parts[0] == "people" and parts[2] == "benefits":
            self._benefits(unquote(parts[1]), parse_qs(url.query))
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def _benefits(self, national_id: str, query: dict[str, list[str]]) -> None:
        offered = self.headers.get(API_KEY_HEADER, "")
        if not hmac.compare_digest(offered.encode(), self.server.api_key.encode()):
            self._send(HTTPStatus.UNAUTHORIZED, {"error": "invalid_api_key"})
            return
        answer = self.server.benefits.get(national_id)
        if answer is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": "unknown_person"})
            return
        try:
            first = date.fromisoformat(query["from"][0]) if "from" in query else date.min
            last = date.fromisoformat(query["to"][0]) if "to" in query else date.max - timedelta(1)
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, {"error": "invalid_date"})
            return
        payments = [
            p
            for p in answer["payments"]
            if first <= date.fromisoformat(p["start"])
            and date.fromisoformat(p["end"]) <= last + timedelta(days=1)
        ]
        self._send(HTTPStatus.OK, {**answer, "payments": payments})

    def _send(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines carry national ids."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], benefits: Mapping[str, Any], api_key: str
                 ) -> None:
        super().__init__(address, _Handler)
        self.benefits = benefits
        self.api_key = api_key

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection is no error; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SandboxUpstream:
    """The demo agency's server, on a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        benefits: Mapping[str, Mapping[str, Any]],
        api_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("the sandbox upstream needs an API key")
        self.benefits = benefits
        self.api_key = api_key
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8001`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxUpstream:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self.benefits, self.api_key)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SandboxUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
