"""The auditor's API: signed heads, checkpoints, proofs that verify, streamed entries."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent.ledger import rfc9162
from consent.ledger.checkpoint import note_key_id, origin
from consent.ledger.heads import SignedTreeHead
from tests.flows import Flow, basic


def _auditor_token(client: Any, demo: dict[str, Any], scope: str = "audit:read") -> str:
    auditor = demo["auditors"][0]
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(auditor["client_id"], auditor["client_secret"]),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _public_key(client: Any, key_id: str) -> Ed25519PublicKey:
    [jwk] = [key for key in client.get("/oauth2/jwks").get_json()["keys"] if key["kid"] == key_id]
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    return Ed25519PublicKey.from_public_bytes(raw)


@pytest.fixture
def consent_tokens(client, demo):
    return Flow(client, demo["services"][0], demo["citizens"][1]).tokens()


def test_tree_head_is_signed_over_its_canonical_fields(client, demo, consent_tokens):
    head = client.get("/api/v1/audit/tree-head")
    assert head.status_code == 200
    body = head.get_json()
    assert set(body) == {"tree_size", "root_hash", "timestamp", "key_id", "signature"}
    assert body["tree_size"] >= 2  # requested and granted, at least
    signed = {k: body[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
    key = _public_key(client, body["key_id"])
    key.verify(base64.b64decode(body["signature"]), rfc8785.dumps(signed))
    assert SignedTreeHead.from_json(body).verify(key)
    tampered = dict(body, tree_size=body["tree_size"] - 1)
    assert not SignedTreeHead.from_json(tampered).verify(key)


def test_every_entry_is_included_under_the_head(client, demo, consent_tokens):
    token = _auditor_token(client, demo)
    head = client.get("/api/v1/audit/tree-head").get_json()
    size, root = head["tree_size"], base64.b64decode(head["root_hash"])
    lines = client.get(f"/api/v1/audit/entries?end={size}", headers=_auth(token))
    assert lines.status_code == 200
    assert lines.mimetype == "application/jsonl"
    records = [json.loads(line) for line in lines.get_data(as_text=True).splitlines()]
    assert [r["index"] for r in records] == list(range(size))
    for record in records[-5:]:
        proof = client.get(
            f"/api/v1/audit/proofs/inclusion?index={record['index']}&tree_size={size}",
            headers=_auth(token),
        ).get_json()
        leaf = rfc9162.leaf_hash(rfc8785.dumps(record["entry"]))
        path = [base64.b64decode(h) for h in proof["audit_path"]]
        assert rfc9162.verify_inclusion(leaf, record["index"], size, path, root)


def test_consistency_between_two_heads(client, demo):
    token = _auditor_token(client, demo)
    first = client.get("/api/v1/audit/tree-head").get_json()
    Flow(
        client,
        demo["services"][1],
        demo["citizens"][2],
        details=None,
        scope="civil_registry.person:read",
    ).tokens()
    second = client.get("/api/v1/audit/tree-head").get_json()
    assert second["tree_size"] > first["tree_size"]
    proof = client.get(
        f"/api/v1/audit/proofs/consistency?first={first['tree_size']}&second={second['tree_size']}",
        headers=_auth(token),
    ).get_json()
    assert rfc9162.verify_consistency(
        first["tree_size"],
        second["tree_size"],
        base64.b64decode(first["root_hash"]),
        base64.b64decode(second["root_hash"]),
        [base64.b64decode(h) for h in proof["consistency_path"]],
    )


def test_checkpoint_is_a_signed_note(client, broker, consent_tokens):
    head = client.get("/api/v1/audit/tree-head").get_json()
    note = client.get("/api/v1/audit/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    text = note.get_data(as_text=True)
    body, _, signatures = text.partition("\n\n")
    log_origin, size, root = body.split("\n")
    assert log_origin == origin(broker.settings.issuer)
    assert int(size) >= head["tree_size"]
    name_line = signatures.strip().split(" ")
    assert name_line[0] == "\u2014" and name_line[1] == log_origin
    blob = base64.b64decode(name_line[2])
    assert blob[:4] == note_key_id(log_origin, broker.keys.signing_key)
    broker.keys.signing_key.public_key().verify(blob[4:], (body + "\n").encode())
    assert base64.b64decode(root)


def test_consent_history_with_proofs(client, demo, consent_tokens):
    token = _auditor_token(client, demo)
    history = client.get(
        f"/api/v1/audit/consents/{consent_tokens['consent_id']}", headers=_auth(token)
    )
    assert history.status_code == 200
    body = history.get_json()
    events = [item["entry"]["event"] for item in body["entries"]]
    assert events[:2] == ["consent:requested", "consent:granted"]
    root = base64.b64decode(body["tree_head"]["root_hash"])
    for item in body["entries"]:
        proof = item["inclusion_proof"]
        assert rfc9162.verify_inclusion(
            rfc9162.leaf_hash(rfc8785.dumps(item["entry"])),
            item["index"],
            proof["tree_size"],
            [base64.b64decode(h) for h in proof["audit_path"]],
            root,
        )
    missing = client.get("/api/v1/audit/consents/cns_nope", headers=_auth(token))
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"


def test_entries_filter_by_service_and_event(client, demo, consent_tokens):
    token = _auditor_token(client, demo)
    service = demo["services"][0]["client_id"]
    lines = (
        client.get(
            f"/api/v1/audit/entries?service={service}&event=consent:granted", headers=_auth(token)
        )
        .get_data(as_text=True)
        .splitlines()
    )
    assert lines
    for line in lines:
        entry = json.loads(line)["entry"]
        assert entry["service"] == service and entry["event"] == "consent:granted"
    purpose = (
        client.get("/api/v1/audit/entries?purpose=kindergarten_enrolment", headers=_auth(token))
        .get_data(as_text=True)
        .splitlines()
    )
    assert all(json.loads(line)["entry"]["purpose"] == "kindergarten_enrolment" for line in purpose)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit/proofs/inclusion?index=0&tree_size=1",
        "/api/v1/audit/proofs/consistency?first=1&second=1",
        "/api/v1/audit/entries",
        "/api/v1/audit/consents/cns_x",
    ],
)
def test_audit_data_needs_an_auditor_token(client, demo, consent_tokens, path):
    assert client.get(path).status_code == 401
    service_token = consent_tokens["access_token"]
    refused = client.get(path, headers=_auth(service_token))
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    "query",
    [
        "index=5&tree_size=999999999",
        "index=7&tree_size=3",
        "index=-1&tree_size=3",
        "index=x&tree_size=3",
        "tree_size=3",
        "index=0&tree_size=0",
        "index=0&tree_size=99999999999999999999999",
    ],
)
def test_bad_inclusion_arguments_are_400(client, demo, consent_tokens, query):
    token = _auditor_token(client, demo)
    response = client.get(f"/api/v1/audit/proofs/inclusion?{query}", headers=_auth(token))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query", ["first=5&second=2", "first=0&second=2", "first=1&second=999999999", "first=&second="]
)
def test_bad_consistency_arguments_are_400(client, demo, consent_tokens, query):
    token = _auditor_token(client, demo)
    response = client.get(f"/api/v1/audit/proofs/consistency?{query}", headers=_auth(token))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
