"""Expected spans written as (field type, substring)."""

from __future__ import annotations


def spans(text: str, expected: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """(field type, substring) pairs -> (field type, start, end), each substring found once, in order."""
    result = []
    position = 0
    for field_type, value in expected:
        start = text.index(value, position)
        result.append((field_type, start, start + len(value)))
        position = start + len(value)
    return result
