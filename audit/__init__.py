"""The tamper-evident audit log.

Pure building blocks (no database): :mod:`audit.canonical` turns events into
bytes, :mod:`audit.merkle` builds the RFC 6962 tree over them and its proofs,
:mod:`audit.proof` verifies those proofs, :mod:`audit.chain` defines the running
hash chain, and :mod:`audit.note` signs and opens C2SP checkpoints committing to
the tree's size and root.

The log itself: :mod:`audit.sink` queues a unit of work's events in its own
transaction; :mod:`audit.sequencer` integrates queued events into the chain and
the tree in batches (:mod:`audit.entries` makes their entries) and cuts signed
checkpoints (:mod:`audit.checkpoints`); :mod:`audit.service` is the facade the
API and the CLI call (sequencing, checkpoints, public key, tiles), which hands
searches and the exposure report to :mod:`audit.reads`, proofs and subject
exports to :mod:`audit.proving` and verification to :mod:`audit.verification`,
all returning :mod:`audit.records`' dataclasses; :mod:`audit.verify` recomputes
and checks everything; :mod:`audit.cli` is ``piivault audit ...``. Tables:
:mod:`audit.tables` (append-only triggers in migration ``0003_audit_log``;
database roles in ``deploy/audit-grants.md``).
"""
