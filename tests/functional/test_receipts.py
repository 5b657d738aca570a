"""Receipt bundles: downloaded from the wallet, checked offline by ``serdika receipt verify``.

The bundle carries the receipt (a JWS), its ledger entry, an inclusion proof against a
signed tree head, and the broker's public JWK; the checks need neither the app nor the
database, so the command runs as a subprocess in an empty directory with an empty
environment.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.keys import public_jwk
from broker.receipt_cli import receipt_group
from consent.ledger.heads import SignedTreeHead, TreeHeadSigner, sign_head
from consent.receipts import RECEIPT_TYPE, ReceiptSigner, verify_bundle
from consent.types import utcnow
from tests.e2e.harness import serdika_command
from tests.flows import CITIZEN_PASSWORD, Flow, create_citizen, csrf_token

PASSWORD = CITIZEN_PASSWORD
LINK = r'href="(/wallet/consents/{consent}/receipts/(rct_[^"]+))"'


@pytest.fixture
def wallet(client: Any) -> Any:
    """A test client from its own address, so per-address sign-in limits stay per test."""
    client.environ_base["REMOTE_ADDR"] = "10.{}.{}.{}".format(
        *(secrets.randbelow(256) for _ in range(3))
    )
    return client


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    """A fresh citizen, so lock-outs and consents of one test touch no other."""
    return create_citizen(broker, "r_")


def _links(wallet: Any, consent_id: str) -> tuple[str, list[str]]:
    page = wallet.get(f"/wallet/consents/{consent_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, [url for url, _ in re.findall(LINK.format(consent=consent_id), html)]


def _download(wallet: Any, url: str, kind: str) -> dict[str, Any]:
    response = wallet.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    receipt_id = url.rsplit("/", 1)[1]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="serdika-receipt-{kind}-{receipt_id}.json"'
    )
    bundle: dict[str, Any] = response.get_json()
    return bundle


def _offline_env(home: Path) -> dict[str, str]:
    """No SERDIKA_* setting, no database URL: only what a shell needs."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def _verify_offline(
    tmp_path: Path, bundle: dict[str, Any], name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    where = tmp_path / f"offline-{name}"
    where.mkdir()
    path = where / f"{name}.json"
    path.write_text(json.dumps(bundle))
    return subprocess.run(
        [serdika_command(), "receipt", "verify", str(path), *extra],
        cwd=where,
        env=_offline_env(where),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_grant_and_revocation_receipts_download_and_verify_offline(
    wallet, broker, demo, citizen, tmp_path
):
    tokens = Flow(wallet, demo["services"][0], citizen).tokens()
    consent_id = tokens["consent_id"]
    html, links = _links(wallet, consent_id)
    assert len(links) == 1
    grant = _download(wallet, links[0], "grant")
    assert set(grant) == {"receipt", "ledger_index", "entry", "inclusion_proof", "tree_head", "jwk"}
    claims = jwt.decode(
        grant["receipt"], broker.keys.signing_key.public_key(), algorithms=["EdDSA"]
    )
    assert jwt.get_unverified_header(grant["receipt"])["typ"] == RECEIPT_TYPE
    assert claims["consent_id"] == consent_id and claims["receipt_kind"] == "grant"
    assert grant["entry"] == {
        **grant["entry"],
        "index": grant["ledger_index"],
        "event": "consent:granted",
        "consent": consent_id,
    }
    proof = grant["inclusion_proof"]
    assert proof["leaf_index"] == grant["ledger_index"] < proof["tree_size"]
    assert proof["tree_size"] == grant["tree_head"]["tree_size"]
    assert grant["jwk"] == broker.keys.public_jwk()
    assert verify_bundle(grant) == []

    done = _verify_offline(tmp_path, grant, "grant")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK") and consent_id in done.stdout

    revoked = wallet.post(
        f"/wallet/consents/{consent_id}/revoke", data={"csrf_token": csrf_token(html)}
    )
    assert revoked.status_code == 302
    _, links = _links(wallet, consent_id)
    assert len(links) == 2
    kinds = {}
    for url in links:
        bundle = wallet.get(url).get_json()
        kinds[
            jwt.decode(bundle["receipt"], options={"verify_signature": False})["receipt_kind"]
        ] = url
    revocation = _download(wallet, kinds["revocation"], "revocation")
    assert revocation["entry"]["event"] == "consent:revoked"
    assert revocation["ledger_index"] > grant["ledger_index"]
    assert verify_bundle(revocation) == []

    # With the broker's published key set as the trust anchor (a JWKS file).
    jwks = wallet.get("/oauth2/jwks").get_json()
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    done = _verify_offline(
        tmp_path, revocation, "revocation", "--public-key", str(tmp_path / "jwks.json")
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "given public key" in done.stdout


def test_the_module_form_runs_without_the_app(wallet, demo, citizen, tmp_path):
    """``python -m broker.receipt_cli`` loads no app: it writes nothing where it runs."""
    tokens = Flow(wallet, demo["services"][0], citizen).tokens()
    _, links = _links(wallet, tokens["consent_id"])
    where = tmp_path / "empty"
    where.mkdir()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_download(wallet, links[0], "grant")))
    done = subprocess.run(
        [sys.executable, "-m", "broker.receipt_cli", "verify", str(path)],
        cwd=where,
        env=_offline_env(where),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK")
    assert list(where.iterdir()) == []


def test_serdika_receipt_verify_writes_nothing_where_it_runs(wallet, demo, citizen, tmp_path):
    tokens = Flow(wallet, demo["services"][0], citizen).tokens()
    _, links = _links(wallet, tokens["consent_id"])
    done = _verify_offline(tmp_path, _download(wallet, links[0], "grant"), "quiet")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "offline-quiet").iterdir()) == ["quiet.json"]


