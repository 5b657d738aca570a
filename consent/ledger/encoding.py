"""Hashes and signatures on the wire: standard base64 (docs/architecture.md, "The ledger")."""

from __future__ import annotations

import base64
import binascii


def b64(data: bytes) -> str:
    """Encode a hash or a signature as the ledger's formats carry it."""
    return base64.b64encode(data).decode()


def unb64(value: object) -> bytes | None:
    """Decode a base64 string strictly; None for anything else (malformed input fails closed)."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
