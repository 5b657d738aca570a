"""Serdika's DPoP (RFC 9449), registered into the extension ``broker.oauth.rfc9449``: the
store of used proofs every node shares (``oauth_used_jtis``), nonces made from the broker's
secret key, the broker's public URL as ``htu``, RFC 7638 thumbprints from
``consent.ledger.jwk``, and the proof check of the token-guarded APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Request, current_app
from flask import request as flask_request

from broker.oauth.rfc9449 import DPoP, DPoPNonces, DPoPProof, DPoPProofValidator
from broker.oauth.used_jtis import UsedJtis
from consent.ledger.jwk import jwk_thumbprint

if TYPE_CHECKING:
    from broker.parts import Broker

EXTENSION = "serdika.dpop"
#: The kind of the proofs' rows in ``oauth_used_jtis`` (client assertions use another).
JTI_KIND = "dpop"
#: How long a server nonce lives: its slot and the next (broker.oauth.rfc9449.DPoPNonces).
NONCE_SLOT_SECONDS = 300


def _until(proof: DPoPProof, window: int) -> datetime:
    """Until the proof's ``iat`` could no longer be accepted (RFC 9449 §11.1)."""
    return datetime.fromtimestamp(proof.iat, UTC) + timedelta(seconds=window)


def request_uris(request: Request, issuer: str) -> list[str]:
    """What ``htu`` may name: the request's URL (Flask's, which ProxyFix sets from the
    proxy's headers) and the same path under the broker's public address (its issuer)."""
    return [request.base_url, issuer.rstrip("/") + request.path]


class BrokerDPoP(DPoP):
    """The grant extension, with the broker's store, nonces and public address."""

    def __init__(self, broker: Broker) -> None:
        settings = broker.settings
        validator = DPoPProofValidator(
            window=settings.dpop_window_seconds,
            nonces=DPoPNonces(
                "dpop-nonce:" + broker.keys.secret_key, slot_seconds=NONCE_SLOT_SECONDS
            ),
            require_nonce=settings.dpop_nonce_required,
            thumbprint=jwk_thumbprint,
        )
        # FAPI 2.0 §5.3.2.2: under fapi2 every token is sender-constrained.
        super().__init__(validator, required=settings.fapi2)
        self.broker = broker
        self.used = UsedJtis(broker.db, JTI_KIND)

    def remember_jti(self, grant: Any, proof: DPoPProof) -> bool:
        # At the token endpoint: kept with its transaction. A proof's jti is hashed with its
        # key, so a client cannot use up another's jtis.
        until = _until(proof, self.validator.window)
        return self.used.spend(proof.jkt, proof.jti, until, in_request=True)

    def get_request_uris(self, grant: Any) -> list[str]:
        return request_uris(flask_request, self.broker.settings.issuer)

    def resource_proof(self, request: Request, access_token: str) -> DPoPProof:
        """Validate the proof sent with a DPoP-bound access token to one of the broker's APIs
        (RFC 9449 §7: with ``ath``); raises ``InvalidDPoPProofError`` or ``UseDPoPNonceError``.
        """
        return self.validator.validate(
            request.headers.get("DPoP"),
            method=request.method,
            uris=request_uris(request, self.broker.settings.issuer),
            access_token=access_token,
            remember_jti=lambda proof: self.used.spend(
                proof.jkt, proof.jti, _until(proof, self.validator.window)
            ),
        )

    def pushed_request_proof(self, request: Request) -> DPoPProof | None:
        """The proof sent with a pushed authorization request (RFC 9449 §10.1), validated and
        spent in the PAR endpoint's transaction; None when it sends none."""
        header = request.headers.get("DPoP")
        if header is None:
            return None
        return self.validator.validate(
            header,
            method=request.method,
            uris=request_uris(request, self.broker.settings.issuer),
            remember_jti=lambda proof: self.used.spend(
                proof.jkt, proof.jti, _until(proof, self.validator.window), in_request=True
            ),
        )


def current_dpop() -> BrokerDPoP:
    """The DPoP extension of the app handling the request."""
    dpop: BrokerDPoP = current_app.extensions[EXTENSION]
    return dpop
