"""The running hash chain over the log's entries.

Definition (fixed; verifiers depend on it)::

    chain[-1] = 32 zero bytes                      (genesis)
    chain[i]  = SHA-256(chain[i-1] || leaf_hash[i])

where ``leaf_hash[i] = SHA-256(0x00 || entry[i])`` is the RFC 6962 leaf hash of
the event's canonical JSON (which includes ``"seq": i``). Both operands are 32
bytes, so the concatenation is unambiguous. The chain adds nothing the Merkle
tree does not already commit to; it makes an edit visible from one row and the
row before it, without the tree, which is how an operator can spot-check a
single row by hand.
"""

from __future__ import annotations

import hashlib

GENESIS = bytes(32)


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """``SHA-256(previous || leaf)``.

    Raises:
        ValueError: either argument is not 32 bytes.
    """
    if len(previous) != 32 or len(leaf) != 32:
        raise ValueError("chain hash operands must be 32 bytes")
    return hashlib.sha256(previous + leaf).digest()
