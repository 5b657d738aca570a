"""Offline verification of a JSON Lines export, built here without a database."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.keys import public_jwk, thumbprint
from consent.ledger import rfc9162
from consent.ledger.heads import TreeHeadSigner, sign_head
from consent.ledger.offline import verify_export
from consent.types import utcnow


def _export(entries: list[dict], *, pretty_entry: int | None = None) -> list[str]:
    key = Ed25519PrivateKey.generate()
    signer = TreeHeadSigner(key, thumbprint(key))
    compact = rfc9162.CompactRange()
    lines = []
    for index, entry in enumerate(entries):
        canonical = rfc8785.dumps(entry)
        leaf = rfc9162.leaf_hash(canonical)
        compact.append(leaf)
        text = canonical.decode()
        if index == pretty_entry:
            text = json.dumps(entry, indent=2)  # the same value, not in RFC 8785 form
        lines.append(
            f'{{"type":"entry","index":{index},'
            f'"leaf_hash":"{base64.b64encode(leaf).decode()}","entry":{text}}}'
        )
    head = sign_head(signer, compact.size, compact.root(), utcnow())
    lines.append(
        json.dumps(
            {
                "type": "tree_head",
                "tree_head": {**head.as_json(), "jwk": public_jwk(key, head.key_id)},
            }
        )
    )
    return lines


def _entries(count: int) -> list[dict]:
    return [
        {
            "v": 1,
            "index": i,
            "event": "data:read",
            "service": "s",
            "subject": "p" * 8,
            "fields": ["given_name"],
            "time": "2026-11-26T10:00:00Z",
        }
        for i in range(count)
    ]


def test_an_export_verifies():
    report = verify_export(_export(_entries(37)))
    assert report.ok and report.entries == 37


def test_an_entry_reformatted_but_equal_still_verifies():
    """The fast path hashes the exported text; a reformatted entry takes the RFC 8785 path."""
    report = verify_export(_export(_entries(20), pretty_entry=7))
    assert report.ok


def test_a_changed_entry_is_named():
    lines = _export(_entries(20))
    lines[5] = lines[5].replace('"given_name"', '"family_name"')
    report = verify_export(lines)
    assert not report.ok
    assert report.first_bad_entry == 5


def test_offline_verification_loads_no_sqlalchemy():
    """An auditor's machine needs the specification, the keys and the file: no database."""
    code = "import consent.ledger.offline, sys; assert 'sqlalchemy' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_forged_key_under_the_brokers_kid_is_refused():
    """A forger signs a head with a key of their own and ships it under the broker's kid."""
    broker_key, forger_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    compact = rfc9162.CompactRange()
    entry = rfc8785.dumps(_entries(1)[0])
    compact.append(rfc9162.leaf_hash(entry))
    broker_kid = thumbprint(broker_key)
    head = sign_head(TreeHeadSigner(forger_key, broker_kid), 1, compact.root(), utcnow())
    lines = [
        f'{{"type":"entry","index":0,"entry":{entry.decode()}}}',
        json.dumps({"type": "tree_head",
                    "tree_head": {**head.as_json(), "jwk": public_jwk(forger_key, broker_kid)}}),
    ]
    report = verify_export(lines)
    assert not report.ok
    assert any("RFC 7638 thumbprint" in problem.message for problem in report.problems), (
        report.problems)


def test_the_thumbprint_is_rfc_7638s():
    # RFC 8037 Appendix A.3: the thumbprint of the Ed25519 key of A.2.
    from consent.ledger.jwk import public_key_from_jwk
    from consent.ledger.jwk import thumbprint as key_thumbprint

    key = public_key_from_jwk({"kty": "OKP", "crv": "Ed25519",
                               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    assert key_thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_an_unpinned_key_is_said_plainly():
    report = verify_export(_export(_entries(2)))
    assert report.ok
    assert any(note.startswith("the key was not pinned") for note in report.notes)
