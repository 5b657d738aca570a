"""DPoP proofs (RFC 9449 §4.3): every check of the validator, on proofs made with joserfc."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from typing import Any

import jwt as pyjwt
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey

from broker.oauth.rfc9449 import (
    DPoPNonces,
    DPoPProof,
    DPoPProofValidator,
    InvalidDPoPProofError,
    UseDPoPNonceError,
    access_token_hash,
    challenge,
    metadata,
)
from consent.ledger.jwk import jwk_thumbprint

URL = "https://broker.example/api/v1/data/civil_registry/person"
TOKEN = "sat_example-access-token"
EC = ECKey.generate_key("P-256")
ED = OKPKey.generate_key("Ed25519")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def proof(key: Any = EC, alg: str = "ES256", *, header: dict[str, Any] | None = None,
          drop: tuple[str, ...] = (), **claims: Any) -> str:
    """A proof signed by ``key``; ``claims`` override the good ones, ``drop`` removes some."""
    body: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": URL,
                            "iat": int(time.time()), "ath": access_token_hash(TOKEN)}
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    protected.update(header or {})
    protected = {name: value for name, value in protected.items() if value is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc calls EdDSA deprecated (RFC 9864)
        return jws.serialize_compact(protected, json.dumps(body).encode(), key,
                                     algorithms=[alg])


class Seen:
    """An in-memory jti store, as the broker's table is for every node."""

    def __init__(self) -> None:
        self.jtis: set[tuple[str, str]] = set()

    def __call__(self, checked: DPoPProof) -> bool:
        key = (checked.jkt, checked.jti)
        if key in self.jtis:
            return False
        self.jtis.add(key)
        return True


def check(value: str | None, validator: DPoPProofValidator | None = None,
          seen: Seen | None = None, **kwargs: Any) -> DPoPProof:
    options: dict[str, Any] = {"method": "GET", "uris": [URL], "access_token": TOKEN}
    options.update(kwargs)
    return (validator or DPoPProofValidator()).validate(
        value, remember_jti=seen or Seen(), **options)


def refused(value: str | None, words: str, **kwargs: Any) -> None:
    with pytest.raises(InvalidDPoPProofError) as caught:
        check(value, **kwargs)
    assert caught.value.error == "invalid_dpop_proof"
    assert words in str(caught.value.description)


@pytest.mark.parametrize(("key", "alg"), [(EC, "ES256"), (ED, "EdDSA")])
def test_a_good_proof_names_its_key_by_rfc7638_thumbprint(key, alg):
    checked = check(proof(key, alg))
    assert checked.jkt == key.thumbprint() == jwk_thumbprint(key.as_dict(private=False))
    assert checked.claims["htm"] == "GET"


def test_htu_ignores_query_fragment_and_default_port():
    check(proof(htu="https://BROKER.example:443/api/v1/data/civil_registry/person"),
          uris=[URL + "?fields=name#x"])


@pytest.mark.parametrize(("value", "words"), [
    (None, "Send a DPoP proof"),
    ("", "Send a DPoP proof"),
    ("not-a-jwt", "not a signed JWT"),
    ("a.b.c", "not a well-formed JWT"),
    ("x" * 5000, "not a signed JWT"),
])
def test_what_is_no_proof_is_refused(value, words):
    refused(value, words)


def test_typ_must_be_dpop_jwt():
    refused(proof(header={"typ": "JWT"}), "'typ'")
    refused(proof(header={"typ": None}), "'typ'")


def test_alg_none_is_refused():
    unsigned = _b64({"typ": "dpop+jwt", "alg": "none", "jwk": EC.as_dict(private=False)})
    body = _b64({"jti": "1", "htm": "GET", "htu": URL, "iat": int(time.time())})
    refused(f"{unsigned}.{body}.", "'alg'")


def test_a_symmetric_alg_is_refused():
    secret = OctKey.generate_key(256)
    value = pyjwt.encode({"jti": "1", "htm": "GET", "htu": URL, "iat": int(time.time())},
                         secret.raw_value, algorithm="HS256",
                         headers={"typ": "dpop+jwt", "jwk": secret.as_dict(private=True)})
    refused(value, "'alg'")


def test_an_algorithm_outside_the_servers_list_is_refused():
    refused(proof(ED, "EdDSA"), "'alg'", validator=DPoPProofValidator(algorithms=["ES256"]))


