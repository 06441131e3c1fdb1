"""Errors of the field-type registry.

No error here ever carries the value that was checked, or any part of it: the
messages are fixed texts that name the rule, so they are safe to log and to
return to a caller.
"""

from __future__ import annotations


class FieldTypeError(Exception):
    """Base class of the errors raised by :mod:`fieldtypes`."""


class InvalidValue(FieldTypeError, ValueError):
    """A value does not satisfy its field type.

    ``rule`` is a stable machine-readable name ("length", "check_digit", ...);
    ``message`` says in words which rule failed. Neither contains the value.
    """

    def __init__(self, rule: str, message: str, *, field_type: str | None = None) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message
        self.field_type = field_type

    def __str__(self) -> str:
        prefix = f"{self.field_type}: " if self.field_type else ""
        return f"{prefix}{self.message} (rule: {self.rule})"


class UnknownFieldType(FieldTypeError, LookupError):
    """No field type is registered under the requested code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"unknown field type {self.code!r}"


class DuplicateFieldType(FieldTypeError, ValueError):
    """A field type with the same code is already registered."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"field type {self.code!r} is already registered (replace it with override=True)"


class ConfigError(FieldTypeError, ValueError):
    """A field-type configuration is malformed; ``key`` locates the offending entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"
