"""Pushed authorization requests (RFC 9126) kept in the database, for the rfc9126 extension.

A ``request_uri`` is stored as the SHA-256 hash of its random part, like tokens and codes: the
table never holds a value a browser could bring. Rows are single use (``used_at``) and go away
once expired, swept by the PAR endpoint's own transaction at most once per TTL and process.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import request as flask_request
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from broker.oauth import rfc9126
from broker.oauth.dpop import current_dpop
from broker.oauth.models import PushedRequest
from consent.crypto import token_hash
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker

#: How long a citizen has, from arriving at the authorization endpoint with a request_uri, to
#: sign in and answer the consent page; each later arrival (the sign-in's return, the form's
#: POST) moves it on. ``expires_in`` (settings.par_ttl) is only the service's time to send
#: the browser: a citizen who reads the page for two minutes must not find it gone.
INTERACTION_SECONDS = 900


class PushedAuthorizationEndpoint(rfc9126.PushedAuthorizationEndpoint):
    def get_client_auth_methods(self) -> list[str]:
        # RFC 9126 §2: the client authenticates as at the token endpoint: the server's
        # methods, which the security profile sets (broker.oauth.server).
        return list(self.server.client_auth_methods)


class PushedAuthorizationRequests(rfc9126.PushedAuthorizationRequests):
    """The rfc9126 extension with the broker's storage (``oauth_pushed_requests``)."""

    endpoint_class = PushedAuthorizationEndpoint

    def __init__(self, broker: Broker) -> None:
        settings = broker.settings
        super().__init__(required=settings.fapi2, expires_in=settings.par_ttl)
        self.broker = broker
        #: When this process next deletes expired rows (time.monotonic()).
        self.next_sweep = 0.0

    def bind_parameters(self, request: Any, parameters: dict[str, str]) -> None:
        """RFC 9449 §10.1: a DPoP proof sent with the push binds the code to its key, as
        ``dpop_jkt`` would; when both are sent they must name the same key."""
        proof = current_dpop().pushed_request_proof(flask_request)
        if proof is None:
            return
        named = parameters.get("dpop_jkt")
        if named is not None and named != proof.jkt:
            raise InvalidRequestError("'dpop_jkt' does not name the key of the DPoP proof.")
        parameters["dpop_jkt"] = proof.jkt

    def save_request(
        self, request_uri: str, client: Any, parameters: dict[str, str], expires_in: int
    ) -> None:
        # In the PAR endpoint's write transaction (broker.oauth.wiring).
        session = self.broker.db.session
        now = utcnow()
        self._sweep(session, now)
        session.add(
            PushedRequest(
                request_uri_hash=token_hash(request_uri),
                client_id=client.get_client_id(),
                parameters=parameters,
                expires_at=now + timedelta(seconds=expires_in),
            )
        )

    def query_request(self, request_uri: str, client: Any) -> dict[str, str] | None:
        db = self.broker.db
        now = utcnow()
        digest = token_hash(request_uri)
        row = db.session.execute(
            select(PushedRequest.id, PushedRequest.parameters, PushedRequest.expires_at).where(
                PushedRequest.request_uri_hash == digest,
                PushedRequest.client_id == client.get_client_id(),
                PushedRequest.used_at.is_(None),
                PushedRequest.expires_at > now,
            )
        ).one_or_none()
        if row is None:
            return None
        row_id, parameters, expires_at = row
        horizon = now + timedelta(seconds=INTERACTION_SECONDS)
        # The browser has arrived: the citizen gets their time (see INTERACTION_SECONDS),
        # written at most once per half of it, not on every page view.
        if expires_at < horizon - timedelta(seconds=INTERACTION_SECONDS / 2):
            with db.writing() as session:
                session.execute(
                    update(PushedRequest)
                    .where(PushedRequest.id == row_id, PushedRequest.used_at.is_(None))
                    .values(expires_at=horizon)
                )
        return dict(parameters)

    def use_request(self, request_uri: str, client: Any) -> bool:
        # In the transaction of the authorization response (the wallet's answer): committed
        # with the code, or rolled back with it. The condition on used_at makes this the one
        # winner of two racing answers (PostgreSQL re-checks it after the winner commits).
        now = utcnow()
        spent = self.broker.db.session.execute(
            update(PushedRequest)
            .where(
                PushedRequest.request_uri_hash == token_hash(request_uri),
                PushedRequest.client_id == client.get_client_id(),
                PushedRequest.used_at.is_(None),
                PushedRequest.expires_at > now,
            )
            .values(used_at=now)
            .returning(PushedRequest.id)
        ).scalar_one_or_none()
        return spent is not None

    def _sweep(self, session: Session, now: datetime) -> None:
        """Delete expired requests, now and then: off every hot path, on the expires_at index."""
        if time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + self.expires_in
        session.execute(delete(PushedRequest).where(PushedRequest.expires_at <= now))
