"""Encryption of identifiers and keyed pseudonyms.

The broker loads the key material (from files under ``var/`` or the environment) and hands a
:class:`Keyring` to the domain; nothing here reads files or the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
#: A sealed value begins with this tag and the data key's version (one byte), so the key can
#: rotate: values sealed before versions existed begin with their nonce, and open with the
#: first key (version 0).
_VERSIONED = b"sk\x01"


@dataclass(frozen=True)
class Keyring:
    """Symmetric keys of the domain.

    ``data_key`` encrypts national identifiers, e-mail addresses and per-subject pseudonym keys
    (AES-256-GCM), as version ``data_key_version``; ``previous_data_keys`` (version -> key) open
    what older versions sealed until it is sealed again (:func:`reseal`). ``index_key`` derives
    blind indexes, so a national id can be looked up without decryption; it does not rotate.
    """

    data_key: bytes
    index_key: bytes
    data_key_version: int = 0
    previous_data_keys: Mapping[int, bytes] = field(default_factory=dict)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (the row it belongs to)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + AESGCM(self.data_key).encrypt(nonce, plaintext, context)
        if self.data_key_version == 0:
            return sealed
        return _VERSIONED + bytes([self.data_key_version]) + sealed

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` produced for the same ``context``, with any key version."""
        version, body = self._split(sealed)
        nonce, ciphertext = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
        try:
            return AESGCM(self._key(version)).decrypt(nonce, ciphertext, context)
        except (InvalidTag, KeyError):
            if version == 0 or body is sealed:
                raise
            # A value sealed before versions whose nonce happens to begin like the tag.
            nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
            return AESGCM(self._key(0)).decrypt(nonce, ciphertext, context)

    def is_current(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is under the current data key (else :func:`reseal` renews it)."""
        return self._split(sealed)[0] == self.data_key_version

    def _split(self, sealed: bytes) -> tuple[int, bytes]:
        if sealed.startswith(_VERSIONED) and len(sealed) > len(_VERSIONED):
            return sealed[len(_VERSIONED)], sealed[len(_VERSIONED) + 1 :]
        return 0, sealed

    def _key(self, version: int) -> bytes:
        if version == self.data_key_version:
            return self.data_key
        return self.previous_data_keys[version]

    def blind_index(self, value: str) -> bytes:
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).digest()


def subject_context(subject_id: int) -> bytes:
    """The context a subject's sealed values are bound to: their row, so none moves to another."""
    return b"subject:%d" % subject_id


def open_national_id(keyring: Keyring, sealed: bytes, subject_id: int) -> str:
    """Open a subject's sealed national identifier."""
    return keyring.open(sealed, subject_context(subject_id)).decode()


def new_subject_key() -> bytes:
    return secrets.token_bytes(32)


def _keyed(subject_key: bytes, label: bytes) -> bytes:
    return hmac.new(subject_key, label, hashlib.sha256).digest()


def pairwise_subject(subject_key: bytes, client_id: str) -> str:
    """The subject identifier one service sees: stable for it, unlinkable across services."""
    digest = _keyed(subject_key, b"pairwise\x00" + client_id.encode())
    return "sub_" + base64.b32encode(digest[:20]).decode().lower().rstrip("=")


def ledger_pseudonym(subject_key: bytes) -> str:
    """The subject as the ledger names it; meaningless once the subject key is destroyed."""
    return _keyed(subject_key, b"ledger\x00").hex()


def token_hash(token: str) -> bytes:
    """Hash a high-entropy bearer secret (token, code, client secret) for storage.

    These secrets are random 256-bit values, so a fast hash suffices; passwords use argon2id.
    """
    return hashlib.sha256(token.encode()).digest()


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)
