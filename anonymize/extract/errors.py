"""Errors of the extract service. Messages name spec keys and counts, never a value from the rows."""

from __future__ import annotations

from collections.abc import Mapping

from piivault.errors import PiivaultError, ValidationFailed


class InvalidSpec(ValidationFailed):
    """The extract spec is invalid.

    ``errors`` maps each offending key path (``columns.age.hierarchy.width``)
    to what is wrong with it; the message lists them all.
    """

    code = "invalid_extract_spec"

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        listed = "; ".join(f"{path}: {problem}" for path, problem in self.errors.items())
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


class ExtractCheckFailed(PiivaultError):
    """The released table failed the final k-anonymity / l-diversity check; nothing was written."""

    code = "extract_check_failed"
    http_status = 500


__all__ = [
    "ExtractCheckFailed",
    "InvalidPseudonym",
    "InvalidRows",
    "InvalidSpec",
    "PrivacyModelUnsatisfiable",
    "SuppressionBudgetExceeded",
]
