"""The tamper-evident audit log.

Pure building blocks (no database): :mod:`audit.canonical` turns events into
bytes, :mod:`audit.merkle` builds the RFC 6962 tree over them and its proofs,
:mod:`audit.proof` verifies those proofs, and :mod:`audit.note` signs and opens
C2SP checkpoints committing to the tree's size and root.
"""
