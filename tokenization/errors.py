"""Errors raised by the tokenization services. No message ever carries a value."""

from __future__ import annotations

from piivault.errors import Conflict, Forbidden, NotFound, PiivaultError, ValidationFailed


class BatchTooLarge(PiivaultError):
    """The request holds more items than one batch may."""

    code = "batch_too_large"
    http_status = 413


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was already used with a different request body."""

    code = "idempotency_conflict"


class SubjectNotFound(NotFound):
    """No such subject."""

    code = "subject_not_found"


class SubjectErased(Conflict):
    """The subject was erased; nothing can be added to or read from it."""

    code = "subject_erased"


class InvalidRequest(ValidationFailed):
    """A request-level argument (purpose, reveal, subject id, ...) is malformed."""

    code = "invalid_request"


class NotPermitted(Forbidden):
    """The caller's role may not do this."""

    code = "forbidden"


class ItemRejected(Exception):
    """One batch item cannot be tokenized; becomes that item's ``{"error": {rule, message}}``.

    Like :class:`fieldtypes.InvalidValue`, the message names a rule
    and never contains the value.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message

    def as_error(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}
