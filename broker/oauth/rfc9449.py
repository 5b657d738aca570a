"""broker.oauth.rfc9449.
~~~~~~~~~~~~~~~~~~~~~

OAuth 2.0 Demonstrating Proof of Possession (DPoP): the ``DPoP`` proof JWT, its validation
at the token endpoint and at resource servers, server-provided nonces, and the grant
extension that binds issued tokens to the proof's key.

Framework-free, and shaped like Authlib's own RFC packages: it imports Authlib, PyJWT,
joserfc and the standard library only (PyJWT checks the signature; no JOSE is hand-written
here), so it could be offered to Authlib as it stands.

:rfc:`9449`
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationEndpointMixin, TokenEndpointMixin
from joserfc.jwk import JWKRegistry

#: The authorization request parameter of §10, and the shape of a SHA-256 thumbprint.
JKT_PARAMETER = "dpop_jkt"
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")

__all__ = [
    "DEFAULT_ALGORITHMS",
    "HEADER",
    "JKT_PARAMETER",
    "NONCE_HEADER",
    "DPoP",
    "DPoPNonces",
    "DPoPProof",
    "DPoPProofValidator",
    "InvalidDPoPProofError",
    "UseDPoPNonceError",
    "access_token_hash",
    "challenge",
    "metadata",
]

#: The request header carrying the proof (§4.1) and the one carrying a server nonce (§8.1).
HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
#: The authorization scheme of DPoP-bound access tokens (§7.1) and the token type (§5).
TOKEN_TYPE = "DPoP"  # noqa: S105 (a token type, not a secret)
#: The ``typ`` of a proof's JOSE header (§4.2).
PROOF_TYPE = "dpop+jwt"
#: Asymmetric algorithms only (§4.2); ES256 and EdDSA, as FAPI 2.0 allows.
DEFAULT_ALGORITHMS = ("ES256", "EdDSA")
#: The key type and curve each algorithm is used with.
_KEY_OF = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
#: JWK members that only a private (or symmetric) key has (RFC 7518 §6, RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Proofs are short; anything longer is refused before it is parsed.
MAX_PROOF_LENGTH = 4096
MAX_JTI_LENGTH = 256


class InvalidDPoPProofError(OAuth2Error):
    """The proof is missing, malformed, or does not hold for this request (§5, §7.1)."""

    error = "invalid_dpop_proof"


class UseDPoPNonceError(OAuth2Error):
    """The server wants a proof carrying the nonce it sends in ``DPoP-Nonce`` (§8, §9)."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description=description or "Send a DPoP proof with the server's nonce.")
        self.nonce = nonce

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), (NONCE_HEADER, self.nonce)]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url of the SHA-256 of the token's ASCII (§4.2)."""
    return _b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK, as the JOSE library computes it."""
    return str(JWKRegistry.import_key(jwk).thumbprint())


def normalize_uri(uri: str) -> str:
    """The URI without query and fragment, scheme and host in lower case, no default port
    (§4.3 point 9: compared after RFC 3986 §6.2.2 and §6.2.3 normalisation)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


