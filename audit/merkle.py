"""RFC 6962 Merkle tree hashes and proofs, computed from stored perfect subtrees.

Storage model
-------------
Only *perfect* subtrees are stored. Node ``(level, index)`` is the hash of the
``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds
leaf hashes. A perfect node never changes once its last leaf is in, so the node
table is append-only and serves every past tree size as well as the current one.

When the size is not a power of two, RFC 6962 trees also contain *ragged*
subtrees along their right edge (the tree of 7 leaves is ``[0,4) + ([4,6) +
[6,7))``). A ragged subtree ``[begin, size)`` is never stored: its hash is the
fold of the perfect subtrees given by the binary decomposition of its width,
largest first. The tree's own root is the ragged subtree ``[0, size)``.

One batched read, O(log n) nodes
--------------------------------
A hash that a root or proof needs is therefore named by a :data:`CompositeKey`:
the perfect nodes, left to right, whose fold is that hash (a one-element tuple
for a perfect subtree). The ``*_keys`` functions compute them from the sizes
alone; the matching functions taking a :class:`NodeReader` pass the union of all
their nodes to a single ``get_nodes`` call and fold the results. The numbers
stay logarithmic because an RFC 6962 proof holds at most one ragged subtree
(the first sibling on the right edge; below it every sibling lies strictly
inside the tree): a root reads ``popcount(size)`` nodes, an inclusion or
consistency proof at most ``2 * ceil(log2(size))``.

Appending needs no reads at all: the *frontier* (the hashes at
``root_keys(size)``) is enough to compute every perfect node a batch of new
leaves completes, and the next frontier; see :func:`append_leaves`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)`` of a stored perfect subtree."""

CompositeKey = tuple[NodeKey, ...]
"""Perfect subtrees, left to right, whose fold is one subtree hash."""


class NodeReader(Protocol):
    """Read access to stored perfect-subtree hashes."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the hash of each requested node; a node not stored is left out."""
        ...


class MissingNodeError(LookupError):
    """A node that the tree size implies must exist is not in storage."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of adjacent perfect subtrees given largest (leftmost) first.

    Each subtree is strictly smaller than the one before it, so RFC 6962 pairs
    them from the right: ``fold([a, b, c]) == node_hash(a, node_hash(b, c))``.

    Raises:
        ValueError: ``hashes`` is empty.
    """
    if not hashes:
        raise ValueError("nothing to fold")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def root_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees, largest first, whose fold is the root of ``size`` leaves.

    One per set bit of ``size``; empty for the empty tree.

    Raises:
        ValueError: ``size`` is negative or not an ``int``.
    """
    _check_count("size", size)
    return decompose(0, size)


def root_from(size: int, reader: NodeReader) -> bytes:
    """Root hash of the tree's first ``size`` leaves (one ``get_nodes`` call).

    Raises:
        ValueError: ``size`` is negative or not an ``int``.
        MissingNodeError: the reader lacks a node the tree must have.
    """
    return frontier_root(frontier_from(size, reader))


def frontier_from(size: int, reader: NodeReader) -> list[bytes]:
    """The hashes at ``root_keys(size)``: what :func:`append_leaves` starts from.

    Raises:
        ValueError: ``size`` is negative or not an ``int``.
        MissingNodeError: the reader lacks a node the tree must have.
    """
    return _read([(key,) for key in root_keys(size)], reader)


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """Root hash of the tree whose frontier is ``frontier``."""
    return fold(frontier) if frontier else EMPTY_ROOT


def inclusion_proof_keys(index: int, size: int) -> list[CompositeKey]:
    """What the RFC 6962 inclusion proof of leaf ``index`` in a tree of ``size`` is made of.

    Raises:
        ValueError: ``index`` is not in ``[0, size)``.
    """
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    return _path_keys(index, size, 0)


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Raises:
        ValueError: ``index`` is not in ``[0, size)``.
        MissingNodeError: the reader lacks a node the tree must have.
    """
    return _read(inclusion_proof_keys(index, size), reader)


