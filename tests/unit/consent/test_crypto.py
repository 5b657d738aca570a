"""Encryption of identifiers and keyed pseudonyms."""

from __future__ import annotations

import secrets

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.crypto import (
    Keyring,
    ledger_pseudonym,
    new_secret,
    new_subject_key,
    pairwise_subject,
    token_hash,
)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(data_key=secrets.token_bytes(32), index_key=secrets.token_bytes(32))


def test_seal_open_round_trip(keyring):
    sealed = keyring.seal(b"7523169263", b"subject:1")
    assert b"7523169263" not in sealed
    assert keyring.open(sealed, b"subject:1") == b"7523169263"
    assert keyring.seal(b"7523169263", b"subject:1") != sealed  # a fresh nonce each time


def test_wrong_context_fails(keyring):
    sealed = keyring.seal(b"7523169263", b"subject:1")
    with pytest.raises(InvalidTag):
        keyring.open(sealed, b"subject:2")


def test_wrong_key_or_tampering_fails(keyring):
    sealed = keyring.seal(b"secret", b"ctx")
    other = Keyring(data_key=secrets.token_bytes(32), index_key=keyring.index_key)
    with pytest.raises(InvalidTag):
        other.open(sealed, b"ctx")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidTag):
        keyring.open(tampered, b"ctx")


def test_blind_index_is_keyed_and_stable(keyring):
    assert keyring.blind_index("7523169263") == keyring.blind_index("7523169263")
    assert keyring.blind_index("7523169263") != keyring.blind_index("7523169264")
    other = Keyring(data_key=keyring.data_key, index_key=secrets.token_bytes(32))
    assert other.blind_index("7523169263") != keyring.blind_index("7523169263")


def test_pairwise_ids_stable_per_client_and_different_across_clients():
    key = new_subject_key()
    first = pairwise_subject(key, "kindergartens")
    assert first == pairwise_subject(key, "kindergartens")
    assert first.startswith("sub_") and len(first) <= 64
    assert first != pairwise_subject(key, "transport-card")
    assert first != pairwise_subject(new_subject_key(), "kindergartens")
    # No ambiguity from concatenation: client ids are separated from the label.
    assert pairwise_subject(key, "ab") != pairwise_subject(key, "a")


def test_ledger_pseudonym_differs_from_every_pairwise_id():
    key = new_subject_key()
    pseudonym = ledger_pseudonym(key)
    assert pseudonym == ledger_pseudonym(key) and len(pseudonym) == 64
    assert pseudonym != ledger_pseudonym(new_subject_key())
    assert pseudonym not in pairwise_subject(key, "kindergartens")


def test_token_hash_and_new_secret():
    token = new_secret("at_")
    assert token.startswith("at_") and len(token) > 40
    assert token_hash(token) == token_hash(token) and len(token_hash(token)) == 32
    assert new_secret("at_") != token


# --- data key rotation --------------------------------------------------------------------


def _rotated(keyring: Keyring, version: int = 1) -> Keyring:
    return Keyring(b"n" * 32, keyring.index_key, data_key_version=version,
                   previous_data_keys={0: keyring.data_key})


def test_a_rotated_keyring_opens_what_the_old_key_sealed_and_seals_with_the_new():
    old = Keyring(b"o" * 32, b"i" * 32)
    sealed_before = old.seal(b"8803144710", b"subject:1")
    new = _rotated(old)
    assert new.open(sealed_before, b"subject:1") == b"8803144710"
    assert not new.is_current(sealed_before)
    sealed_now = new.seal(b"8803144710", b"subject:1")
    assert new.is_current(sealed_now) and sealed_now[:4] == b"sk\x01\x01"
    assert new.open(sealed_now, b"subject:1") == b"8803144710"
    with pytest.raises(InvalidTag):
        old.open(sealed_now, b"subject:1")  # the old key alone cannot open the new


def test_a_value_sealed_before_versions_whose_nonce_looks_versioned_still_opens():
    old = Keyring(b"o" * 32, b"i" * 32)
    nonce = b"sk\x01\x01" + b"\x00" * 8
    legacy = nonce + AESGCM(old.data_key).encrypt(nonce, b"secret", b"ctx")
    assert _rotated(old).open(legacy, b"ctx") == b"secret"


def test_the_context_still_binds_a_rotated_value():
    new = _rotated(Keyring(b"o" * 32, b"i" * 32))
    with pytest.raises(InvalidTag):
        new.open(new.seal(b"x", b"subject:1"), b"subject:2")
