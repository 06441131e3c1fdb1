"""Schema base classes shared by every resource.

Load schemas reject unknown fields (a misspelt field is an error, not a
silently ignored value); dump schemas mark ids ``dump_only``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import marshmallow as ma


def _utc_representable(value: dt.datetime) -> bool:
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


class Schema(ma.Schema):
    """Base for request and response schemas: unknown fields raise a 422.

    A date-time whose UTC value falls outside years 1-9999 (``0001-01-01T00:00:00+01:00``)
    is a 422 on its field, for every schema: nothing after the schema can store or compare it.
    """

    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _datetimes_in_utc_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors = {
            self.fields[name].data_key or name: ["The time is outside years 1-9999 in UTC."]
            for name, value in data.items()
            if isinstance(value, dt.datetime) and value.tzinfo is not None and not _utc_representable(value)
        }
        if errors:
            raise ma.ValidationError(errors)


class ProblemSchema(Schema):
    """RFC 9457 problem details: the body of every error response."""

    type = ma.fields.String(
        required=True, metadata={"description": "URI naming the problem type", "format": "uri"}
    )
    title = ma.fields.String(required=True, metadata={"description": "short summary of the problem type"})
    status = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "what went wrong in this occurrence"})
    errors = ma.fields.Dict(
        metadata={
            "description": "field errors by location and field, e.g. "
            '{"json": {"name": ["Missing data for required field."]}}'
        }
    )
    approval_id = ma.fields.String(
        metadata={
            "description": "with approval_required (403, four eyes): the approval request another "
            "person must approve first (GET /v1/approvals/{id}); absent when none is pending yet, "
            "and the detail then says how to ask for one"
        }
    )


class FullMatch(ma.validate.Regexp):
    """Like :class:`marshmallow.validate.Regexp`, but the whole value must match.

    The pattern is anchored (``^...$``), so the OpenAPI ``pattern`` says the same
    (a JSON Schema pattern matches anywhere in the value unless anchored). The
    error never repeats the value.
    """

    def __init__(self, regex: str | re.Pattern[str], *, error: str | None = None) -> None:
        source = regex.pattern if isinstance(regex, re.Pattern) else regex
        if not (source.startswith("^") and source.endswith("$")):
            source = f"^(?:{source})$"
        super().__init__(source, error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value
