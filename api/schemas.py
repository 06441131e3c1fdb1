"""Schema base classes shared by every resource.

Load schemas reject unknown fields (a misspelt field is an error, not a
silently ignored value); dump schemas mark ids ``dump_only``.
"""

from __future__ import annotations

import marshmallow as ma


class Schema(ma.Schema):
    """Base for request and response schemas: unknown fields raise a 422."""

    class Meta:
        unknown = ma.RAISE


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


class FullMatch(ma.validate.Regexp):
    """Like :class:`marshmallow.validate.Regexp`, but the whole value must match.

    The error never repeats the value.
    """

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value
