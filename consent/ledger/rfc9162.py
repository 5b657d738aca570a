"""RFC 9162 (Certificate Transparency 2.0) Merkle tree over the ledger's leaf hashes.

The one home of the specification: the leaf and node hashes, proofs and their verification.
Pure computation: no database, no Flask. Storage is abstracted as *perfect subtree nodes*. A
node key ``(level, index)`` names the hash of the perfect subtree of ``2**level`` leaves
covering leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are leaf hashes
(RFC 9162 §2.1.1). A perfect subtree never changes once its last leaf is appended, so a store
only ever inserts nodes and any tree size's hashes and proofs can be computed from them with
O(log n) reads.

Every subtree the RFC's recursion (split at the largest power of two smaller than n) ever
visits in a tree of size n starts at a multiple of the smallest power of two not below its
width. Such a range decomposes into perfect subtrees of strictly decreasing size, and its MTH
is their *right-to-left* fold: ``h = last; for part in reversed(earlier): h = node_hash(part,
h)``. A left fold would be wrong for any non-perfect range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

NodeKey = tuple[int, int]
HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the empty tree."""


def leaf_hash(data: bytes) -> bytes:
    """Return MTH({d}) = SHA-256(0x00 || d) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class NodeReader(Protocol):
    """Read access to stored perfect subtree hashes."""

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the hashes of ``keys``; all exist whenever the tree size covers them."""
        ...


def _split(n: int) -> int:
    """Return k, the largest power of two smaller than ``n`` (n >= 2), per RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_tree_range(start: int, end: int) -> bool:
    """Tell whether [start, end) is a subtree the RFC recursion can visit.

    That holds when ``start`` is a multiple of the smallest power of two >= the width: then the
    range's own largest-power-of-two splits fall on absolute node boundaries.
    """
    width = end - start
    return width >= 1 and start % (1 << (width - 1).bit_length()) == 0


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Decompose the leaf range [start, end) into maximal aligned perfect subtrees.

    Return their node keys, left to right. For ``start == 0`` this is one subtree per set bit
    of ``end``, largest first.
    """
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    keys: list[NodeKey] = []
    while start < end:
        # The largest block aligned at ``start`` is its lowest set bit (any size at 0) ...
        size = start & -start if start else 1 << ((end - start).bit_length() - 1)
        # ... shrunk until it fits the range.
        while start + size > end:
            size >>= 1
        level = size.bit_length() - 1
        keys.append((level, start >> level))
        start += size
    return keys


