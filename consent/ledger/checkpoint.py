"""The tree head as a C2SP tlog-checkpoint in a signed note, for transparency-log tooling.

Format (c2sp.org/tlog-checkpoint, c2sp.org/signed-note): the origin line, the tree size, the
base64 root hash, a blank line, then ``— <key name> <base64(key id || signature)>`` where the
Ed25519 signature covers the text before the blank line and the key id is the first four
bytes of SHA-256(key name || "\\n" || 0x01 || public key).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.ledger.heads import SignedTreeHead, TreeHeadSigner

ED25519_NOTE_ALGORITHM = b"\x01"


def origin(issuer: str) -> str:
    """The log's origin line: the issuer without its scheme, plus ``/ledger``."""
    parts = urlsplit(issuer)
    return f"{parts.netloc}{parts.path.rstrip('/')}/ledger"


def note_key_id(name: str, key: Ed25519PrivateKey) -> bytes:
    """The signed note's key id: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(name.encode() + b"\n" + ED25519_NOTE_ALGORITHM + public).digest()[:4]


def checkpoint_body(log_origin: str, head: SignedTreeHead) -> str:
    """The checkpoint's text: origin, tree size, base64 root hash, one a line."""
    return f"{log_origin}\n{head.tree_size}\n{base64.b64encode(head.root_hash).decode()}\n"


def checkpoint_note(issuer: str, signer: TreeHeadSigner, head: SignedTreeHead) -> str:
    """Return ``head`` as a checkpoint in a signed note, signed by the tree heads' key."""
    name = origin(issuer)
    body = checkpoint_body(name, head)
    signature = signer.key.sign(body.encode())
    token = base64.b64encode(note_key_id(name, signer.key) + signature).decode()
    return f"{body}\n\u2014 {name} {token}\n"
