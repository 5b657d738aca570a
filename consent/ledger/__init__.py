"""The consent ledger: an append-only log of events, hashed into an RFC 9162 Merkle tree.

docs/architecture.md, "The ledger". The specification apart from storage, one idea a module:

* :mod:`~consent.ledger.rfc9162`: the tree's hashes and proofs, and their verification (pure).
* :mod:`~consent.ledger.entries`: the entries, their canonical bytes, and the append.
* :mod:`~consent.ledger.tree`: the stored tree, integrated by the sequencer; proofs from it.
* :mod:`~consent.ledger.heads`: signed tree heads and the key that signs them (pure).
* :mod:`~consent.ledger.sequencing`: the sequencer's step, the stored heads.
* :mod:`~consent.ledger.checkpoint`: the head as a C2SP checkpoint (pure).
* :mod:`~consent.ledger.jwk`: the public key a head is checked with (pure).
* :mod:`~consent.ledger.writers`: the export formats and the streaming export.
* :mod:`~consent.ledger.offline`: verifying an export with no database (no SQLAlchemy).
* :mod:`~consent.ledger.live`: verifying the live store.

This module imports nothing, so that ``consent.ledger.offline`` loads no SQLAlchemy.
"""