# --- tampering ---------------------------------------------------------------------------------


@pytest.fixture
def bundle(wallet, demo, citizen) -> dict[str, Any]:
    tokens = Flow(wallet, demo["services"][0], citizen).tokens()
    _, links = _links(wallet, tokens["consent_id"])
    return _download(wallet, links[0], "grant")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _changed_claim(bundle: dict[str, Any]) -> None:
    header, payload, signature = bundle["receipt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["services"][0]["purposes"][0]["piiCategory"] = ["civil_registry.person.everything"]
    bundle["receipt"] = ".".join((header, _b64url(json.dumps(claims).encode()), signature))


def _changed_entry(bundle: dict[str, Any]) -> None:
    bundle["entry"]["scope"] = ["civil_registry.person.given_name"]


def _wrong_proof(bundle: dict[str, Any]) -> None:
    path = bundle["inclusion_proof"]["audit_path"]
    assert path, "a tree of two or more entries has a non-empty audit path"
    raw = bytearray(base64.b64decode(path[0]))
    raw[0] ^= 1
    path[0] = base64.b64encode(bytes(raw)).decode()


def _forged_head(bundle: dict[str, Any]) -> None:
    # A head over a made-up root, keeping the real signature.
    bundle["tree_head"]["root_hash"] = base64.b64encode(
        hashlib.sha256(b"another tree").digest()
    ).decode()


def _other_index(bundle: dict[str, Any]) -> None:
    bundle["ledger_index"] -= 1
    bundle["entry"]["index"] -= 1
    bundle["inclusion_proof"]["leaf_index"] -= 1


TAMPERING = {
    "changed claim": (_changed_claim, ["the receipt's signature is invalid"]),
    "changed entry": (_changed_entry, ["is not included under the signed tree head"]),
    "wrong proof": (_wrong_proof, ["is not included under the signed tree head"]),
    "forged head": (_forged_head, ["the tree head's signature", "is not included"]),
    "receipt of another entry": (_other_index, ["the receipt names ledger entry"]),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_tampered_bundle_fails_with_a_clear_message(bundle, tmp_path, case):
    tamper, expected = TAMPERING[case]
    assert verify_bundle(bundle) == []
    tampered = copy.deepcopy(bundle)
    tamper(tampered)
    errors = verify_bundle(tampered)
    for message in expected:
        assert any(message in error for error in errors), errors

    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    result = CliRunner().invoke(receipt_group, ["verify", str(path)])
    assert result.exit_code == 1
    assert "OK" not in result.stdout
    assert result.stderr.startswith("FAILED: ")
    assert expected[0] in result.stderr


def test_the_wrong_key_fails(bundle, tmp_path):
    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.json").write_text(json.dumps(public_jwk(other, "other")))
    result = CliRunner().invoke(
        receipt_group,
        ["verify", str(tmp_path / "bundle.json"), "--public-key", str(tmp_path / "other.json")],
    )
    assert result.exit_code == 1 and "cannot read the receipt bundle" in result.stderr
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    result = CliRunner().invoke(
        receipt_group,
        ["verify", str(tmp_path / "bundle.json"), "--public-key", str(tmp_path / "other.json")],
    )
    assert result.exit_code == 1
    assert "FAILED: the receipt's signature is invalid" in result.stderr
    assert "FAILED: the tree head's signature" in result.stderr

    swapped = {**bundle, "jwk": public_jwk(other, "other")}
    errors = verify_bundle(swapped)
    assert any("receipt's signature is invalid" in error for error in errors)
    assert any("tree head's signature" in error for error in errors)


def test_a_bundle_resigned_by_a_forger_passes_only_without_the_brokers_key(bundle, broker):
    """The bundled key proves integrity; the broker's published key proves origin."""
    forger = Ed25519PrivateKey.generate()
    signer = ReceiptSigner(forger, "forger", "http://localhost")
    claims = jwt.decode(bundle["receipt"], options={"verify_signature": False})
    forged = copy.deepcopy(bundle)
    forged["receipt"] = signer.sign({**claims, "piiPrincipalId": "someone else"}, RECEIPT_TYPE)
    head = SignedTreeHead.from_json(bundle["tree_head"])
    forged["tree_head"] = sign_head(
        TreeHeadSigner(forger, "forger"), head.tree_size, head.root_hash, utcnow()
    ).as_json()
    forged["jwk"] = public_jwk(forger, "forger")
    assert verify_bundle(forged) == []
    errors = verify_bundle(forged, broker.keys.signing_key.public_key())
    assert any("receipt's signature is invalid" in error for error in errors)
    assert any("tree head's signature" in error for error in errors)


@pytest.mark.parametrize(
    "broken",
    [
        [],
        "not json",
        {"receipt": "x"},
        {
            "receipt": "x.y.z",
            "ledger_index": 0,
            "entry": {},
            "inclusion_proof": {},
            "tree_head": {},
            "jwk": {"kty": "RSA"},
        },
    ],
)
def test_malformed_bundles_are_refused_not_crashed_on(broken):
    errors = verify_bundle(broken)
    assert errors and all(isinstance(error, str) for error in errors)


def test_a_receipt_not_yet_in_the_log_gets_a_clear_page(wallet, demo, citizen, monkeypatch):
    """When no signed head covers the receipt yet, the citizen is told to retry, in Bulgarian."""
    import consent.receipt_downloads
    from wallet_ui.ports import EXTENSION

    tokens = Flow(wallet, demo["services"][0], citizen).tokens()
    _, links = _links(wallet, tokens["consent_id"])
    extensions = wallet.application.extensions
    monkeypatch.setitem(
        extensions, EXTENSION, dataclasses.replace(extensions[EXTENSION], current_head=lambda: None)
    )
    monkeypatch.setattr(consent.receipt_downloads.time, "sleep", lambda seconds: None)
    response = wallet.get(links[0])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    page = response.get_data(as_text=True)
    assert "Разписката Ви се вписва в публичния регистър" in page
    assert "Още не е готово" in page
