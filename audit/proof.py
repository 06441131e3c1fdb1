"""Verifiers for RFC 6962 inclusion and consistency proofs.

The loops follow the verification algorithms of RFC 9162 sections 2.1.3.2 and
2.1.4.2 step by step. They deliberately share nothing with the proof
construction in :mod:`audit.merkle` except the two hash functions, so that a
mistake in one is not mirrored in the other.

Accept/reject behaviour matches the transparency-dev/merkle test vectors: in
particular a consistency proof from the empty tree is always rejected (it
proves nothing), and equal sizes need an empty proof and equal roots.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.merkle import HASH_SIZE, node_hash


class ProofError(ValueError):
    """A Merkle proof failed to verify or was malformed."""


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root hash implied by an inclusion proof of leaf ``index`` in ``size`` leaves.

    Raises:
        ProofError: ``index`` is not in ``[0, size)``, a hash is not 32 bytes, or
            the proof has the wrong number of hashes for ``index`` and ``size``.
    """
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    _check_path(proof)
    # fn walks up from the leaf and sn from the last leaf; they meet at the root.
    fn, sn = index, size - 1
    result = bytes(leaf_hash)
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof has too many hashes")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            # On the right edge a left child without a right sibling is
            # promoted unchanged: skip the levels where that happens.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof has too few hashes")
    return result


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` shows leaf ``index`` with ``leaf_hash`` is in the tree ``root``.

    Raises:
        ProofError: the proof is malformed or does not lead to ``root``.
    """
    if root_from_inclusion_proof(leaf_hash, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree ``root1`` of ``size1`` leaves is a prefix of ``root2``.

    Raises:
        ProofError: ``size1`` is 0 or larger than ``size2``; the sizes are equal
            and the proof is not empty or the roots differ; the proof is
            malformed; or it does not lead to both roots.
    """
    _check_count("size1", size1)
    _check_count("size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("roots differ for the same tree size")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_path(proof)

    path = list(proof)
    if size1 & (size1 - 1) == 0:
        # The old tree is a perfect subtree of the new one, so the proof omits
        # its hash: the verifier already has it.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # old_root rebuilds root1 from the left siblings only; new_root uses all.
    old_root = new_root = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has too many hashes")
        if fn & 1 or fn == sn:
            old_root = node_hash(sibling, old_root)
            new_root = node_hash(sibling, new_root)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            new_root = node_hash(new_root, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof has too few hashes")
    if old_root != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if new_root != root2:
        raise ProofError("consistency proof does not lead to the second root")


def _check_count(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise ProofError(f"{name} must be a non-negative int")


def _check_hash(name: str, digest: bytes) -> None:
    if not isinstance(digest, bytes | bytearray) or len(digest) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")


def _check_path(proof: Sequence[bytes]) -> None:
    for position, digest in enumerate(proof):
        _check_hash(f"proof[{position}]", digest)