def _fold(parts: Sequence[bytes]) -> bytes:
    """Combine a tree range's perfect parts from the right (RFC 9162 §2.1.1 split order)."""
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def _fetch(reader: NodeReader, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
    """Read ``keys`` in one call and fail loudly if the store lacks any of them."""
    if not keys:
        return {}
    nodes = reader.get_nodes(keys)
    missing = [key for key in keys if key not in nodes]
    if missing:
        raise LookupError(f"node store lacks nodes {missing[:5]}")
    return nodes


def _hash_ranges(reader: NodeReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """Return MTH of each tree range, reading every needed node in a single ``get_nodes``."""
    decomposed = [perfect_subtrees(start, end) for start, end in ranges]
    # dict.fromkeys de-duplicates while keeping a stable order for readers that care.
    keys = list(dict.fromkeys(key for parts in decomposed for key in parts))
    nodes = _fetch(reader, keys)
    return [_fold([nodes[key] for key in parts]) for parts in decomposed]


def subtree_hash(reader: NodeReader, start: int, end: int) -> bytes:
    """Return MTH(D[start:end]) (RFC 9162 §2.1.1) from stored perfect nodes.

    The range must be one the RFC recursion visits (``start`` a multiple of the smallest power
    of two >= ``end - start``; any ``start == 0`` range qualifies): those are the only ranges
    whose hash follows from stored nodes in O(log n) reads. Other ranges raise ``ValueError``
    rather than silently reading every leaf. An empty range hashes to ``EMPTY_ROOT``.
    """
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    if start == end:
        return EMPTY_ROOT
    if not _is_tree_range(start, end):
        raise ValueError(f"[{start}, {end}) is not a subtree of any RFC 9162 tree")
    return _hash_ranges(reader, [(start, end)])[0]


def root_hash(reader: NodeReader, size: int) -> bytes:
    """Return the tree head hash MTH(D[0:size]) (RFC 9162 §2.1.1); ``EMPTY_ROOT`` for 0."""
    return subtree_hash(reader, 0, size)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTHs form PATH(index, D[0:size]), leaf side first.

    Iterative form of RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when
    m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]).
    """
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    # Collected root first; the RFC lists the sibling nearest the leaf first.
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTHs form PROOF(first, D[0:second]) (0 < first <= second).

    Iterative form of RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b): {} when m = n and b, {MTH(D[n])}
    when m = n and not b; otherwise SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) when m <= k, else
    SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
    """
    ranges: list[tuple[int, int]] = []
    start, end = 0, second
    # b stays true while ``first`` is the left edge of the current subtree: then the verifier
    # already knows that subtree's hash (it is first_hash) and the RFC leaves it out.
    known = True
    while first != end:
        mid = start + _split(end - start)
        if first <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
            known = False
    if not known:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """Return PATH(index, D[0:size]), the audit path of leaf ``index`` (RFC 9162 §2.1.3.1).

    Reads at most about 2 * log2(size) nodes, all in one ``get_nodes`` call.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    return _hash_ranges(reader, _inclusion_ranges(index, size))


def consistency_proof(reader: NodeReader, first: int, second: int) -> list[bytes]:
    """Return PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1).

    Empty when ``first`` is 0 (the empty tree is a prefix of every tree) or equals ``second``.
    Reads at most about 2 * log2(second) nodes, all in one ``get_nodes`` call.
    """
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0:
        return []
    return _hash_ranges(reader, _consistency_ranges(first, second))


def _hash_list(*hashes: object) -> list[bytes] | None:
    """Return ``hashes`` if each is a 32-byte digest, else None: malformed input fails closed."""
    checked = [h for h in hashes if isinstance(h, bytes) and len(h) == HASH_SIZE]
    return checked if len(checked) == len(hashes) else None


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """Return the root that audit path ``path`` of leaf hash ``leaf`` leads to, else None.

    The root computation of RFC 9162 §2.1.3.2 for entry ``index`` of a tree of ``size``: a
    filtered export proves each entry this way, grouping the entries by the root they reach.
    Any invalid argument (a proof too long or too short, a hash that is not 32 bytes) yields
    None, never an exception.
    """
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
        return None
    checked = _hash_list(leaf, *path) if isinstance(path, Sequence) else None
    if checked is None:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in checked[1:]:
        if sn == 0:
            return None  # proof longer than the tree is tall
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # fn is a right-edge node with no right sibling: skip levels until it has one.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that leaf hash ``leaf`` is entry ``index`` of the tree of ``size`` with ``root``.

    The algorithm of RFC 9162 §2.1.3.2. ``leaf`` is the leaf *hash* (SHA-256(0x00 || entry)),
    as stored in the ledger. Any invalid argument yields False, never an exception.
    """
    if _hash_list(root) is None:
        return False
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree (``second``, ``second_root``) extends (``first``, ``first_root``).

    The algorithm of RFC 9162 §2.1.4.2, plus the two cases it leaves to the caller: equal
    sizes need an empty proof and equal roots, and the empty tree (``first`` 0, root
    ``EMPTY_ROOT``) is a prefix of every tree with an empty proof. Any invalid argument yields
    False, never an exception.
    """
    if not (isinstance(first, int) and isinstance(second, int) and 0 <= first <= second):
        return False
    checked = _hash_list(first_root, second_root, *proof) if isinstance(proof, Sequence) else None
    if checked is None:
        return False
    if first == second:
        return len(checked) == 2 and first_root == second_root
    if first == 0:
        return len(checked) == 2 and first_root == EMPTY_ROOT
    # 1. An empty path proves nothing between different sizes.
    path = checked[2:]
    if not path:
        return False
    # 2. A power-of-two first tree is a perfect subtree the proof leaves out: it is first_root.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3-4. Skip the levels where the first tree's last node is a right child.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5-6. Rebuild both roots from the same path.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False  # proof longer than the tree is tall
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return sn == 0 and fr == first_root and sr == second_root


def _left_sibling_keys(index: int) -> list[NodeKey]:
    """Return the left siblings a new leaf ``index`` completes parents with, lowest first.

    The node at (level, index >> level) is a right child exactly while bit ``level`` of
    ``index`` is set, so the run of low one-bits decides how many parents complete.
    """
    keys: list[NodeKey] = []
    level = 0
    while (index >> level) & 1:
        keys.append((level, (index >> level) - 1))
        level += 1
    return keys


def nodes_completed_by_append(
    index: int,
    leaf: bytes,
    left_siblings: Callable[[list[NodeKey]], Mapping[NodeKey, bytes]],
) -> list[tuple[NodeKey, bytes]]:
    """Return every node that leaf ``index`` (0-based, hash ``leaf``) completes, lowest first.

    That is ``(0, index)`` itself and, while the node (level, i) has odd i, its parent
    (level + 1, i // 2) = node_hash((level, i - 1), node). The needed left siblings follow from
    ``index`` alone, so ``left_siblings`` is called once with all of them (not at all for an
    even ``index``, which completes only its own leaf node). O(log n).
    """
    if index < 0:
        raise ValueError(f"negative leaf index {index}")
    completed: list[tuple[NodeKey, bytes]] = [((0, index), leaf)]
    keys = _left_sibling_keys(index)
    if not keys:
        return completed
    siblings = left_siblings(keys)
    node = leaf
    for level, sibling_index in keys:
        node = node_hash(siblings[(level, sibling_index)], node)
        # The parent of (level, i) with i = sibling_index + 1 odd is (level + 1, i // 2).
        completed.append(((level + 1, (sibling_index + 1) >> 1), node))
    return completed


class CompactRange:
    """Streaming MTH of D[0:size] in O(log n) memory (RFC 9162 §2.1.1).

    Holds only the hashes of ``perfect_subtrees(0, size)``: enough to compute the root and to
    extend the tree. Meant for offline verification of an export, and to produce the nodes
    each append completes (``append`` returns them) to fill a store.
    """

    def __init__(self) -> None:
        self._size = 0
        # (level, hash) of the maximal perfect subtrees of D[0:size], largest (leftmost) first.
        self._peaks: list[tuple[int, bytes]] = []

    @classmethod
    def from_reader(cls, reader: NodeReader, size: int) -> CompactRange:
        """Resume from a store's tree of ``size`` leaves with one ``get_nodes`` call."""
        keys = perfect_subtrees(0, size)
        nodes = _fetch(reader, keys)
        compact = cls()
        compact._size = size
        compact._peaks = [(level, nodes[(level, i)]) for level, i in keys]
        return compact

    @property
    def size(self) -> int:
        return self._size

    def _left_siblings(self, keys: list[NodeKey]) -> Mapping[NodeKey, bytes]:
        # The left siblings of a new leaf are exactly the rightmost peaks, smallest first.
        return {key: self._peaks[-1 - n][1] for n, key in enumerate(keys)}

    def append(self, leaf_hash: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add the next leaf hash; return the nodes it completes (see nodes_completed_by_append)."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        completed = nodes_completed_by_append(self._size, leaf_hash, self._left_siblings)
        merged = len(completed) - 1
        if merged:
            del self._peaks[-merged:]
        (level, _), top = completed[-1]
        self._peaks.append((level, top))
        self._size += 1
        return completed

    def root(self) -> bytes:
        """Return MTH(D[0:size]); ``EMPTY_ROOT`` while empty."""
        if not self._peaks:
            return EMPTY_ROOT
        return _fold([h for _, h in self._peaks])


class MemoryNodeStore:
    """A dict-backed ``NodeReader`` that builds its nodes on ``append``; for tests and tools."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self._size = 0
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> int:
        """Add leaf hash ``leaf``, store the nodes it completes, and return its index."""
        index = self._size
        for key, value in nodes_completed_by_append(index, leaf, self.get_nodes):
            self.nodes[key] = value
        self._size += 1
        return index

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}
