"""Erasing a citizen: consents withdrawn, keys destroyed, the ledger still verifies."""

from __future__ import annotations

import base64
import json

import rfc8785
from sqlalchemy import select

from consent.ledger import rfc9162
from consent.models import Consent, LedgerEntry, Subject
from tests.flows import Flow, create_citizen


def test_erasure_unlinks_the_person_and_keeps_every_proof(app, client, demo, broker):
    citizen = create_citizen(broker, "erase-")
    tokens = Flow(client, demo["services"][0], citizen).tokens()
    with broker.db.sessions() as session:
        subject = session.scalar(select(Subject).where(Subject.username == citizen["username"]))
        pseudonym = session.get(Consent, tokens["consent_id"]).subject_pseudonym
        subject_id = subject.id
    head_before = client.get("/api/v1/audit/tree-head").get_json()

    result = app.test_cli_runner().invoke(
        args=["citizen", "erase", citizen["username"], "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["consents_withdrawn"] == 1

    # The service's token is refused at once.
    read = client.get("/api/v1/data/civil_registry/person",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 401
    with broker.db.sessions() as session:
        subject = session.get(Subject, subject_id)
        assert subject.erased_at is not None
        assert subject.pseudonym_key_ciphertext is None
        assert subject.national_id_ciphertext is None
        assert subject.username != citizen["username"]
        consent = session.get(Consent, tokens["consent_id"])
        assert consent.status == "revoked"
        assert consent.subject_pseudonym == "erased"
        # Nothing left in the store names the pseudonym the ledger used...
        assert session.scalar(select(Consent.id).where(
            Consent.subject_pseudonym == pseudonym)) is None
        # ...while the ledger entries are untouched and still carry it.
        entries = [json.loads(text) for text in session.scalars(
            select(LedgerEntry.entry).where(LedgerEntry.consent_id == tokens["consent_id"]))]
        # (the refused read after erasure is logged under the blanked name)
        assert {entry["subject"] for entry in entries} == {pseudonym, "erased"}
        assert citizen["national_id"] not in "".join(map(json.dumps, entries))

    # Signing in no longer works; the old and new heads are consistent; proofs verify.
    page = client.get("/wallet/sign-in")
    assert page.status_code == 200
    head_after = client.get("/api/v1/audit/tree-head").get_json()
    assert head_after["tree_size"] > head_before["tree_size"]
    auditor = demo["auditors"][0]
    raw = base64.b64encode(f"{auditor['client_id']}:{auditor['client_secret']}".encode())
    token = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": "Basic " + raw.decode()}).get_json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    proof = client.get(f"/api/v1/audit/proofs/consistency?first={head_before['tree_size']}"
                       f"&second={head_after['tree_size']}", headers=auth).get_json()
    assert rfc9162.verify_consistency(
        head_before["tree_size"], head_after["tree_size"],
        base64.b64decode(head_before["root_hash"]), base64.b64decode(head_after["root_hash"]),
        [base64.b64decode(h) for h in proof["consistency_path"]])
    history = client.get(f"/api/v1/audit/consents/{tokens['consent_id']}",
                         headers=auth).get_json()
    root = base64.b64decode(history["tree_head"]["root_hash"])
    for item in history["entries"]:
        p = item["inclusion_proof"]
        assert rfc9162.verify_inclusion(rfc9162.leaf_hash(rfc8785.dumps(item["entry"])),
                                       item["index"], p["tree_size"],
                                       [base64.b64decode(h) for h in p["audit_path"]], root)


def test_erasing_an_unknown_citizen_is_a_clear_error(app):
    result = app.test_cli_runner().invoke(args=["citizen", "erase", "nobody-here", "--yes"])
    assert result.exit_code != 0
    assert "no citizen" in result.output
