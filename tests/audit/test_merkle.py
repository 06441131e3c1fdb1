"""audit.merkle against the recursive definitions of RFC 6962 section 2.1.

The reference functions below transcribe MTH, PATH, PROOF and SUBPROOF
literally (on leaf ranges, memoized), and hash with hashlib directly so that
they share no code with the module under test.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from functools import cache

import pytest

from audit import merkle
from audit.merkle import (
    EMPTY_ROOT,
    InMemoryTree,
    MissingNodeError,
    NodeKey,
    append_leaves,
    consistency_proof,
    consistency_proof_keys,
    frontier_from,
    frontier_root,
    inclusion_proof,
    inclusion_proof_keys,
    root_from,
    root_keys,
)

MAX_EXHAUSTIVE = 70
ENTRIES = [f"entry {i}".encode() for i in range(5000)]

# Tree of RFC 6962 test data (transparency-dev/merkle testdata README) and its
# roots at sizes 1..8.
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# --- RFC 6962 reference definitions, over ENTRIES[lo:hi] ----------------------


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + ENTRIES[lo]).digest()
    k = _split(n)
    return hashlib.sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi)).digest()


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return ref_path(m, lo, lo + k) + [ref_mth(lo + k, hi)]
    return ref_path(m - k, lo + k, hi) + [ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    return ref_subproof(m, 0, n, True)


def ref_subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [ref_mth(lo, hi)]
    k = _split(n)
    if m <= k:
        return ref_subproof(m, lo, lo + k, complete) + [ref_mth(lo + k, hi)]
    return ref_subproof(m - k, lo + k, hi, False) + [ref_mth(lo, lo + k)]


# --- helpers -------------------------------------------------------------------


class CountingReader:
    """Wraps a reader, recording each get_nodes call and the keys it asked for."""

    def __init__(self, inner: merkle.NodeReader) -> None:
        self.inner = inner
        self.calls: list[list[NodeKey]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.calls.append(list(keys))
        return dict(self.inner.get_nodes(keys))


def _max_reads(size: int) -> int:
    # 2 * ceil(log2(size)), and at least the one node of a one-leaf tree's root.
    return max(2 * (size - 1).bit_length(), 1)


def _assert_reads(reader: CountingReader, size: int) -> None:
    assert len(reader.calls) <= 1
    keys = reader.calls[0] if reader.calls else []
    assert len(keys) == len(set(keys)), "duplicate keys in one read"
    assert len(keys) <= _max_reads(size)
    for level, index in keys:
        assert (index + 1) << level <= size, f"node {(level, index)} is beyond size {size}"


@pytest.fixture(scope="module")
def big_tree() -> InMemoryTree:
    return InMemoryTree.from_entries(ENTRIES[:MAX_EXHAUSTIVE])


# --- hashing and roots ---------------------------------------------------------


def test_hashes_match_rfc6962() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        merkle.node_hash(b"L" * 32, b"R" * 32)
        == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )


def test_known_roots_of_rfc_tree() -> None:
    tree = InMemoryTree()
    for size, (entry, want) in enumerate(zip(RFC_LEAVES, RFC_ROOTS, strict=True), start=1):
        tree.append(entry)
        assert tree.root().hex() == want
        assert root_from(size, tree).hex() == want


def test_root_keys() -> None:
    assert root_keys(0) == []
    assert root_keys(1) == [(0, 0)]
    assert root_keys(8) == [(3, 0)]
    assert root_keys(7) == [(2, 0), (1, 2), (0, 6)]
    assert root_keys(13) == [(3, 0), (2, 2), (0, 12)]


def test_empty_tree() -> None:
    tree = InMemoryTree()
    reader = CountingReader(tree)
    assert tree.root() == EMPTY_ROOT
    assert root_from(0, reader) == EMPTY_ROOT
    assert frontier_root([]) == EMPTY_ROOT
    assert reader.calls == []


@pytest.mark.parametrize("size", range(MAX_EXHAUSTIVE + 1))
def test_root_from_equals_mth(size: int, big_tree: InMemoryTree) -> None:
    reader = CountingReader(big_tree)
    assert root_from(size, reader) == ref_mth(0, size)
    _assert_reads(reader, size)
    assert len(reader.calls[0] if reader.calls else []) == size.bit_count()


# --- proofs against the reference ----------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_EXHAUSTIVE + 1))
def test_inclusion_proofs_equal_path(size: int, big_tree: InMemoryTree) -> None:
    own_tree = InMemoryTree.from_entries(ENTRIES[:size])
    for index in range(size):
        want = ref_path(index, 0, size)
        reader = CountingReader(big_tree)
        assert inclusion_proof(index, size, reader) == want, (index, size)
        _assert_reads(reader, size)
        assert own_tree.inclusion_proof(index) == want


@pytest.mark.parametrize("size2", range(1, MAX_EXHAUSTIVE + 1))
def test_consistency_proofs_equal_proof(size2: int, big_tree: InMemoryTree) -> None:
    own_tree = InMemoryTree.from_entries(ENTRIES[:size2])
    for size1 in range(1, size2 + 1):
        want = ref_proof(size1, size2)
        reader = CountingReader(big_tree)
        assert consistency_proof(size1, size2, reader) == want, (size1, size2)
        _assert_reads(reader, size2)
        assert own_tree.consistency_proof(size1) == want


def test_random_large_trees() -> None:
    rng = random.Random(6962)
    tree = InMemoryTree.from_entries(ENTRIES)
    for _ in range(40):
        size = rng.randrange(MAX_EXHAUSTIVE, len(ENTRIES) + 1)
        reader = CountingReader(tree)
        assert root_from(size, reader) == ref_mth(0, size)
        index = rng.randrange(size)
        reader = CountingReader(tree)
        assert inclusion_proof(index, size, reader) == ref_path(index, 0, size)
        _assert_reads(reader, size)
        size1 = rng.randrange(1, size + 1)
        reader = CountingReader(tree)
        assert consistency_proof(size1, size, reader) == ref_proof(size1, size)
        _assert_reads(reader, size)


def test_ragged_subtree_is_one_composite_key() -> None:
    # Tree of 7: the sibling of [0, 4) is the ragged [4, 7) = [4, 6) + [6, 7).
    assert inclusion_proof_keys(0, 7) == [((0, 1),), ((1, 1),), ((1, 2), (0, 6))]
    assert inclusion_proof_keys(6, 7) == [((1, 2),), ((2, 0),)]
    assert consistency_proof_keys(3, 7) == [
        ((0, 2),),
        ((0, 3),),
        ((1, 0),),
        ((1, 2), (0, 6)),
    ]
    assert consistency_proof_keys(4, 8) == [((2, 1),)]
    assert consistency_proof_keys(5, 5) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof_keys(3, 3)
    with pytest.raises(ValueError):
        inclusion_proof_keys(-1, 3)
    with pytest.raises(ValueError):
        inclusion_proof_keys(0, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty tree"):
        consistency_proof_keys(0, 3)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof_keys(4, 3)
    with pytest.raises(ValueError):
        root_keys(-1)


def test_missing_node_is_reported() -> None:
    tree = InMemoryTree.from_entries(ENTRIES[:4])
    with pytest.raises(MissingNodeError, match=r"\(0, 4\)"):
        inclusion_proof(0, 5, tree)
    with pytest.raises(MissingNodeError):
        root_from(6, tree)


def test_in_memory_tree_refuses_sizes_it_does_not_have() -> None:
    tree = InMemoryTree.from_entries(ENTRIES[:4])
    with pytest.raises(ValueError, match="larger than the tree"):
        tree.root(5)
    with pytest.raises(ValueError):
        tree.consistency_proof(1, 5)


# --- appending -----------------------------------------------------------------


def _perfect_nodes_completed(old: int, new: int) -> set[NodeKey]:
    """All (level, index) whose last leaf lies in [old, new)."""
    return {
        (level, index)
        for level in range(new.bit_length())
        for index in range(new >> level)
        if old < (index + 1) << level <= new
    }


def test_append_in_random_batches_finds_every_new_node() -> None:
    rng = random.Random(9162)
    size, frontier = 0, []
    stored: dict[NodeKey, bytes] = {}
    while size < 600:
        batch = rng.choice([1, 1, 2, 3, 7, 16, 31, 64])
        hashes = [merkle.leaf_hash(entry) for entry in ENTRIES[size : size + batch]]
        new_nodes, frontier = append_leaves(size, frontier, hashes)
        keys = [key for key, _ in new_nodes]
        assert set(keys) == _perfect_nodes_completed(size, size + batch)
        assert len(keys) == len(set(keys))
        for (level, index), digest in new_nodes:
            assert digest == ref_mth(index << level, (index + 1) << level)
            if level:  # children are emitted before their parent
                assert {(level - 1, 2 * index), (level - 1, 2 * index + 1)} <= stored.keys()
            stored[(level, index)] = digest
        size += batch
        assert frontier == [ref_mth(i << lv, (i + 1) << lv) for lv, i in root_keys(size)]
        assert frontier_root(frontier) == ref_mth(0, size)


def test_frontier_round_trips_through_storage(big_tree: InMemoryTree) -> None:
    for size in range(MAX_EXHAUSTIVE):
        frontier = frontier_from(size, big_tree)
        assert frontier_root(frontier) == ref_mth(0, size)
        leaf = merkle.leaf_hash(ENTRIES[size])
        _, grown = append_leaves(size, frontier, [leaf])
        assert grown == frontier_from(size + 1, big_tree)


def test_append_with_no_leaves_changes_nothing() -> None:
    frontier = [ref_mth(0, 4), ref_mth(4, 5)]
    assert append_leaves(5, frontier, []) == ([], frontier)


@pytest.mark.parametrize(
    ("size", "frontier", "leaves", "message"),
    [
        (5, [b"\x00" * 32], [], "2 frontier hashes"),
        (0, [b"\x00" * 32], [], "0 frontier hashes"),
        (1, [b"\x00" * 31], [], r"frontier\[0\]"),
        (0, [], [b"\x00" * 33], "leaf hash for index 0"),
        (-1, [], [], "non-negative"),
    ],
)
def test_append_rejects_bad_input(
    size: int, frontier: list[bytes], leaves: list[bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        append_leaves(size, frontier, leaves)


def test_in_memory_tree_append_returns_indices() -> None:
    tree = InMemoryTree()
    assert [tree.append(entry) for entry in ENTRIES[:5]] == [0, 1, 2, 3, 4]
    assert tree.size == 5
    assert tree.root() == ref_mth(0, 5) == tree.root(5)
    assert tree.root(3) == ref_mth(0, 3)
