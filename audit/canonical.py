"""Canonical JSON: one byte string per audit event, so that its leaf hash is stable.

Keys are sorted, there is no insignificant whitespace, non-ASCII text is written
as UTF-8 rather than ``\\u`` escapes, and only plain JSON values are accepted:
anything else (datetimes, enums, tuples, bytes, non-string keys) is a caller bug
and raises instead of being silently coerced.

This is not RFC 8785 (JCS): floats are written as Python's shortest round-trip
``repr`` and keys are ordered by code point, not by UTF-16 code unit. Audit
events should carry integers and strings, not floats.
"""

from __future__ import annotations

import json

_SCALARS = frozenset((str, int, float, bool, type(None)))


def canonical_json(obj: object) -> bytes:
    """Serialize ``obj`` to canonical UTF-8 JSON bytes.

    Raises:
        TypeError: a value is not ``dict``, ``list``, ``str``, ``int``, ``float``,
            ``bool`` or ``None`` (subclasses such as enums included), or a
            ``dict`` key is not a ``str``.
        ValueError: a float is NaN or infinite, a string is not valid Unicode
            (lone surrogate), or the structure contains itself.
    """
    _check(obj, set())
    return _dumps(obj)


def canonical_json_parsed(obj: object) -> bytes:
    """:func:`canonical_json` for a value that :func:`json.loads` returned (or added plain keys to).

    Such a value can only hold the plain JSON types with ``str`` keys, so the
    type walk is skipped (it dominates the cost for small objects); the
    serialization is the same.

    Raises:
        ValueError: a float is NaN or infinite (``json.loads`` accepts them) or a
            string is a lone surrogate.
    """
    return _dumps(obj)


def _dumps(obj: object) -> bytes:
    text = json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def _check(value: object, open_containers: set[int]) -> None:
    # json.dumps alone would turn int/None/bool keys into strings and tuples
    # into arrays, so two different events could serialize identically.
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is not dict and kind is not list:
        raise TypeError(f"cannot serialize {kind.__name__} as canonical JSON")
    if id(value) in open_containers:
        raise ValueError("structure contains itself")
    open_containers.add(id(value))
    # A scalar item is checked here rather than in a call of its own: an event is mostly scalars.
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"object keys must be str, not {type(key).__name__}")
            if type(item) not in _SCALARS:
                _check(item, open_containers)
    else:
        for item in value:
            if type(item) not in _SCALARS:
                _check(item, open_containers)
    open_containers.discard(id(value))
