"""Tests of the RFC 9162 Merkle tree (consent/ledger/rfc9162.py).

The reference implementation below transcribes RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and
§2.1.4.1 (PROOF/SUBPROOF) literally over lists of entries, independent of the module's
node-store algorithms, so the two can be compared.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.ledger import entries as ledger_entries
from consent.ledger import rfc9162
from consent.ledger.rfc9162 import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    NodeKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_completed_by_append,
    perfect_subtrees,
    root_from_inclusion,
    root_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Reference implementation, straight from the RFC text -------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + d[0])
    k = _k(n)
    return _sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_nodes(d: list[bytes]) -> dict[NodeKey, bytes]:
    """Every complete perfect subtree of the tree over d, by (level, index)."""
    nodes: dict[NodeKey, bytes] = {}
    level = 0
    while 1 << level <= len(d):
        width = 1 << level
        for i in range(len(d) // width):
            nodes[(level, i)] = ref_mth(d[i * width : (i + 1) * width])
        level += 1
    return nodes


# --- Helpers -----------------------------------------------------------------------------------


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    return [salt + b"entry-%d" % i for i in range(n)]


def store_of(d: list[bytes]) -> MemoryNodeStore:
    return MemoryNodeStore(leaf_hash(x) for x in d)


class CountingReader:
    """Wrap a reader, counting get_nodes calls and keys read."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.calls = 0
        self.keys = 0

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.calls += 1
        self.keys += len(keys)
        return self.inner.get_nodes(keys)

    def reset(self) -> None:
        self.calls = self.keys = 0


def flip(proof: list[bytes], item: int, byte: int) -> list[bytes]:
    changed = bytearray(proof[item])
    changed[byte] ^= 0x01
    return [*proof[:item], bytes(changed), *proof[item + 1 :]]


SMALL_SIZES = [0, 1, 2, 3, 4, 5, 7, 8]
BIG = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- Hashing primitives -------------------------------------------------------------------------


