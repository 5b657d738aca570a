"""Test helpers that walk the OAuth flow through the Flask test client."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient

REDIRECT_URI = "http://127.0.0.1:9001/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def person_details(fields: list[str] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {
        "type": "personal_data", "connector": "civil_registry", "resource": "person",
        "fields": fields or ["given_name", "family_name", "birth_date", "address"],
        "actions": ["read"], "purpose": "kindergarten_enrolment", "duration": "P90D",
    }
    detail.update(overrides)
    return [detail]


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a CSRF token"
    return match.group(1)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@dataclass
class Flow:
    """One service asking one citizen, through the test client."""

    client: FlaskClient
    service: dict[str, Any]
    citizen: dict[str, Any]
    details: list[dict[str, Any]] | None = field(default_factory=person_details)
    scope: str | None = None
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    verifier: str = ""
    challenge: str = ""
    #: Withdraw first what the citizen already allows this service for these purposes, so that
    #: the flow makes a consent of its own: asking again would amend the one that stands
    #: (consent.amendment). Tests of amendments set it False.
    fresh: bool = True
    #: Headers the push sends besides the client's authentication (a DPoP proof, say).
    push_headers: dict[str, str] = field(default_factory=dict)
    #: Push the request first (RFC 9126) and send the browser with only ``client_id`` and the
    #: ``request_uri`` the push returned.
    pushed: bool = False

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()

    def withdraw_standing(self) -> None:
        """Withdraw the citizen's consents in force for this service (and these purposes)."""
        from sqlalchemy import select

        from consent.amendment import STANDING
        from consent.lifecycle import revoke_consent
        from consent.models import Consent, Service, Subject
        from consent.types import utcnow

        broker = self.client.application.extensions["serdika"]
        purposes = {item["purpose"] for item in self.details or () if "purpose" in item}
        with broker.db.sessions() as session, broker.db.writing(session):
            query = (select(Consent).join(Subject, Subject.id == Consent.subject_id)
                     .join(Service, Service.id == Consent.service_id)
                     .where(Subject.username == self.citizen["username"],
                            Service.client_id == self.service["client_id"],
                            Consent.status.in_(STANDING)))
            if purposes:
                query = query.where(Consent.purpose_code.in_(purposes))
            for consent in session.scalars(query).all():
                revoke_consent(session, broker.domain, consent, now=utcnow())

    def authorize_params(self, **overrides: Any) -> dict[str, Any]:
        """The authorization request's parameters (None drops one)."""
        params: dict[str, Any] = {
            "response_type": "code", "client_id": self.service["client_id"],
            "redirect_uri": REDIRECT_URI, "state": self.state,
            "code_challenge": self.challenge, "code_challenge_method": "S256",
        }
        if self.details is not None:
            params["authorization_details"] = json.dumps(self.details)
        if self.scope is not None:
            params["scope"] = self.scope
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize_query(self, **overrides: Any) -> str:
        return "/oauth2/authorize?" + urlencode(self.authorize_params(**overrides))

    def push(self, **overrides: Any) -> Any:
        """POST the authorization request to the PAR endpoint, as the service (RFC 9126 §2)."""
        headers = basic(self.service["client_id"], self.service["client_secret"])
        return self.client.post("/oauth2/par", data=self.authorize_params(**overrides),
                                headers={**headers, **self.push_headers})

    def pushed_query(self, **overrides: Any) -> str:
        """Push the request; the authorization URL with its ``request_uri`` (RFC 9126 §4)."""
        response = self.push(**overrides)
        assert response.status_code == 201, response.get_data(as_text=True)
        return "/oauth2/authorize?" + urlencode({
            "client_id": self.service["client_id"],
            "request_uri": response.get_json()["request_uri"]})

    def sign_in(self) -> None:
        page = self.client.get("/wallet/sign-in")
        response = self.client.post("/wallet/sign-in", data={
            "username": self.citizen["username"], "password": self.citizen["password"],
            "csrf_token": csrf_token(page.get_data(as_text=True))})
        assert response.status_code == 302, response.get_data(as_text=True)

    def decide(self, decision: str = "allow", fields: list[str] | None = None,
               whose: str = "me", **overrides: Any) -> dict[str, list[str]]:
        """Sign in, show the consent page, answer it; return the redirect's query.

        A parent is asked whose data it is (nobody is chosen for them): ``whose`` answers,
        the citizen themself by default.
        """
        if self.fresh and whose == "me":
            self.withdraw_standing()
        self.sign_in()
        url = (self.pushed_query if self.pushed else self.authorize_query)(**overrides)
        page = self.client.get(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        form: dict[str, Any] = {"csrf_token": csrf_token(page.get_data(as_text=True)),
                                "decision": decision}
        if 'name="subject"' in page.get_data(as_text=True):
            form["subject"] = whose
        if fields is not None:
            form["fields"] = fields
        else:
            form["fields"] = re.findall(r'name="fields" value="([^"]+)"',
                                        page.get_data(as_text=True))
        response = self.client.post(url, data=form)
        # FAPI 2.0 answers a POST with 303 (broker.oauth.server), the baseline with 302.
        fapi2 = self.client.application.extensions["serdika"].settings.fapi2
        assert response.status_code == (303 if fapi2 else 302), response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI)
        return parse_qs(urlsplit(location).query)

    def code(self, **kwargs: Any) -> str:
        query = self.decide(**kwargs)
        assert query["state"] == [self.state]
        return query["code"][0]

    def redeem(self, code: str, verifier: str | None = None, **extra: Any) -> Any:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": REDIRECT_URI, "code_verifier": verifier or self.verifier}
        data.update(extra)
        return self.client.post("/oauth2/token", data={k: v for k, v in data.items()
                                                       if v is not None},
                                headers=basic(self.service["client_id"],
                                              self.service["client_secret"]))

    def tokens(self, **kwargs: Any) -> dict[str, Any]:
        response = self.redeem(self.code(**kwargs))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


def revoke_in_wallet(client: FlaskClient, consent_id: str) -> None:
    """Withdraw a consent as the signed-in citizen would: the consent page, then its form."""
    page = client.get(f"/wallet/consents/{consent_id}")
    assert page.status_code == 200
    response = client.post(f"/wallet/consents/{consent_id}/revoke",
                           data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302


CITIZEN_PASSWORD = "a long enough password"


def create_citizen(broker: Any, prefix: str = "c_") -> dict[str, Any]:
    """A fresh citizen with a valid random ЕГН, so no test shares lock-outs or consents."""
    from datetime import date, timedelta

    from commons import egn
    from consent.accounts import create_subject

    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(20000))
    national_id = egn.make(born, secrets.randbelow(1000))
    with broker.db.sessions() as session, broker.db.writing(session):
        subject = create_subject(session, broker.keys.keyring,
                                 username=prefix + secrets.token_hex(5),
                                 password=CITIZEN_PASSWORD, national_id=national_id)
    return {"username": subject.username, "password": CITIZEN_PASSWORD, "id": subject.id,
            "national_id": national_id}


def expire_consent(broker: Any, consent_id: str, ago: float = 1.0) -> None:
    """Move a consent's end ``ago`` seconds into the past, as if its term had run out."""
    from datetime import timedelta

    from sqlalchemy import update

    from consent.models import Consent
    from consent.types import utcnow

    with broker.db.sessions() as session:
        session.execute(update(Consent).where(Consent.id == consent_id)
                        .values(expires_at=utcnow() - timedelta(seconds=ago)))
        session.commit()
