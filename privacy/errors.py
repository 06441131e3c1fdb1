"""Errors raised by the consent services. Messages name codes and ids, never a value."""

from __future__ import annotations

from collections.abc import Sequence

from piivault.errors import Conflict, Forbidden, NotFound, PiivaultError, ValidationFailed


class PurposeNotFound(NotFound):
    """No such purpose."""

    code = "purpose_not_found"


class NoticeNotFound(NotFound):
    """No such notice version."""

    code = "notice_not_found"


class ReceiptNotFound(NotFound):
    """No such receipt or certificate."""

    code = "receipt_not_found"


class RequestNotFound(NotFound):
    """No such data-subject request."""

    code = "dsr_not_found"


class HoldNotFound(NotFound):
    """No such hold."""

    code = "hold_not_found"


class SubjectUnknown(NotFound):
    """No such subject."""

    code = "subject_not_found"


class InvalidConsent(ValidationFailed):
    """A consent, purpose, request or hold argument breaks a rule."""

    code = "invalid_request"


class ConsentConflict(Conflict):
    """The request conflicts with the current consent, request or subject state."""

    code = "conflict"


class InvalidTransition(Conflict):
    """The data-subject request is not in a state that allows this step."""

    code = "invalid_transition"


class SubjectGone(Conflict):
    """The subject was erased."""

    code = "subject_erased"


class NotAllowed(Forbidden):
    """The caller's role may not do this."""

    code = "forbidden"


class ReceiptInvalid(PiivaultError):
    """A receipt or certificate does not verify."""

    code = "receipt_invalid"
    http_status = 422


class ImportRejected(ValidationFailed):
    """A bulk import had invalid rows; nothing was imported."""

    code = "import_rejected"

    def __init__(self, message: str, row_errors: Sequence[dict]) -> None:
        super().__init__(message)
        self.row_errors = list(row_errors)


class InvalidAttributes(ValidationFailed):
    """Risk attributes break a rule (names, types, sizes, unknown or erased subjects)."""

    code = "invalid_attributes"
