"""Key material: generated under ``var/`` on first run when not supplied, never committed.

Files are created atomically (written aside, then hard-linked into place), so several
gunicorn workers starting at once agree on one key.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.config import ConfigError, Settings
from consent.crypto import Keyring
from consent.ledger.jwk import public_jwk_of
from consent.ledger.jwk import thumbprint as public_key_thumbprint


@dataclass(frozen=True)
class Keys:
    secret_key: str
    signing_key: Ed25519PrivateKey
    key_id: str
    keyring: Keyring

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.signing_key, self.key_id)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PrivateKey, key_id: str | None = None) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(public_jwk_of(key.public_key()))
    if key_id is not None:
        jwk |= {"kid": key_id, "alg": "EdDSA", "use": "sig"}
    return jwk


def thumbprint(key: Ed25519PrivateKey) -> str:
    """RFC 7638 JWK thumbprint of the public key, used as its ``kid``."""
    return public_key_thumbprint(key.public_key())


def _create_once(path: Path, make: Any) -> bytes:
    """Return the file's bytes, creating it with ``make()`` if absent (race-safe, mode 0600)."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
        os.chmod(temp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)
    return path.read_bytes()


def load_keys(settings: Settings) -> Keys:
    var = settings.var_dir
    secret_key = (
        settings.secret_key
        or _create_once(var / "secret_key", lambda: secrets.token_hex(32).encode()).decode().strip()
    )

    pem = _create_once(
        Path(os.environ.get("SERDIKA_SIGNING_KEY_FILE", var / "signing_key.pem")),
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    signing_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ConfigError("SERDIKA_SIGNING_KEY_FILE must hold an Ed25519 private key (PEM)")

    data = json.loads(
        _create_once(
            Path(os.environ.get("SERDIKA_DATA_KEY_FILE", var / "data_keys.json")),
            lambda: json.dumps(
                {
                    "data_key": _b64url(secrets.token_bytes(32)),
                    "index_key": _b64url(secrets.token_bytes(32)),
                }
            ).encode(),
        )
    )
    keyring = Keyring(
        data_key=base64.urlsafe_b64decode(data["data_key"] + "=="),
        index_key=base64.urlsafe_b64decode(data["index_key"] + "=="),
    )
    return Keys(secret_key, signing_key, thumbprint(signing_key), keyring)
