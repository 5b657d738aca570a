"""Signed consent receipts: a JWS a citizen keeps as proof of what they agreed to or withdrew.

The claims follow the Kantara Consent Receipt specification (v1.1) and the fields of
ISO/IEC TS 27560; the signature is Ed25519 (JWS ``EdDSA``) with the broker's published key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

RECEIPT_TYPE = "consent-receipt+jwt"
JURISDICTION = "BG"


@dataclass(frozen=True)
class ReceiptSigner:
    """The key that signs receipts and tree heads, and the identifier it is published under."""

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
    kind: str,
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
        "receipt_kind": kind,
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
