"""The set of field types a deployment knows, looked up by code."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fieldtypes.builtin import BUILTIN_FIELD_TYPES
from fieldtypes.errors import DuplicateFieldType, UnknownFieldType
from fieldtypes.model import FieldType

# Field types whose values identify a person by themselves. Text that is kept and shown (a
# subject id or request id a caller chooses, consent evidence, a reason in the audit log) must
# not be one: it would copy PII into every response and audit event.
IDENTIFIER_TYPES = ("cn_resident_id", "cn_mobile", "bank_card", "cn_uscc")
# Runs of letters and digits long enough to be one of them, and digit groups written with
# spaces or dashes (138-1234-5678).
_IDENTIFIER_LIKE = re.compile(r"[0-9A-Za-z]{8,}")
_GROUPED_DIGITS = re.compile(r"\d[\d -]{6,}[\dXx]")


class FieldTypeRegistry:
    """Field types by code. Built once at start-up, then only read."""

    def __init__(self, field_types: Iterable[FieldType] = ()) -> None:
        self._by_code: dict[str, FieldType] = {}
        for field_type in field_types:
            self.register(field_type)

    def register(self, field_type: FieldType, *, override: bool = False) -> None:
        """Add ``field_type``; raises :class:`DuplicateFieldType` if its code is taken
        and ``override`` is false."""
        if not isinstance(field_type, FieldType):
            raise TypeError("register() takes a FieldType")
        if field_type.code in self._by_code and not override:
            raise DuplicateFieldType(field_type.code)
        self._by_code[field_type.code] = field_type

    def get(self, code: str) -> FieldType:
        """Return the field type ``code``; raises :class:`UnknownFieldType`."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise UnknownFieldType(str(code)) from None

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_code))

    def looks_like_identifier(self, text: str) -> bool:
        """True if ``text`` is a valid mobile, resident ID, card number or credit code.

        The one identifier check for ids a caller chooses. All four have at
        least 8 digits, which rules out most ids before any validator runs.
        """
        if not isinstance(text, str) or sum(map(str.isdigit, text)) < 8:
            return False
        return any(code in self._by_code and self._by_code[code].is_valid(text) for code in IDENTIFIER_TYPES)

    def holds_identifier(self, text: str) -> bool:
        """True if ``text`` contains such an identifier: a run of letters and digits, or of digits
        grouped by spaces or dashes, that :meth:`looks_like_identifier`."""
        if not isinstance(text, str):
            return False
        grouped = [re.sub(r"[ -]", "", run) for run in _GROUPED_DIGITS.findall(text)]
        return any(self.looks_like_identifier(run) for run in [*_IDENTIFIER_LIKE.findall(text), *grouped])

    def copy(self) -> FieldTypeRegistry:
        return FieldTypeRegistry(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[FieldType]:
        return iter(sorted(self._by_code.values(), key=lambda field_type: field_type.code))

    def __len__(self) -> int:
        return len(self._by_code)


def default_registry() -> FieldTypeRegistry:
    """A new registry holding the built-in field types (a fresh copy on every call)."""
    return FieldTypeRegistry(BUILTIN_FIELD_TYPES)
