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
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


@dataclass(frozen=True)
class Keyring:
    """Symmetric keys of the domain.

    ``data_key`` encrypts national identifiers and per-subject pseudonym keys (AES-256-GCM);
    ``index_key`` derives blind indexes, so a national id can be looked up without decryption.
    """

    data_key: bytes
    index_key: bytes

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (the row it belongs to)."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.data_key).encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` produced for the same ``context``."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return AESGCM(self.data_key).decrypt(nonce, ciphertext, context)

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
