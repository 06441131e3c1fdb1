"""Errors raised by :mod:`audit`. Their messages carry sequence numbers and sizes, never PII."""

from __future__ import annotations

from piivault.errors import Conflict, NotFound, PiivaultError, UnavailableError


class AuditError(PiivaultError):
    """Base class for audit-log errors."""

    code = "audit_error"


class LogCorrupt(AuditError):
    """Stored log state is inconsistent (run `piivault audit verify`)."""

    code = "audit_log_corrupt"
    http_status = 500


class EventNotFound(NotFound, AuditError):
    """No audit event has that sequence number."""

    code = "audit_event_not_found"


class NotCheckpointed(Conflict, AuditError):
    """The event or size is not yet covered by a signed checkpoint; retry after the next one."""

    code = "audit_not_checkpointed"


class TilesDiverge(Conflict, AuditError):
    """The tiles directory publishes another log than the database holds, or more of it
    (after a database restore: ``piivault audit restore-tail --from DIR``)."""

    code = "audit_tiles_diverge"


class CheckpointNotCut(UnavailableError, AuditError):
    """A checkpoint asked of the sequencer loop was not cut in time (is it running?); retry later."""

    code = "audit_checkpoint_not_cut"