def test_a_private_key_in_jwk_is_refused():
    refused(proof(header={"jwk": EC.as_dict(private=True)}), "private key")
    refused(proof(ED, "EdDSA", header={"jwk": ED.as_dict(private=True)}), "private key")


def test_jwk_is_required_and_must_fit_the_alg():
    refused(proof(header={"jwk": None}), "'jwk'")
    refused(proof(header={"jwk": ED.as_dict(private=False)}), "not a key for ES256")


def test_the_signature_must_be_of_the_jwk():
    other = ECKey.generate_key("P-256")
    refused(proof(header={"jwk": other.as_dict(private=False)}), "signature")
    head, body, signature = proof().split(".")
    tampered = _b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "htm": "POST"})
    refused(f"{head}.{tampered}.{signature}", "signature")


@pytest.mark.parametrize(("claims", "words"), [
    ({"htm": "POST"}, "'htm'"),
    ({"htm": "get"}, "'htm'"),
    ({"htu": "https://broker.example/api/v1/data/civil_registry/other"}, "'htu'"),
    ({"htu": "https://evil.example/api/v1/data/civil_registry/person"}, "'htu'"),
    ({"htu": 7}, "'htu'"),
    ({"ath": access_token_hash("another-token")}, "'ath'"),
    ({"ath": 1}, "'ath'"),
    ({"jti": ""}, "'jti'"),
    ({"jti": 12}, "'jti'"),
    ({"jti": "j" * 300}, "'jti'"),
    ({"iat": "now"}, "'iat'"),
    ({"iat": True}, "'iat'"),
])
def test_each_claim_wrong_is_refused(claims, words):
    refused(proof(**claims), words)


@pytest.mark.parametrize("offset", [-61, 61, -3600, 3600])
def test_iat_out_of_the_window_is_refused(offset):
    refused(proof(iat=int(time.time()) + offset), "'iat'")


@pytest.mark.parametrize("missing", ["jti", "htm", "htu", "iat", "ath"])
def test_each_claim_missing_is_refused(missing):
    with pytest.raises(InvalidDPoPProofError):
        check(proof(drop=(missing,)))


def test_ath_is_not_asked_at_the_token_endpoint():
    check(proof(drop=("ath",), htm="POST"), method="POST", access_token=None)


def test_the_iat_window_is_the_servers():
    validator = DPoPProofValidator(window=300)
    check(proof(iat=int(time.time()) - 200), validator=validator)


def test_a_proof_is_used_once():
    seen = Seen()
    value = proof()
    check(value, seen=seen)
    refused(value, "used already", seen=seen)


def test_a_refused_proof_does_not_use_its_jti_up():
    seen = Seen()
    jti = str(uuid.uuid4())
    refused(proof(jti=jti, htm="POST"), "'htm'", seen=seen)
    check(proof(jti=jti), seen=seen)


def test_nonces_are_asked_for_with_a_fresh_one_and_accepted():
    nonces = DPoPNonces("secret", slot_seconds=300)
    validator = DPoPProofValidator(nonces=nonces, require_nonce=True)
    with pytest.raises(UseDPoPNonceError) as caught:
        check(proof(), validator=validator)
    assert caught.value.error == "use_dpop_nonce"
    nonce = dict(caught.value.get_headers())["DPoP-Nonce"]
    assert nonces.check(nonce)
    check(proof(nonce=nonce), validator=validator)
    with pytest.raises(UseDPoPNonceError):
        check(proof(nonce="made-up"), validator=validator)


def test_a_nonce_lives_for_its_slot_and_the_next_on_every_node():
    node_a, node_b = DPoPNonces("secret", 300), DPoPNonces("secret", 300)
    now = 1_000_000.0
    nonce = node_a.issue(now)
    assert node_b.check(nonce, now)
    assert node_b.check(nonce, now + 300)
    assert not node_b.check(nonce, now + 600)
    assert not DPoPNonces("another secret", 300).check(nonce, now)
    assert not node_b.check(None, now)


def test_an_optional_nonce_must_still_be_good():
    validator = DPoPProofValidator(nonces=DPoPNonces("secret"))
    check(proof(), validator=validator)
    with pytest.raises(UseDPoPNonceError):
        check(proof(nonce="stale"), validator=validator)


def test_metadata_and_challenge():
    assert metadata() == {"dpop_signing_alg_values_supported": ["ES256", "EdDSA"]}
    assert challenge("invalid_token", 'a "quoted" word') == (
        'DPoP error="invalid_token", error_description="a \\"quoted\\" word", '
        'algs="ES256 EdDSA"')
