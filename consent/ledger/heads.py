"""Signed tree heads (docs/architecture.md, "The ledger"), and the key that signs them.

A head is ``{"tree_size", "root_hash", "timestamp", "key_id", "signature"}`` with hashes and
signatures in base64; the Ed25519 signature covers the RFC 8785 canonical JSON of the other
four fields. Pure: no database, so offline verification can read and check heads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int
    key_id: str
    signature: bytes

    def signed_fields(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def as_json(self) -> dict[str, Any]:
        """The contract form: hashes and signatures base64, the signature over the rest."""
        return {**self.signed_fields(), "signature": base64.b64encode(self.signature).decode()}

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, rfc8785.dumps(self.signed_fields()))
        except Exception:  # cryptography raises InvalidSignature; anything else is bad too
            return False
        return True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedTreeHead:
        return cls(
            tree_size=int(data["tree_size"]),
            root_hash=base64.b64decode(data["root_hash"], validate=True),
            timestamp=int(data["timestamp"]),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(data["signature"], validate=True),
        )


@dataclass(frozen=True)
class TreeHeadSigner:
    """The broker's Ed25519 key that signs tree heads (and their checkpoints), and its key id.

    The key id is the one the key is published under in the broker's JWKS.
    """

    key: Ed25519PrivateKey
    key_id: str


def sign_head(signer: TreeHeadSigner, size: int, root: bytes, at: datetime) -> SignedTreeHead:
    """Sign the RFC 8785 form of the head's fields with the broker's Ed25519 key."""
    unsigned = SignedTreeHead(size, root, int(at.timestamp() * 1000), signer.key_id, b"")
    signature = signer.key.sign(rfc8785.dumps(unsigned.signed_fields()))
    return SignedTreeHead(size, root, unsigned.timestamp, signer.key_id, signature)


def read_head(data: object) -> SignedTreeHead | None:
    """Read a head in its contract form; None when ``data`` is not one."""
    if not isinstance(data, Mapping):
        return None
    try:
        return SignedTreeHead.from_json(data)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


def load_head(data: object) -> SignedTreeHead:
    """Read a tree head in its contract form (as ``GET /api/v1/audit/tree-head`` returns)."""
    head = read_head(data)
    if head is None:
        raise ValueError(
            "not a signed tree head (tree_size, root_hash, timestamp, key_id, signature)"
        )
    return head
