"""Errors of the extract service. Messages name spec keys and counts, never a value from the rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from piivault.errors import Conflict, Forbidden, NotFound, PiivaultError, ValidationFailed
from privacy.errors import InvalidAttributes  # the risk attributes are the privacy core's; re-exported


class InvalidSpec(ValidationFailed):
    """The extract spec is invalid.

    ``errors`` maps each offending key path (``columns.age.hierarchy.width``)
    to the list of what is wrong with it; the message lists them all.
    """

    code = "invalid_extract_spec"

    def __init__(self, errors: Mapping[str, str | Sequence[str]]) -> None:
        self.errors = {
            path: [problems] if isinstance(problems, str) else list(problems)
            for path, problems in errors.items()
        }
        listed = "; ".join(
            f"{path}: {problem}" for path, problems in self.errors.items() for problem in problems
        )
        super().__init__(f"extract spec is invalid: {listed}")


class InvalidRows(ValidationFailed):
    """The rows provider returned something that is not rows of the spec's columns."""

    code = "invalid_extract_rows"


class PrivacyModelUnsatisfiable(ValidationFailed):
    """No extract of these rows can satisfy the spec's k, l and suppression budget."""

    code = "privacy_model_unsatisfiable"


class SuppressionBudgetExceeded(PrivacyModelUnsatisfiable):
    """More rows must be suppressed than the spec's max_suppression allows."""

    code = "suppression_budget_exceeded"


class InvalidPseudonym(ValidationFailed):
    """A pseudonym must be 32 lowercase hexadecimal characters."""

    code = "invalid_pseudonym"


class ExtractForbidden(Forbidden):
    """The caller may not do this with extracts (role, purpose or field type not on its key)."""

    code = "forbidden"


class ExtractNotFound(NotFound):
    """No such extract (or not one of the caller's)."""

    code = "extract_not_found"


class ExtractNotReady(Conflict):
    """The extract has not succeeded (queued, running or failed): no files, no re-identification."""

    code = "extract_not_ready"


class ExtractExpired(PiivaultError):
    """The extract expired: its files are deleted and its pseudonym key destroyed."""

    code = "extract_expired"
    http_status = 410


class PseudonymNotFound(NotFound):
    """The pseudonym is not one of this extract's column."""

    code = "pseudonym_not_found"


class ExtractCheckFailed(PiivaultError):
    """The released table failed the final k-anonymity / l-diversity check; nothing was written."""

    code = "extract_check_failed"
    http_status = 500


__all__ = [
    "ExtractCheckFailed",
    "ExtractExpired",
    "ExtractForbidden",
    "ExtractNotFound",
    "ExtractNotReady",
    "InvalidAttributes",
    "InvalidPseudonym",
    "PseudonymNotFound",
    "InvalidRows",
    "InvalidSpec",
    "PrivacyModelUnsatisfiable",
    "SuppressionBudgetExceeded",
]
