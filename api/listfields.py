"""List fields that load quickly: the request bodies of tokenize and detokenize.

marshmallow spends microseconds on every element of a list, on top of what the
checks themselves cost: for a 1,000-item tokenize or a 1,000-token detokenize,
more than the storage work of the request (``bench/api.py``, issue 22). These
fields make the same checks directly, and hand an element that fails any of
them to marshmallow, so every message, and which element it names, is
marshmallow's own. The OpenAPI document shows the element schema as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import marshmallow as ma

from api.schemas import Schema


class _FlatField(NamedTuple):
    """One field of a flat item schema, with the checks the fast path makes itself."""

    name: str
    field: ma.fields.Field
    wanted: type
    default: Any
    min_len: int | None
    max_len: int | None
    choices: frozenset[str] | None
    other_validators: tuple[Callable[[Any], Any], ...]


def _flat_field(name: str, field: ma.fields.Field) -> _FlatField:
    if not isinstance(field, ma.fields.String | ma.fields.Boolean) or field.data_key:
        raise TypeError("FlatItems takes flat schemas of String and Boolean fields")
    if callable(field.load_default):
        raise TypeError("FlatItems takes constant defaults only")
    min_len = max_len = None
    choices = None
    others = []
    for validator in field.validators:
        if type(validator) is ma.validate.Length:
            min_len = validator.equal if validator.equal is not None else validator.min
            max_len = validator.equal if validator.equal is not None else validator.max
        elif type(validator) is ma.validate.OneOf:
            choices = frozenset(validator.choices)
        else:
            others.append(validator)
    wanted = bool if isinstance(field, ma.fields.Boolean) else str
    return _FlatField(name, field, wanted, field.load_default, min_len, max_len, choices, tuple(others))


_MISSING = ma.missing


class FlatItems(ma.fields.List):
    """A list of flat objects (strings, booleans), loaded by their schema's rules, quickly.

    marshmallow spends about 20 us per nested object: more than a 1,000-item
    batch takes to tokenize once the storage is batched. The items are flat,
    so this applies the item schema's own fields directly - required,
    defaults, null, type, Length and OneOf inline, other validators called -
    and rejects unknown fields. An item that fails any check goes through the
    slow path, which reports every problem of that item with marshmallow's
    messages, by item index. The OpenAPI document still shows the item schema.
    """

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(ma.fields.Nested(schema), **kwargs)
        self._schema = schema()
        self._fields = tuple(_flat_field(name, f) for name, f in self._schema.load_fields.items())
        self._known = frozenset(self._schema.load_fields)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        if not isinstance(value, list):
            raise ma.ValidationError("Not a valid list.")
        loaded: list[dict[str, Any]] = []
        errors: dict[int, Any] = {}
        for index, raw in enumerate(value):
            item = self._load_fast(raw)
            if item is None:
                item, problems = self._load_checked(raw)
                if problems:
                    errors[index] = problems
                    continue
            loaded.append(item)
        if errors:
            raise ma.ValidationError(errors)
        return loaded

    def _load_fast(self, raw: Any) -> dict[str, Any] | None:
        """The loaded item, or None if anything about it is wrong (the slow path says what)."""
        if type(raw) is not dict or not raw.keys() <= self._known:
            return None
        item: dict[str, Any] = {}
        for name, field, wanted, default, min_len, max_len, choices, others in self._fields:
            given = raw.get(name, _MISSING)
            if given is _MISSING:
                if field.required:
                    return None
                item[name] = default
                continue
            if given is None:
                if not field.allow_none:
                    return None
                item[name] = None
                continue
            if type(given) is not wanted:
                return None
            if min_len is not None and len(given) < min_len or max_len is not None and len(given) > max_len:
                return None
            if choices is not None and given not in choices:
                return None
            if others:
                try:
                    for validator in others:
                        validator(given)
                except ma.ValidationError:
                    return None
            item[name] = given
        return item

    def _load_checked(self, raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """One item, every problem reported with marshmallow's messages."""
        if not isinstance(raw, dict):
            return {}, {"_schema": ["Invalid input type."]}
        item: dict[str, Any] = {}
        problems: dict[str, Any] = {key: ["Unknown field."] for key in raw.keys() - self._known}
        for name, field, wanted, default, *_ in self._fields:
            given = raw.get(name, _MISSING)
            if given is _MISSING:
                if field.required:
                    problems[name] = [field.error_messages["required"]]
                else:
                    item[name] = default
                continue
            if given is None:
                if field.allow_none:
                    item[name] = None
                else:
                    problems[name] = [field.error_messages["null"]]
                continue
            if not isinstance(given, wanted):
                problems[name] = [field.error_messages["invalid"]]
                continue
            try:
                for validator in field.validators:
                    validator(given)
            except ma.ValidationError as e:
                problems[name] = e.messages
                continue
            item[name] = given
        return item, problems


class Strings(ma.fields.List):
    """A list of strings, each of the lengths ``validate.Length`` allows, loaded quickly.

    A list whose elements are all strings of an allowed length is returned as
    a new list without a call per element; any other value goes through
    :class:`marshmallow.fields.List`, which names each bad element by index.
    The element field may carry only a ``Length`` validator: anything else
    would be skipped by the quick path, so it is refused when the schema is built.
    """

    def __init__(self, element: ma.fields.String, **kwargs: Any) -> None:
        if type(element) is not ma.fields.String or element.data_key or element.allow_none:
            raise TypeError("Strings takes a plain String field")
        if any(type(v) is not ma.validate.Length for v in element.validators):
            raise TypeError("Strings checks Length validators only")
        super().__init__(element, **kwargs)
        bounds = [(v.min, v.max) if v.equal is None else (v.equal, v.equal) for v in element.validators]
        self._min = max((low for low, _ in bounds if low is not None), default=0)
        self._max = min((high for _, high in bounds if high is not None), default=None)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if type(value) is list:
            low, high = self._min, self._max
            for element in value:
                if type(element) is not str or len(element) < low or high is not None and len(element) > high:
                    break
            else:
                return list(value)
        return super()._deserialize(value, attr, data, **kwargs)
