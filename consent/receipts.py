"""Signed consent receipts: a JWS a citizen keeps as proof of what they agreed to or withdrew.

The claims follow the Kantara Consent Receipt specification (v1.1) and the fields of
ISO/IEC TS 27560; the signature is Ed25519 (JWS ``EdDSA``) with the broker's published key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from consent.ledger import rfc9162
from consent.ledger.entries import LedgerEvent
from consent.ledger.heads import SignedTreeHead
from consent.ledger.jwk import public_key_from_jwk
from consent.ledger.tree import inclusion_proof
from consent.models import LedgerEntry

RECEIPT_TYPE = "consent-receipt+jwt"
JURISDICTION = "BG"


class ReceiptKind(StrEnum):
    """What a receipt attests (its ``receipt_kind`` claim and the stored ``receipts.kind``)."""

    GRANT = "grant"
    REVOCATION = "revocation"
    EXTENSION = "extension"
    AMENDMENT = "amendment"


@dataclass(frozen=True)
class ReceiptSigner:
    """The key that signs receipts, and the identifier it is published under.

    Tree heads are signed by :class:`consent.ledger.heads.TreeHeadSigner` (the same key).
    """

    key: Ed25519PrivateKey
    key_id: str
    issuer: str

    def sign(self, claims: Mapping[str, Any], typ: str) -> str:
        return jwt.encode(
            dict(claims), self.key, algorithm="EdDSA", headers={"kid": self.key_id, "typ": typ}
        )


def receipt_claims(
    *,
    receipt_id: str,
    kind: ReceiptKind,
    issued_at: datetime,
    consent_id: str,
    subject_pairwise: str,
    controller: str,
    service_client_id: str,
    service_name: str,
    purpose: Mapping[str, str],
    scope: list[dict[str, Any]],
    expires_at: datetime | None,
    ledger_index: int,
    issuer: str,
) -> dict[str, Any]:
    """Build the claims of a receipt; field names and codes only, never data values."""
    return {
        "iss": issuer,
        "iat": int(issued_at.timestamp()),
        "jti": receipt_id,
        "version": "KI-CR-v1.1.0",
        "jurisdiction": JURISDICTION,
        "consentTimestamp": int(issued_at.timestamp()),
        "collectionMethod": "Serdika wallet",
        "consentReceiptID": receipt_id,
        "receipt_kind": str(kind),
        "consent_id": consent_id,
        "piiPrincipalId": subject_pairwise,
        "piiControllers": [{"piiController": controller, "service": service_client_id}],
        "services": [
            {
                "service": service_name,
                "purposes": [
                    {
                        "purpose": purpose["code"],
                        "purposeCategory": [purpose["dpv_iri"]],
                        "legalBasis": purpose["legal_basis"],
                        "consentType": "EXPLICIT",
                        "piiCategory": [
                            f"{item['connector']}.{item['resource']}.{name}"
                            for item in scope
                            for name in item["fields"]
                        ],
                        "termination": expires_at.isoformat() if expires_at else None,
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "withdrawal": f"{issuer}/wallet/consents/{consent_id}",
        "ledger_index": ledger_index,
    }


# --- receipt bundles: the receipt, its ledger entry, an inclusion proof and a signed head ----

BUNDLE_KEYS = ("receipt", "ledger_index", "entry", "inclusion_proof", "tree_head", "jwk")
EVENT_OF_KIND: dict[ReceiptKind, LedgerEvent] = {
    ReceiptKind.GRANT: LedgerEvent.CONSENT_GRANTED,
    ReceiptKind.REVOCATION: LedgerEvent.CONSENT_REVOKED,
    ReceiptKind.EXTENSION: LedgerEvent.CONSENT_EXTENDED,
    ReceiptKind.AMENDMENT: LedgerEvent.CONSENT_AMENDED,
}


def build_bundle(
    *,
    jws: str,
    ledger_index: int,
    entry: Mapping[str, Any],
    audit_path: Sequence[bytes],
    tree_head: Mapping[str, Any],
    jwk: Mapping[str, Any],
) -> dict[str, Any]:
    """Assemble what a citizen downloads: everything :func:`verify_bundle` needs, offline.

    ``tree_head`` is the contract form of the signed head (``SignedTreeHead.as_json()``) the
    ``audit_path`` was computed against; ``jwk`` the broker's public key that signed both.
    """
    return {
        "receipt": jws,
        "ledger_index": ledger_index,
        "entry": dict(entry),
        "inclusion_proof": {
            "leaf_index": ledger_index,
            "tree_size": int(tree_head["tree_size"]),
            "audit_path": [base64.b64encode(node).decode() for node in audit_path],
        },
        "tree_head": dict(tree_head),
        "jwk": dict(jwk),
    }


def _event_of(kind: object) -> str | None:
    """The ledger event a receipt of ``kind`` records; None for a kind no broker issues."""
    try:
        return str(EVENT_OF_KIND[ReceiptKind(str(kind))])
    except ValueError:
        return None


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_bundle(bundle: Any, public_key: Ed25519PublicKey | None = None) -> list[str]:
    """Check a receipt bundle offline; return what is wrong (an empty list: it is valid).

    Checks the receipt's EdDSA signature, that it names the bundled ledger entry (index,
    consent, event), that the entry's leaf hash is included under the signed tree head (RFC
    9162 §2.1.3.2), and the head's signature. Without ``public_key`` the bundle's own JWK is
    used: that proves integrity, and the key id must then be compared with the broker's
    published JWKS to prove origin.
    """
    if not isinstance(bundle, Mapping):
        return ["the file is not a receipt bundle (expected a JSON object)"]
    missing = [key for key in BUNDLE_KEYS if key not in bundle]
    if missing:
        return [f"the bundle lacks {', '.join(missing)}"]
    errors: list[str] = []

    key = public_key
    if key is None:
        try:
            key = public_key_from_jwk(bundle["jwk"])
        except ValueError as exc:
            return [f"the bundle's public key is unusable: {exc}"]

    claims: dict[str, Any] | None = None
    try:
        header = jwt.get_unverified_header(str(bundle["receipt"]))
        claims = jwt.decode(
            str(bundle["receipt"]),
            key,
            algorithms=["EdDSA"],
            options={"verify_aud": False, "require": ["iss", "iat", "jti", "ledger_index"]},
        )
        if header.get("typ") != RECEIPT_TYPE:
            errors.append(f"the receipt's type is {header.get('typ')!r}, not {RECEIPT_TYPE!r}")
    except jwt.InvalidSignatureError:
        errors.append("the receipt's signature is invalid: it was changed or signed by another key")
    except jwt.PyJWTError as exc:
        errors.append(f"the receipt is not a valid signed JWS: {exc}")

    entry = bundle["entry"]
    index = bundle["ledger_index"]
    if not isinstance(entry, Mapping):
        return [*errors, "the bundle's ledger entry is not a JSON object"]
    if not _is_index(index):
        return [*errors, "the bundle's ledger_index is not a non-negative integer"]
    if entry.get("index") != index:
        errors.append(
            f"the ledger entry is entry {entry.get('index')!r}, not the bundle's "
            f"ledger_index {index}"
        )
    if claims is not None:
        if claims.get("ledger_index") != index:
            errors.append(
                f"the receipt names ledger entry {claims.get('ledger_index')!r}, "
                f"the bundle entry {index}"
            )
        if claims.get("consent_id") != entry.get("consent"):
            errors.append(
                f"the receipt is for consent {claims.get('consent_id')!r}, the "
                f"ledger entry for {entry.get('consent')!r}"
            )
        expected = _event_of(claims.get("receipt_kind"))
        if expected is not None and entry.get("event") != expected:
            errors.append(
                f"a {claims.get('receipt_kind')} receipt needs a {expected!r} "
                f"entry, the bundle's is {entry.get('event')!r}"
            )

    try:
        head = SignedTreeHead.from_json(bundle["tree_head"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return [*errors, "the tree head is malformed"]
    if not head.verify(key):
        errors.append(
            f"the tree head's signature (size {head.tree_size}) is invalid: it was "
            "changed or signed by another key"
        )

    proof = bundle["inclusion_proof"]
    try:
        leaf_index = proof["leaf_index"]
        size = proof["tree_size"]
        path = [base64.b64decode(node, validate=True) for node in proof["audit_path"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return [*errors, "the inclusion proof is malformed"]
    if leaf_index != index or size != head.tree_size:
        errors.append(
            f"the inclusion proof is for entry {leaf_index!r} in a tree of "
            f"{size!r}, not entry {index} under the head of size {head.tree_size}"
        )
    else:
        try:
            leaf = rfc9162.leaf_hash(rfc8785.dumps(dict(entry)))
        except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
            return [*errors, f"the ledger entry cannot be canonicalised: {exc}"]
        if not rfc9162.verify_inclusion(leaf, index, size, path, head.root_hash):
            errors.append(
                f"ledger entry {index} is not included under the signed tree head "
                f"of size {size}: the entry or the proof was changed"
            )
    return errors


class ReceiptNotCovered(Exception):
    """The signed head does not reach the receipt's ledger entry yet (sequence, then retry)."""


def bundle_for(
    session: Session,
    *,
    jws: str,
    ledger_index: int,
    head: SignedTreeHead,
    jwk: Mapping[str, Any],
) -> dict[str, Any]:
    """Build the bundle of a stored receipt against ``head``, reading the entry and the proof.

    Use a session that began after ``head`` was committed, so it sees the head's tree nodes.
    """
    if head.tree_size <= ledger_index:
        raise ReceiptNotCovered(
            f"the tree head of size {head.tree_size} does not cover ledger entry {ledger_index}"
        )
    stored = session.get(LedgerEntry, ledger_index)
    if stored is None:
        raise LookupError(f"ledger entry {ledger_index} is missing")
    return build_bundle(
        jws=jws,
        ledger_index=ledger_index,
        entry=json.loads(stored.entry),
        audit_path=inclusion_proof(session, ledger_index, head.tree_size),
        tree_head=head.as_json(),
        jwk=jwk,
    )