def consistency_proof_keys(size1: int, size2: int) -> list[CompositeKey]:
    """What the RFC 6962 consistency proof from ``size1`` to ``size2`` is made of.

    The proof for equal sizes is empty.

    Raises:
        ValueError: unless ``0 < size1 <= size2``; a proof from the empty tree
            proves nothing and verifiers reject it.
    """
    _check_count("size1", size1)
    _check_count("size2", size2)
    if size1 == 0:
        raise ValueError("no consistency proof exists from the empty tree")
    if size1 > size2:
        raise ValueError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == size2:
        return []
    # The old tree's last leaf sits in the perfect subtree of 2**shift leaves
    # that ends at size1. RFC 6962's SUBPROOF stops there, and the proof is that
    # subtree (omitted when it is the whole old tree, which the verifier has)
    # followed by the inclusion path of the old last leaf from that level up.
    last = size1 - 1
    shift = (size1 & -size1).bit_length() - 1
    keys: list[CompositeKey] = []
    if size1 != 1 << shift:
        keys.append(((shift, last >> shift),))
    keys.extend(_path_keys(last, size2, shift))
    return keys


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 consistency proof from the tree of ``size1`` leaves to ``size2``.

    Raises:
        ValueError: unless ``0 < size1 <= size2``.
        MissingNodeError: the reader lacks a node the tree must have.
    """
    return _read(consistency_proof_keys(size1, size2), reader)


def append_leaves(
    size: int, frontier: Sequence[bytes], leaf_hashes: Iterable[bytes]
) -> tuple[list[tuple[NodeKey, bytes]], list[bytes]]:
    """Append leaves to a tree known only by its size and frontier.

    Returns ``(new_nodes, new_frontier)``: every perfect node the new leaves
    complete, leaves included, in the order they are completed (each after
    its children), and the frontier of the grown tree.

    Raises:
        ValueError: ``size`` is negative, ``frontier`` does not have one hash per
            set bit of ``size``, or a hash is not 32 bytes.
    """
    _check_count("size", size)
    if len(frontier) != size.bit_count():
        raise ValueError(f"a tree of size {size} has {size.bit_count()} frontier hashes")
    for position, digest in enumerate(frontier):
        _check_hash(f"frontier[{position}]", digest)
    stack = [bytes(digest) for digest in frontier]
    new_nodes: list[tuple[NodeKey, bytes]] = []
    for digest in leaf_hashes:
        _check_hash(f"leaf hash for index {size}", digest)
        index, level, node = size, 0, bytes(digest)
        new_nodes.append(((0, index), node))
        # Leaf `index` completes one perfect subtree per trailing one bit of
        # `index`: merge with the frontier's smallest subtree that many times.
        while index >> level & 1:
            node = node_hash(stack.pop(), node)
            level += 1
            new_nodes.append(((level, index >> level), node))
        stack.append(node)
        size += 1
    return new_nodes, stack


class InMemoryTree:
    """An append-only Merkle tree kept in memory; a :class:`NodeReader`.

    For tests, and for recomputing a log from its raw entries to compare with
    what storage and checkpoints claim.
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._frontier: list[bytes] = []
        self._size = 0

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> InMemoryTree:
        """A tree whose leaves are the hashes of ``entries``, in order."""
        tree = cls()
        tree.extend(entries)
        return tree

    @property
    def size(self) -> int:
        return self._size

    def append(self, entry: bytes) -> int:
        """Append one entry (hashed as a leaf) and return its index."""
        index = self._size
        self.append_leaf_hashes([leaf_hash(entry)])
        return index

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append entries, in order."""
        self.append_leaf_hashes(leaf_hash(entry) for entry in entries)

    def append_leaf_hashes(self, hashes: Iterable[bytes]) -> None:
        """Append already-hashed leaves.

        Raises:
            ValueError: a hash is not 32 bytes.
        """
        hashes = list(hashes)
        new_nodes, self._frontier = append_leaves(self._size, self._frontier, hashes)
        self._nodes.update(new_nodes)
        self._size += len(hashes)

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def root(self, size: int | None = None) -> bytes:
        """Root hash at ``size`` (default: the current size).

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
        """
        if size is None:
            return frontier_root(self._frontier)
        return root_from(self._within(size), self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf ``index`` at ``size`` (default: the current size).

        Raises:
            ValueError: ``index`` is not in ``[0, size)`` or ``size`` is too large.
        """
        size = self._size if size is None else self._within(size)
        return inclusion_proof(index, size, self)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from ``size1`` to ``size2`` (default: the current size).

        Raises:
            ValueError: unless ``0 < size1 <= size2 <= self.size``.
        """
        size2 = self._size if size2 is None else self._within(size2)
        return consistency_proof(size1, size2, self)

    def _within(self, size: int) -> int:
        _check_count("size", size)
        if size > self._size:
            raise ValueError(f"size {size} is larger than the tree ({self._size})")
        return size


def decompose(begin: int, end: int) -> list[NodeKey]:
    """The perfect subtrees covering leaves ``[begin, end)``, largest first, as (level, index).

    ``begin`` must be a multiple of the largest one, which holds for the whole tree
    (begin 0) and for every subtree of it that RFC 6962 splits off (and for the ranges
    :mod:`audit.verify` rebuilds).
    """
    keys: list[NodeKey] = []
    width = end - begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def _path_keys(index: int, size: int, start_level: int) -> list[CompositeKey]:
    # Siblings of the path from leaf `index` to the root, from `start_level` up.
    # Below `split` the paths to `index` and to the last leaf differ, so the
    # siblings there lie inside the tree and are perfect, except the topmost,
    # which holds the last leaf and is clipped to `size` (ragged unless `size`
    # is a multiple of its width). From `split` up the path runs along the
    # right edge: a left sibling exists only where `index` is a right child,
    # and RFC 6962 skips the levels where it is not. Callers never pass a
    # `start_level` above `split`.
    split = (index ^ (size - 1)).bit_length()
    keys: list[CompositeKey] = []
    for level in range(start_level, split):
        begin = ((index >> level) ^ 1) << level
        keys.append(tuple(decompose(begin, min(begin + (1 << level), size))))
    for level in range(split, index.bit_length()):
        if index >> level & 1:
            keys.append(((level, (index >> level) - 1),))
    return keys


def _read(composites: Sequence[CompositeKey], reader: NodeReader) -> list[bytes]:
    wanted = list(dict.fromkeys(key for composite in composites for key in composite))
    if not wanted:
        return []
    found = reader.get_nodes(wanted)
    for key in wanted:
        if key not in found:
            raise MissingNodeError(f"Merkle node (level, index) = {key} is not stored")
        _check_hash(f"stored node {key}", found[key])
    return [fold([found[key] for key in composite]) for composite in composites]


def _check_count(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int")


def _check_hash(name: str, digest: bytes) -> None:
    if not isinstance(digest, bytes | bytearray) or len(digest) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes")