class DPoPNonces:
    """Stateless server nonces (§8, §9): an HMAC of a time slot with the server's secret.

    Every node holding the secret issues and accepts the same nonces, so no store is
    shared; a nonce is accepted in its own slot and the next one.
    """

    def __init__(self, secret: bytes | str, slot_seconds: int = 300) -> None:
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.slot_seconds = slot_seconds

    def _nonce(self, slot: int) -> str:
        mac = hmac.new(self._secret, f"dpop-nonce:{slot}".encode(), hashlib.sha256)
        return _b64url(mac.digest()[:18])

    def issue(self, now: float | None = None) -> str:
        """The nonce of the current slot."""
        return self._nonce(int((time.time() if now is None else now) // self.slot_seconds))

    def check(self, nonce: object, now: float | None = None) -> bool:
        """Whether ``nonce`` is the current or the previous slot's."""
        if not isinstance(nonce, str):
            return False
        slot = int((time.time() if now is None else now) // self.slot_seconds)
        return any(
            hmac.compare_digest(nonce, self._nonce(candidate)) for candidate in (slot, slot - 1)
        )


@dataclass(frozen=True)
class DPoPProof:
    """A validated proof: the RFC 7638 thumbprint of its key (``jkt``, §6.1) and its claims."""

    jkt: str
    jti: str
    iat: int
    claims: dict[str, Any]


class DPoPProofValidator:
    """Check a ``DPoP`` header against the request it came with (§4.3)::

        validator = DPoPProofValidator(window=60, nonces=DPoPNonces(secret))
        proof = validator.validate(
            header, method="POST", uris=["https://as.example/token"],
            remember_jti=lambda proof: store.add_if_new(proof.jkt, proof.jti),
        )

    ``remember_jti`` is the replay check (§11.1): it records the proof's ``jti`` until
    ``proof.iat + window`` and returns False when it was seen already. ``thumbprint``
    computes RFC 7638 thumbprints of the (public) JWK; the JOSE library's by default.
    """

    def __init__(
        self,
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        window: int = 60,
        nonces: DPoPNonces | None = None,
        require_nonce: bool = False,
        thumbprint: Callable[[dict[str, Any]], str] = jwk_thumbprint,
    ) -> None:
        self.algorithms = [alg for alg in algorithms if alg in _KEY_OF]
        self.window = window
        self.nonces = nonces
        self.require_nonce = require_nonce and nonces is not None
        self.thumbprint = thumbprint

    def validate(
        self,
        proof: str | None,
        *,
        method: str,
        uris: Iterable[str],
        remember_jti: Callable[[DPoPProof], bool],
        access_token: str | None = None,
        now: float | None = None,
    ) -> DPoPProof:
        """Return the validated proof, or raise :class:`InvalidDPoPProofError` or
        :class:`UseDPoPNonceError`.

        :param uris: the request's URI as the server may be addressed (``htu`` is compared
            with each after normalisation).
        :param access_token: at a resource server, the token presented with the proof
            (``ath``, §7).
        """
        now = time.time() if now is None else now
        if not proof:
            raise InvalidDPoPProofError("Send a DPoP proof in the 'DPoP' header.")
        if len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
            raise InvalidDPoPProofError("The DPoP proof is not a signed JWT.")
        header = self._header(proof)
        jwk = header["jwk"]
        alg = header["alg"]
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            payload = jwt.PyJWS().decode(proof, key=key, algorithms=[alg])
        except jwt.PyJWTError as exc:
            raise InvalidDPoPProofError("The DPoP proof's signature does not verify.") from exc
        try:
            claims = json.loads(payload)
        except ValueError as exc:
            raise InvalidDPoPProofError("The DPoP proof's claims are not JSON.") from exc
        if not isinstance(claims, dict):
            raise InvalidDPoPProofError("The DPoP proof's claims are not a JSON object.")
        self._check_claims(claims, method=method, uris=uris, access_token=access_token, now=now)
        try:
            jkt = self.thumbprint(jwk)
        except ValueError as exc:
            raise InvalidDPoPProofError("The DPoP proof's 'jwk' is not a usable key.") from exc
        checked = DPoPProof(jkt=jkt, jti=claims["jti"], iat=claims["iat"], claims=claims)
        # §11.1: a proof is used once, by any node; checked last, so that a proof refused for
        # another reason does not use its jti up.
        if not remember_jti(checked):
            raise InvalidDPoPProofError("The DPoP proof was used already (its jti is known).")
        return checked

    def _header(self, proof: str) -> dict[str, Any]:
        """§4.3 points 2-7: the JOSE header's ``typ``, ``alg`` and ``jwk``."""
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise InvalidDPoPProofError("The DPoP proof is not a well-formed JWT.") from exc
        if header.get("typ") != PROOF_TYPE:
            raise InvalidDPoPProofError(f"The DPoP proof's 'typ' must be '{PROOF_TYPE}'.")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidDPoPProofError(
                "The DPoP proof's 'alg' must be one of " + ", ".join(self.algorithms) + "."
            )
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDPoPProofError("The DPoP proof's header must carry its public 'jwk'.")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise InvalidDPoPProofError("The DPoP proof's 'jwk' must not hold a private key.")
        if (jwk.get("kty"), jwk.get("crv")) != _KEY_OF[alg]:
            raise InvalidDPoPProofError(f"The DPoP proof's 'jwk' is not a key for {alg}.")
        return header

    def _check_claims(
        self,
        claims: dict[str, Any],
        *,
        method: str,
        uris: Iterable[str],
        access_token: str | None,
        now: float,
    ) -> None:
        """§4.3 points 8-12 (and §7 for ``ath``, §8 and §9 for ``nonce``)."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidDPoPProofError("The DPoP proof needs a unique 'jti'.")
        if claims.get("htm") != method:
            raise InvalidDPoPProofError("The DPoP proof's 'htm' is not this request's method.")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalize_uri(htu) not in {
            normalize_uri(uri) for uri in uris
        }:
            raise InvalidDPoPProofError("The DPoP proof's 'htu' is not this request's URI.")
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise InvalidDPoPProofError("The DPoP proof needs 'iat', in seconds.")
        if abs(now - iat) > self.window:
            raise InvalidDPoPProofError(
                "The DPoP proof's 'iat' is too far from the server's clock."
            )
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)
            ):
                raise InvalidDPoPProofError(
                    "The DPoP proof's 'ath' is not the hash of the access token."
                )
        if self.nonces is not None:
            nonce = claims.get("nonce")
            if (nonce is not None or self.require_nonce) and not self.nonces.check(nonce, now):
                raise UseDPoPNonceError(self.nonces.issue(now))


_UNCHECKED = object()


class DPoP:
    """RFC 9449 extension to token grants, registered as Authlib registers PKCE::

        dpop = DPoP(DPoPProofValidator(window=60), required=False)
        server.register_grant(AuthorizationCodeGrant, [CodeChallenge(), dpop])
        server.register_grant(RefreshTokenGrant, [dpop])

    A token request carrying a valid proof gets ``token_type: "DPoP"``; the proof's key
    thumbprint is on ``grant.request.dpop_jkt`` for ``save_token`` to bind the tokens to
    (§5). ``required``: refuse token requests without a proof.

    A grant whose credential is bound (a refresh token, §5; a code, §10) calls
    :meth:`validate_bound_credential` before it spends it.
    """

    def __init__(self, validator: DPoPProofValidator, *, required: bool = False) -> None:
        self.validator = validator
        self.required = required

    def __call__(self, grant: Any) -> None:
        if isinstance(grant, AuthorizationEndpointMixin):
            grant.register_hook(
                "after_validate_authorization_request_payload", self.validate_dpop_jkt
            )
        if isinstance(grant, TokenEndpointMixin):
            grant.dpop = self
            # Authlib hooks the code grant's validation; other grants validate the proof when
            # they first ask for it (validate_bound_credential), or before the token is made.
            grant.register_hook("before_validate_token_request", self.validate_proof)
            grant.register_hook("before_create_token_response", self.validate_token_request)
            grant.register_hook("after_create_token_response", self.set_token_type)

    def validate_dpop_jkt(self, grant: Any, result: Any) -> None:
        """§10: an authorization request may bind its code to a key with ``dpop_jkt``, the
        key's RFC 7638 thumbprint (43 base64url characters of SHA-256); the code is then
        redeemed only with a proof of that key (:meth:`validate_token_request`)."""
        data = grant.request.payload.data
        jkt = data.get(JKT_PARAMETER)
        if jkt is None:
            return
        if len(grant.request.payload.datalist.get(JKT_PARAMETER, [])) > 1:
            raise InvalidRequestError(f"Send '{JKT_PARAMETER}' once.")
        if not isinstance(jkt, str) or not _THUMBPRINT.fullmatch(jkt):
            raise InvalidRequestError(
                f"'{JKT_PARAMETER}' must be the RFC 7638 thumbprint of the DPoP key."
            )

    def proof_of(self, grant: Any) -> DPoPProof | None:
        """The request's validated proof, or None when it sends none (refused when the
        extension is ``required``); checked once, at the first call."""
        request = grant.request
        cached = getattr(request, "dpop_proof", _UNCHECKED)
        if cached is None or isinstance(cached, DPoPProof):
            return cached
        header = request.headers.get(HEADER)
        proof = None
        if header is not None:
            proof = self.validator.validate(
                header,
                method=request.method,
                uris=self.get_request_uris(grant),
                remember_jti=lambda checked: self.remember_jti(grant, checked),
            )
        elif self.required:
            raise InvalidDPoPProofError("DPoP is required: send a proof in the 'DPoP' header.")
        request.dpop_proof = proof
        request.dpop_jkt = proof.jkt if proof is not None else None
        return proof

    def validate_proof(self, grant: Any) -> None:
        """Validate the proof (or refuse its absence) before the grant spends anything: a
        client asked for a nonce (§8) retries with the same code."""
        self.proof_of(grant)

    def validate_token_request(self, grant: Any) -> None:
        """Validate the proof (or refuse its absence) before the token is made, and a code
        bound to a key (§10) only with a proof of it."""
        self.proof_of(grant)
        code = getattr(grant.request, "authorization_code", None)
        bound = getattr(code, "dpop_jkt", None)
        if bound:
            self.validate_bound_credential(grant, bound)

    def validate_bound_credential(self, grant: Any, jkt: str | None) -> None:
        """A credential bound to a key is only used with a proof of that key (§5, §10).
        Grants call it before they spend the credential (a refresh token)."""
        proof = self.proof_of(grant)
        if jkt is None:
            return
        if proof is None:
            raise InvalidDPoPProofError(
                "This grant is bound to a DPoP key: send a proof of that key."
            )
        if not hmac.compare_digest(proof.jkt, jkt):
            raise InvalidGrantError("This grant is bound to another DPoP key.")

    def set_token_type(self, grant: Any, result: tuple[int, Any, Any]) -> None:
        """§5: the token response of a bound token says ``token_type: DPoP``."""
        _status, token, _headers = result
        if getattr(grant.request, "dpop_jkt", None) and isinstance(token, dict):
            token["token_type"] = TOKEN_TYPE

    def remember_jti(self, grant: Any, proof: DPoPProof) -> bool:
        """Record the proof's ``jti``; False if it was seen already (§11.1).

        Developers MUST implement it with a store every server node shares::

            def remember_jti(self, grant, proof):
                return jti_store.add_if_new(proof.jkt + proof.jti, until=proof.iat + 60)
        """
        raise NotImplementedError()

    def get_request_uris(self, grant: Any) -> list[str]:
        """The URIs the request may name in ``htu``; developers MAY re-implement it (behind
        a proxy, the public address). The default: the request's own URI."""
        return [str(grant.request.uri)]


def metadata(algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> dict[str, Any]:
    """The authorization server metadata member of §5.1."""
    return {"dpop_signing_alg_values_supported": list(algorithms)}


def challenge(
    error: str | None = None,
    description: str | None = None,
    *,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
) -> str:
    """A ``WWW-Authenticate: DPoP`` challenge of a resource server (§7.1)."""

    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    parts = []
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{quoted(description)}"')
    parts.append(f'algs="{" ".join(algorithms)}"')
    return "DPoP " + ", ".join(parts)
