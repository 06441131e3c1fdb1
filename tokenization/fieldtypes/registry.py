"""The set of field types a deployment knows, looked up by code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenization.fieldtypes.builtin import BUILTIN_FIELD_TYPES
from tokenization.fieldtypes.errors import DuplicateFieldType, UnknownFieldType
from tokenization.fieldtypes.model import FieldType


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
