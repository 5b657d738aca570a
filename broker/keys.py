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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.config import ConfigError, Settings
from consent.crypto import Keyring
from consent.ledger.jwk import public_jwk_of, public_key_from_jwk
from consent.ledger.jwk import thumbprint as public_key_thumbprint


@dataclass(frozen=True)
class Keys:
    secret_key: str
    signing_key: Ed25519PrivateKey
    key_id: str
    keyring: Keyring
    #: Public JWKs of the signing keys rotated out (``serdika keys rotate``): receipts and
    #: tree heads they signed are checked for as long as the ledger lives, so they stay.
    retired: tuple[dict[str, Any], ...] = ()

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.signing_key, self.key_id)

    def jwks(self) -> dict[str, Any]:
        """The broker's JWKS: the current signing key first, then the retired ones."""
        return {"keys": [self.public_jwk(), *self.retired]}

    def jwk_of(self, key_id: str) -> dict[str, Any] | None:
        """The public JWK of the signing key ``key_id``, current or retired; None if unknown."""
        if key_id == self.key_id:
            return self.public_jwk()
        return next((dict(jwk) for jwk in self.retired if jwk.get("kid") == key_id), None)

    def verification_keys(self) -> dict[str | None, Ed25519PublicKey]:
        """Every public signing key by its ``kid``: the current one and the retired ones."""
        keys: dict[str | None, Ed25519PublicKey] = {
            jwk["kid"]: public_key_from_jwk(jwk) for jwk in self.retired
        }
        keys[self.key_id] = self.signing_key.public_key()
        return keys


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


def _new_signing_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _signing_key_file(settings: Settings) -> Path:
    return Path(os.environ.get("SERDIKA_SIGNING_KEY_FILE", settings.var_dir / "signing_key.pem"))


def _retired_file(settings: Settings) -> Path:
    """Beside the signing key: the public keys it replaced."""
    signing = _signing_key_file(settings)
    return signing.with_name(signing.name + ".retired.json")


def _data_key_file(settings: Settings) -> Path:
    return Path(os.environ.get("SERDIKA_DATA_KEY_FILE", settings.var_dir / "data_keys.json"))


def _signing_key(pem: bytes) -> Ed25519PrivateKey:
    signing_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ConfigError("SERDIKA_SIGNING_KEY_FILE must hold an Ed25519 private key (PEM)")
    return signing_key


def _key_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "==")


def load_keys(settings: Settings) -> Keys:
    var = settings.var_dir
    secret_key = (
        settings.secret_key
        or _create_once(var / "secret_key", lambda: secrets.token_hex(32).encode()).decode().strip()
    )
    signing_key = _signing_key(_create_once(_signing_key_file(settings), _new_signing_pem))
    retired_file = _retired_file(settings)
    retired = json.loads(retired_file.read_bytes())["keys"] if retired_file.exists() else []

    data = json.loads(
        _create_once(
            _data_key_file(settings),
            lambda: json.dumps(
                {
                    "data_key": _b64url(secrets.token_bytes(32)),
                    "index_key": _b64url(secrets.token_bytes(32)),
                }
            ).encode(),
        )
    )
    keyring = Keyring(
        data_key=_key_bytes(data["data_key"]),
        index_key=_key_bytes(data["index_key"]),
        data_key_version=int(data.get("version", 0)),
        previous_data_keys={
            int(version): _key_bytes(key) for version, key in data.get("previous", {}).items()
        },
    )
    return Keys(secret_key, signing_key, thumbprint(signing_key), keyring, tuple(retired))


def _replace_file(path: Path, content: bytes) -> None:
    """Write ``content`` aside, then move it over ``path`` in one step (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def rotate_signing_key(settings: Settings) -> tuple[str, str]:
    """Make a new Ed25519 signing key current; return the old and the new ``kid``.

    The old public key is kept first (in the retired file beside the key), then the new key
    replaces the old: at no moment is a key that signed something lost. Running workers take
    the new key when they restart (gunicorn reloads them on SIGHUP).
    """
    keys = load_keys(settings)
    retired = [
        *keys.retired,
        {**keys.public_jwk(), "retired_at": datetime.now(UTC).isoformat(timespec="seconds")},
    ]
    _replace_file(_retired_file(settings), json.dumps({"keys": retired}, indent=1).encode())
    new_pem = _new_signing_pem()
    _replace_file(_signing_key_file(settings), new_pem)
    return keys.key_id, thumbprint(_signing_key(new_pem))


def rotate_data_key(settings: Settings) -> int:
    """Make a new data key current, keeping the older ones to open what they sealed; return
    the new version (``consent.key_rotation.reseal`` then seals everything under it)."""
    path = _data_key_file(settings)
    load_keys(settings)  # creates the file on a new installation
    data = json.loads(path.read_bytes())
    version = int(data.get("version", 0))
    if version >= 255:
        raise ConfigError("the data key has been rotated 255 times; no version is left")
    previous = {**data.get("previous", {}), str(version): data["data_key"]}
    rotated = {
        "data_key": _b64url(secrets.token_bytes(32)),
        "index_key": data["index_key"],
        "version": version + 1,
        "previous": previous,
    }
    _replace_file(path, json.dumps(rotated, indent=1).encode())
    return version + 1