def test_hash_primitives_use_rfc_9162_domain_separation() -> None:
    assert leaf_hash(b"abc") == _sha256(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert bytes.fromhex(empty) == EMPTY_ROOT


def test_leaf_hash_matches_the_ledger_rows() -> None:
    row = ledger_entries.entry_row(
        7,
        ledger_entries.LedgerEvent.CONSENT_GRANTED,
        at=datetime(2025, 1, 2, tzinfo=UTC),
        service="s",
    )
    assert row["leaf_hash"] == leaf_hash(row["entry"].encode())
    assert ledger_entries.leaf_hash(b"x") == leaf_hash(b"x")


# --- Hand-computed trees ------------------------------------------------------------------------


def test_rfc_9162_example_tree_of_seven() -> None:
    """The tree, proofs and consistency proofs of RFC 9162 §2.1.5, built by hand."""
    d = entries(7)
    a, b, c, dd, e, f, d6 = (leaf_hash(x) for x in d)
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    j = d6
    k, l_ = node_hash(g, h), node_hash(i, j)
    root = node_hash(k, l_)
    hash0 = node_hash(g, c)  # 3 leaves
    hash1 = k  # 4 leaves
    hash2 = node_hash(k, i)  # 6 leaves

    store = store_of(d)
    assert root_hash(store, 7) == root == ref_mth(d)
    assert root_hash(store, 3) == hash0
    assert root_hash(store, 4) == hash1
    assert root_hash(store, 6) == hash2

    assert inclusion_proof(store, 0, 7) == [b, h, l_]
    assert inclusion_proof(store, 3, 7) == [c, g, l_]
    assert inclusion_proof(store, 4, 7) == [f, j, k]
    assert inclusion_proof(store, 6, 7) == [i, k]
    assert consistency_proof(store, 3, 7) == [c, dd, g, l_]
    assert consistency_proof(store, 4, 7) == [l_]
    assert consistency_proof(store, 6, 7) == [i, j, k]

    for index, leaf in enumerate((a, b, c, dd, e, f, d6)):
        assert verify_inclusion(leaf, index, 7, inclusion_proof(store, index, 7), root)
    for first, first_root in ((3, hash0), (4, hash1), (6, hash2)):
        assert verify_consistency(first, 7, first_root, root, consistency_proof(store, first, 7))


def test_hand_computed_roots() -> None:
    L = [leaf_hash(x) for x in entries(8)]
    store = store_of(entries(8))
    assert root_hash(store, 0) == EMPTY_ROOT
    assert root_hash(store, 1) == L[0]
    assert root_hash(store, 2) == node_hash(L[0], L[1])
    assert root_hash(store, 3) == node_hash(node_hash(L[0], L[1]), L[2])
    n01, n23, n45, n67 = (node_hash(L[i], L[i + 1]) for i in (0, 2, 4, 6))
    assert root_hash(store, 4) == node_hash(n01, n23)
    assert root_hash(store, 5) == node_hash(node_hash(n01, n23), L[4])
    assert root_hash(store, 7) == node_hash(node_hash(n01, n23), node_hash(n45, L[6]))
    assert root_hash(store, 8) == node_hash(node_hash(n01, n23), node_hash(n45, n67))


@pytest.mark.parametrize("size", SMALL_SIZES)
def test_small_trees_match_the_reference(size: int) -> None:
    d = entries(size)
    store = store_of(d)
    assert store.nodes == ref_nodes(d)
    assert root_hash(store, size) == ref_mth(d)
    root = ref_mth(d)
    for index in range(size):
        proof = inclusion_proof(store, index, size)
        assert proof == ref_path(index, d)
        assert verify_inclusion(leaf_hash(d[index]), index, size, proof, root)
    for first in range(1, size + 1):
        proof = consistency_proof(store, first, size)
        assert proof == ref_proof(first, d)
        assert verify_consistency(first, size, ref_mth(d[:first]), root, proof)


# --- Perfect subtrees and range hashes ----------------------------------------------------------


def test_perfect_subtrees_examples() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(5, 5) == []
    assert perfect_subtrees(0, 1) == [(0, 0)]
    assert perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_subtrees(0, 8) == [(3, 0)]
    assert perfect_subtrees(3, 9) == [(0, 3), (2, 1), (0, 8)]
    assert perfect_subtrees(6, 13) == [(1, 3), (2, 2), (0, 12)]
    with pytest.raises(ValueError):
        perfect_subtrees(4, 3)
    with pytest.raises(ValueError):
        perfect_subtrees(-1, 3)


@given(st.integers(0, 2000), st.integers(0, 2000))
def test_perfect_subtrees_tile_the_range(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    keys = perfect_subtrees(start, end)
    position = start
    for level, index in keys:
        assert index * (1 << level) == position  # aligned and contiguous
        position += 1 << level
    assert position == end
    # Maximal: ascending then descending sizes, each size at most twice, so O(log n) parts.
    assert len(keys) <= 2 * max(1, (end - start).bit_length())
    for (level1, index1), (level2, _) in itertools.pairwise(keys):
        # Two equal neighbours that form one parent would have been merged.
        assert not (level1 == level2 and index1 % 2 == 0)


def test_subtree_hash_is_the_right_to_left_fold_and_matches_mth() -> None:
    d = entries(64)
    store = store_of(d)
    checked = 0
    for start in range(65):
        for end in range(start + 1, 65):
            width = end - start
            if start % (1 << (width - 1).bit_length()):
                with pytest.raises(ValueError):
                    subtree_hash(store, start, end)
                continue
            assert subtree_hash(store, start, end) == ref_mth(d[start:end])
            checked += 1
    assert checked == 256  # every node-aligned range of a 64-leaf tree
    assert subtree_hash(store, 5, 5) == EMPTY_ROOT
    # Why the fold direction matters: a left fold of the parts of D[0:7] is not its MTH.
    parts = [store.nodes[key] for key in perfect_subtrees(0, 7)]
    assert node_hash(node_hash(parts[0], parts[1]), parts[2]) != ref_mth(d[:7])
    assert node_hash(parts[0], node_hash(parts[1], parts[2])) == ref_mth(d[:7])


# --- Appends, compact range, node reads ---------------------------------------------------------


def test_nodes_completed_by_append_builds_the_reference_tree_with_one_call() -> None:
    d = entries(130)
    nodes: dict[NodeKey, bytes] = {}
    for index, x in enumerate(d):
        calls: list[list[NodeKey]] = []

        def siblings(
            keys: list[NodeKey], calls: list[list[NodeKey]] = calls
        ) -> Mapping[NodeKey, bytes]:
            calls.append(list(keys))
            return {key: nodes[key] for key in keys}

        completed = nodes_completed_by_append(index, leaf_hash(x), siblings)
        trailing_ones = (index ^ (index + 1)).bit_length() - 1
        assert len(completed) == trailing_ones + 1
        assert completed[0] == ((0, index), leaf_hash(x))
        if index % 2:
            assert len(calls) == 1
            assert len(calls[0]) == trailing_ones
        else:
            assert calls == []  # an even leaf completes no parent: no read at all
        for key, value in completed:
            assert key not in nodes  # perfect nodes are written once, never updated
            nodes[key] = value
        if index + 1 in SMALL_SIZES or index + 1 in (16, 33, 64, 100, 130):
            assert nodes == ref_nodes(d[: index + 1])
    assert nodes == ref_nodes(d)


def test_compact_range_root_equals_root_hash_for_every_size_up_to_300() -> None:
    d = entries(300)
    store = store_of(d)
    compact = CompactRange()
    assert compact.size == 0
    assert compact.root() == EMPTY_ROOT == root_hash(store, 0)
    rebuilt: dict[NodeKey, bytes] = {}
    for size, x in enumerate(d, start=1):
        rebuilt.update(compact.append(leaf_hash(x)))
        assert compact.size == size
        assert compact.root() == root_hash(store, size)
    assert rebuilt == store.nodes
    assert compact.root() == ref_mth(d)


def test_compact_range_resumes_from_a_store() -> None:
    d = entries(77)
    store = store_of(d)
    resumed = CompactRange.from_reader(store, 50)
    assert resumed.size == 50
    assert resumed.root() == root_hash(store, 50)
    for x in d[50:]:
        resumed.append(leaf_hash(x))
    assert resumed.root() == root_hash(store, 77)
    with pytest.raises(ValueError):
        CompactRange().append(b"short")


def test_node_reads_are_logarithmic_and_batched() -> None:
    n = 1000
    reader = CountingReader(store_of(entries(n)))
    bound = 4 * math.log2(n)
    most = 0
    for index in range(n):
        reader.reset()
        inclusion_proof(reader, index, n)
        assert reader.calls == 1
        assert reader.keys < bound
        most = max(most, reader.keys)
    for first in range(1, n + 1):
        reader.reset()
        consistency_proof(reader, first, n)
        assert reader.calls <= 1
        assert reader.keys < bound
        most = max(most, reader.keys)
    for size in (1, 2, 3, 511, 512, 513, 999, 1000):
        reader.reset()
        root_hash(reader, size)
        assert reader.calls == 1
        assert reader.keys <= math.log2(size) + 1
    assert most <= 2 * math.log2(n) + 2


def test_proofs_reject_impossible_arguments() -> None:
    store = store_of(entries(5))
    for index, size in ((5, 5), (-1, 5), (0, 0)):
        with pytest.raises(ValueError):
            inclusion_proof(store, index, size)
    with pytest.raises(ValueError):
        consistency_proof(store, 4, 3)
    with pytest.raises(ValueError):
        consistency_proof(store, -1, 3)
    assert consistency_proof(store, 0, 5) == []
    assert consistency_proof(store, 5, 5) == []
    with pytest.raises(LookupError):
        root_hash(store, 6)  # nodes beyond the store's size do not exist


# --- Verification: negative cases -------------------------------------------------------------


def test_verify_inclusion_rejects_invalid_arguments() -> None:
    d = entries(5)
    store = store_of(d)
    root = root_hash(store, 5)
    leaf = leaf_hash(d[2])
    proof = inclusion_proof(store, 2, 5)
    assert verify_inclusion(leaf, 2, 5, proof, root)
    assert not verify_inclusion(leaf, 5, 5, proof, root)  # index >= size
    assert not verify_inclusion(leaf, -1, 5, proof, root)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 2, 5, [*proof, proof[0]], root)  # too long
    assert not verify_inclusion(leaf, 2, 5, proof[:-1], root)  # too short
    assert not verify_inclusion(leaf, 2, 5, [], root)
    assert not verify_inclusion(leaf, 2, 5, [proof[0][:31], *proof[1:]], root)
    assert not verify_inclusion(leaf[:31], 2, 5, proof, root)
    assert not verify_inclusion(leaf, 2, 5, proof, root + b"\x00")
    assert not verify_inclusion(leaf, 2, 5, [None, *proof], root)  # type: ignore[list-item]
    assert not verify_inclusion(leaf, 2, 5, None, root)  # type: ignore[arg-type]
    assert not verify_inclusion(d[2], 2, 5, proof, root)  # entry bytes, not its leaf hash
    # A single-leaf tree: empty proof, the root is the leaf hash.
    assert verify_inclusion(leaf_hash(d[0]), 0, 1, [], leaf_hash(d[0]))
    assert not verify_inclusion(leaf_hash(d[0]), 0, 1, [leaf], leaf_hash(d[0]))


def test_root_from_inclusion_leads_to_the_root_or_to_none() -> None:
    """The root a path leads to: what verify_inclusion compares and a filtered export groups by."""
    d = entries(7)
    store = store_of(d)
    for size in range(1, 8):
        for index in range(size):
            proof = inclusion_proof(store, index, size)
            assert root_from_inclusion(leaf_hash(d[index]), index, size, proof) == root_hash(
                store, size
            )
    proof = inclusion_proof(store, 2, 7)
    assert root_from_inclusion(leaf_hash(d[2]), 2, 7, [*proof, proof[0]]) is None  # too long
    assert root_from_inclusion(leaf_hash(d[2]), 2, 7, proof[:-1]) is None  # too short
    assert root_from_inclusion(leaf_hash(d[2]), 7, 7, proof) is None
    assert root_from_inclusion(leaf_hash(d[2]), 2, 7, [proof[0][:31], *proof[1:]]) is None


def test_verify_consistency_rejects_invalid_arguments() -> None:
    d = entries(9)
    store = store_of(d)
    roots = [root_hash(store, n) for n in range(10)]
    proof = consistency_proof(store, 3, 9)
    assert verify_consistency(3, 9, roots[3], roots[9], proof)
    assert not verify_consistency(9, 3, roots[9], roots[3], proof)  # first > second
    assert not verify_consistency(-1, 9, roots[3], roots[9], proof)
    assert not verify_consistency(3, 9, roots[3], roots[9], [*proof, proof[0]])
    assert not verify_consistency(3, 9, roots[3], roots[9], proof[:-1])
    assert not verify_consistency(3, 9, roots[3], roots[9], proof[1:])
    assert not verify_consistency(3, 9, roots[3], roots[9], [])
    assert not verify_consistency(3, 9, roots[3][:31], roots[9], proof)
    assert not verify_consistency(3, 9, roots[3], roots[9], [b"", *proof[1:]])
    assert not verify_consistency(3, 9, roots[3], roots[9], None)  # type: ignore[arg-type]
    # Equal sizes: empty proof and equal roots.
    assert verify_consistency(9, 9, roots[9], roots[9], [])
    assert not verify_consistency(9, 9, roots[9], roots[8], [])
    assert not verify_consistency(9, 9, roots[9], roots[9], [roots[9]])
    # The empty tree is a prefix of every tree, with the empty root and an empty proof.
    assert verify_consistency(0, 9, EMPTY_ROOT, roots[9], [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 9, roots[1], roots[9], [])
    assert not verify_consistency(0, 9, EMPTY_ROOT, roots[9], [roots[9]])
    # A power-of-two first tree: its root is left out of the proof.
    assert consistency_proof(store, 4, 9) == [
        store.nodes[(2, 1)],
        leaf_hash(d[8]),
    ]
    assert verify_consistency(4, 9, roots[4], roots[9], consistency_proof(store, 4, 9))
    assert not verify_consistency(4, 9, roots[5], roots[9], consistency_proof(store, 4, 9))


# --- Hypothesis: every size up to 300 -----------------------------------------------------------


EXTRA = 5


@st.composite
def tree(draw: st.DrawFn) -> tuple[list[bytes], MemoryNodeStore]:
    """Draw the entries of a tree of 1..300 leaves, and a store holding EXTRA more.

    The extra leaves give the store the roots of larger trees, for wrong-size checks.
    """
    size = draw(st.integers(1, 300), label="size")
    salt = draw(st.binary(min_size=0, max_size=16), label="salt")
    d = entries(size + EXTRA, salt)
    return d[:size], store_of(d)


@BIG
@given(tree(), st.data())
def test_inclusion_proofs_verify_and_tampering_fails(
    t: tuple[list[bytes], MemoryNodeStore], data: st.DataObject
) -> None:
    d, store = t
    size = len(d)
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf = leaf_hash(d[index])
    root = root_hash(store, size)
    proof = inclusion_proof(store, index, size)
    assert proof == ref_path(index, d)
    assert verify_inclusion(leaf, index, size, proof, root)

    if proof:
        item = data.draw(st.integers(0, len(proof) - 1), label="item")
        byte = data.draw(st.integers(0, 31), label="byte")
        assert not verify_inclusion(leaf, index, size, flip(proof, item, byte), root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)

    other = data.draw(st.integers(0, size).filter(lambda i: i != index), label="wrong index")
    assert not verify_inclusion(leaf, other, size, proof, root)

    # A wrong size with the root of that size: the audit path does not lead there.
    wrong_size = data.draw(
        st.integers(index + 1, size + EXTRA).filter(lambda n: n != size), label="wrong size"
    )
    assert not verify_inclusion(leaf, index, wrong_size, proof, root_hash(store, wrong_size))

    wrong_root = flip([root], 0, data.draw(st.integers(0, 31), label="root byte"))[0]
    assert not verify_inclusion(leaf, index, size, proof, wrong_root)
    if size > 1:
        neighbour = d[index - 1] if index else d[1]
        assert not verify_inclusion(leaf_hash(neighbour), index, size, proof, root)


@BIG
@given(tree(), st.data())
def test_consistency_proofs_verify_and_tampering_fails(
    t: tuple[list[bytes], MemoryNodeStore], data: st.DataObject
) -> None:
    d, store = t
    size = len(d)
    second = data.draw(st.integers(1, size), label="second")
    first = data.draw(st.integers(0, second), label="first")
    first_root = root_hash(store, first)
    second_root = root_hash(store, second)
    proof = consistency_proof(store, first, second)
    assert proof == ([] if first == 0 else ref_proof(first, d[:second]))
    assert verify_consistency(first, second, first_root, second_root, proof)

    if 0 < first < second:
        item = data.draw(st.integers(0, len(proof) - 1), label="item")
        byte = data.draw(st.integers(0, 31), label="byte")
        assert not verify_consistency(
            first, second, first_root, second_root, flip(proof, item, byte)
        )
        assert not verify_consistency(first, second, first_root, second_root, proof[:-1])
        assert not verify_consistency(first, second, first_root, second_root, proof[1:])
        assert not verify_consistency(first, second, first_root, second_root, [*proof, second_root])
        # Wrong sizes, each with the root that size really has.
        other_first = data.draw(
            st.integers(1, second).filter(lambda m: m != first), label="wrong first"
        )
        assert not verify_consistency(
            other_first, second, root_hash(store, other_first), second_root, proof
        )
        other_second = data.draw(
            st.integers(first, size + EXTRA).filter(lambda n: n != second), label="wrong second"
        )
        assert not verify_consistency(
            first, other_second, first_root, root_hash(store, other_second), proof
        )

    if first < second:
        # Roots that do not belong together.
        byte = data.draw(st.integers(0, 31), label="root byte")
        assert not verify_consistency(
            first, second, flip([first_root], 0, byte)[0], second_root, proof
        )
        assert not verify_consistency(first, second, second_root, second_root, proof)
        assert not verify_consistency(second, first, second_root, first_root, proof)
        if first:
            # (The empty tree is a prefix of any tree, so only a non-empty one pins it.)
            assert not verify_consistency(
                first, second, first_root, flip([second_root], 0, byte)[0], proof
            )


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.data())
def test_compact_range_agrees_with_any_store(size: int, data: st.DataObject) -> None:
    salt = data.draw(st.binary(max_size=8), label="salt")
    d = entries(size, salt)
    compact = CompactRange()
    for x in d:
        compact.append(leaf_hash(x))
    assert compact.root() == root_hash(store_of(d), size) == ref_mth(d)


# --- Cross-check with pymerkle ------------------------------------------------------------------


def _pymerkle_tree(d: list[bytes]) -> Any:
    import pymerkle  # a dev dependency: the cross-check must run, never be skipped

    # Security mode (the default, disable_security=False) prefixes 0x00 / 0x01 as RFC 9162 does.
    t = pymerkle.InmemoryTree(algorithm="sha256")
    for x in d:
        t.append_entry(x)
    return t


def test_pymerkle_hashes_like_rfc_9162() -> None:
    t = _pymerkle_tree([b"a", b"b"])
    assert t.security
    assert t.get_leaf(1) == leaf_hash(b"a")  # pymerkle counts leaves from one
    assert t.get_root() == node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    assert t.get_root(0) == EMPTY_ROOT


def test_roots_and_inclusion_proofs_match_pymerkle() -> None:
    d = entries(140, b"pm-")
    t = _pymerkle_tree(d)
    store = store_of(d)
    for size in range(0, 141):
        assert t.get_root(size) == root_hash(store, size)
    for size in (*range(1, 40), 63, 64, 65, 100, 127, 128, 129, 140):
        for index in range(size):
            proof = t.prove_inclusion(index + 1, size)
            # pymerkle's path starts with the leaf hash itself, then the RFC audit path.
            assert proof.path[0] == leaf_hash(d[index])
            assert proof.path[1:] == inclusion_proof(store, index, size)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=120), st.data())
def test_pymerkle_agrees_on_generated_leaves(d: list[bytes], data: st.DataObject) -> None:
    t = _pymerkle_tree(d)
    store = store_of(d)
    size = data.draw(st.integers(1, len(d)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = t.get_root(size)
    assert root == root_hash(store, size)
    path = t.prove_inclusion(index + 1, size).path[1:]
    assert path == inclusion_proof(store, index, size)
    assert verify_inclusion(leaf_hash(d[index]), index, size, path, root)


def test_module_has_no_storage_dependencies() -> None:
    source = Path(rfc9162.__file__).read_text(encoding="utf-8")
    for name in ("sqlalchemy", "flask"):
        assert f"import {name}" not in source and f"from {name}" not in source
