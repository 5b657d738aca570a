"""broker.oauth.rfc7523.
~~~~~~~~~~~~~~~~~~~~

``private_key_jwt`` client authentication: a client proves itself with a JWT it signed with
its private key (RFC 7523 §2.2 and §3, RFC 7521 §4.2; the method's name is OpenID Connect
Core §9's, registered by RFC 7591 §2), with the FAPI 2.0 Security Profile's rules (§5.3.2.1,
§5.4.1): asymmetric algorithms only, the issuer as audience, short-lived single-use assertions.

Authlib's :class:`~authlib.oauth2.rfc7523.JWTBearerClientAssertion` parses and verifies the
assertion; this module adds the rules and leaves two hooks to the server that uses it: where a
client's public keys are (:class:`ClientKeys`) and where used ``jti`` values are kept
(:class:`SpentJtis`). Like :mod:`broker.oauth.rfc9396` it imports only Authlib (with joserfc,
Authlib's JOSE library, as Authlib's own ``rfc7523`` does) and the standard library.

:rfc:`7523`
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OKPKey

__all__ = [
    "ALGORITHMS",
    "ASSERTION_TYPE",
    "METHOD",
    "ClientKeys",
    "PrivateKeyJWT",
    "SpentJtis",
    "assertion_subject",
    "metadata",
]

METHOD = "private_key_jwt"
ASSERTION_TYPE = JWTBearerClientAssertion.CLIENT_ASSERTION_TYPE
#: FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA (Ed25519); this server takes the
#: two elliptic-curve ones.
ALGORITHMS = ("ES256", "EdDSA")
#: The key each algorithm verifies with: (key class, curve).
_KEY_OF = {"ES256": (ECKey, "P-256"), "EdDSA": (OKPKey, "Ed25519")}

# RFC 9864 deprecates the polymorphic "EdDSA" name for "Ed25519"; FAPI 2.0 and the metadata
# still name it "EdDSA", and only Ed25519 keys are accepted for it (_KEY_OF).
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


class ClientKeys(Protocol):
    """Where a client's public keys are: a JWK Set document (RFC 7517 §5), or None.

    ``refresh`` is asked once, when the assertion names a ``kid`` the set does not have: a
    client that rotated its keys publishes the new one at its ``jwks_uri`` first.
    """

    def key_set(self, client: Any, *, refresh: bool) -> dict[str, Any] | None: ...


class SpentJtis(Protocol):
    """Remembers the ``jti`` of every accepted assertion until ``expires_at`` (a Unix time):
    ``spend`` answers False when it was seen already, on any node (RFC 7523 §3, item 7)."""

    def spend(self, client_id: str, jti: str, expires_at: int) -> bool: ...


def assertion_subject(assertion: Any) -> str | None:
    """The ``sub`` a client assertion claims, unverified (to name the client a failure is
    counted against), or None."""
    if not isinstance(assertion, str) or assertion.count(".") != 2 or len(assertion) > 8192:
        return None
    payload = assertion.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


def metadata(algorithms: Sequence[str] = ALGORITHMS) -> dict[str, Any]:
    """RFC 8414 §2: the signing algorithms accepted for client assertions."""
    return {"token_endpoint_auth_signing_alg_values_supported": list(algorithms)}


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """The ``private_key_jwt`` client authentication method, to register with
    ``server.register_client_auth_method(METHOD, PrivateKeyJWT(...))``.

    :param audiences: the values accepted in ``aud``: the issuer first (FAPI 2.0 §5.3.2.1),
        then the endpoint URLs RFC 7523 §3 and RFC 9126 §2 also allow.
    :param keys: the :class:`ClientKeys` hook.
    :param jtis: the :class:`SpentJtis` hook.
    :param max_lifetime: the longest an assertion may be valid, in seconds (its ``exp`` from
        now, and from its ``iat``): RFC 7523 §3 lets the server refuse ``exp`` "unreasonably
        far in the future".
    """

    CLIENT_AUTH_METHOD = METHOD

    def __init__(
        self,
        audiences: Sequence[str],
        keys: ClientKeys,
        jtis: SpentJtis,
        *,
        algorithms: Sequence[str] = ALGORITHMS,
        max_lifetime: int = 300,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(validate_jti=True, leeway=leeway)
        self.audiences = list(audiences)
        self.keys = keys
        self.jtis = jtis
        self.algorithms = [alg for alg in algorithms if alg in _KEY_OF]
        self.max_lifetime = max_lifetime
        self.clock = clock

    def get_audiences(self) -> list[str]:
        return self.audiences

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Authlib's, and the algorithm checked before any key is looked for (RFC 8725 §3.1):
        ``none``, HMAC with a guessed secret, or anything else is refused at once."""
        headers, claims = super().extract_assertion(assertion)
        if headers.get("alg") not in self.algorithms:
            raise InvalidClientError(
                description="The client assertion must be signed with "
                + " or ".join(self.algorithms)
                + "."
            )
        return headers, claims

    def resolve_client_public_key(self, client: Any) -> Callable[[Any], Any]:
        """The client's key for the assertion's ``kid`` and ``alg``; the set is asked again,
        once, for a ``kid`` it does not hold (key rotation)."""

        def resolve(signed: Any) -> Any:
            header = signed.headers()
            key = self._pick(self.keys.key_set(client, refresh=False), header)
            if key is None and header.get("kid"):
                key = self._pick(self.keys.key_set(client, refresh=True), header)
            if key is None:
                raise InvalidClientError(
                    description="No registered key of this client verifies the assertion "
                    "(check its 'kid' and 'alg')."
                )
            return key

        return resolve

    @staticmethod
    def _pick(document: dict[str, Any] | None, header: dict[str, Any]) -> Any:
        if not document:
            return None
        try:
            key_set = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        kind, curve = _KEY_OF[header["alg"]]
        kid = header.get("kid")
        fitting = [
            key
            for key in key_set.keys
            if isinstance(key, kind)
            and key.curve_name == curve
            and not key.is_private
            and (kid is None or key.kid == kid)
        ]
        # Without a kid, only a set with one fitting key says which key is meant.
        return fitting[0] if len(fitting) == 1 else None

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=self.algorithms)
        except JoseError as error:
            raise InvalidClientError(
                description=error.description
                or "The client assertion's signature does not verify with the client's key."
            ) from error
        self.verify_claims(token.claims)
        return dict(token.claims)

    def verify_claims(self, claims: Any) -> None:
        """RFC 7523 §3: ``exp`` required, and here no later than ``max_lifetime`` from now
        (and from ``iat``); then Authlib's checks of ``iss``, ``sub``, ``aud``, and the
        ``jti`` spent last, so that only an otherwise valid assertion is remembered."""
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise InvalidClientError(description="The client assertion needs an 'exp' (a time).")
        iat = claims.get("iat")
        longest = self.max_lifetime + self.leeway
        if exp - self.clock() > longest or (
            isinstance(iat, int) and not isinstance(iat, bool) and exp - iat > longest
        ):
            raise InvalidClientError(
                description="The client assertion is valid for too long: "
                f"at most {self.max_lifetime} seconds."
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidClientError(description="The client assertion needs a 'jti'.")
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if not self.jtis.spend(str(claims["sub"]), jti, int(claims["exp"]) + self.leeway):
            raise InvalidClientError(
                description="This client assertion was used already: "
                "sign a new one, with a new 'jti', for every request."
            )
        return True

    def authenticate_client(self, client: Any) -> Any:
        if client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, "token"):
            return client
        raise InvalidClientError(
            description="This client does not authenticate with private_key_jwt."
        )
