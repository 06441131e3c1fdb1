"""Small validators for the extract spec: each records a problem under its key path and goes on.

Collecting every problem at once lets an analyst fix a spec in one round; the
caller raises :class:`~anonymize.extract.errors.InvalidSpec` with all of them.
Messages name the key and the rule, never echo the offending value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class Problems(dict[str, list[str]]):
    """Key path -> what is wrong there; one key may break several rules, each is kept."""

    def add(self, path: str, problem: str) -> None:
        found = self.setdefault(path, [])
        if problem not in found:
            found.append(problem)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def mapping(
    raw: Any,
    path: str,
    problems: Problems,
    *,
    allowed: frozenset[str],
    required: frozenset[str] = frozenset(),
) -> Mapping[str, Any] | None:
    """The known keys of ``raw``, or None if it is not a mapping or lacks a ``required`` key.

    Unknown keys are recorded as problems and left out, so the known ones can still be checked.
    """
    if not isinstance(raw, Mapping):
        problems.add(path or "spec", "must be a mapping")
        return None
    known: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.add(path or "spec", "keys must be strings")
        elif key not in allowed:
            problems.add(join(path, key), "unknown key")
        else:
            known[key] = value
    missing = sorted(required - set(known))
    for key in missing:
        problems.add(join(path, key), "is required")
    return None if missing else known


def integer(raw: Any, path: str, problems: Problems, *, minimum: int | None = None) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.add(path, "must be an integer")
        return None
    if minimum is not None and raw < minimum:
        problems.add(path, f"must be at least {minimum}")
        return None
    return raw


def number(
    raw: Any,
    path: str,
    problems: Problems,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(path, "must be a finite number")
        return None
    if minimum is not None and (raw < minimum or (exclusive_minimum and raw == minimum)):
        problems.add(path, f"must be {'greater than' if exclusive_minimum else 'at least'} {minimum:g}")
        return None
    if maximum is not None and (raw > maximum or (exclusive_maximum and raw == maximum)):
        problems.add(path, f"must be {'less than' if exclusive_maximum else 'at most'} {maximum:g}")
        return None
    return raw


def text(raw: Any, path: str, problems: Problems, *, max_length: int = 200) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(path, "must be a non-empty string")
        return None
    if len(raw) > max_length:
        problems.add(path, f"must be at most {max_length} characters")
        return None
    return raw


def boolean(raw: Any, path: str, problems: Problems) -> bool | None:
    if not isinstance(raw, bool):
        problems.add(path, "must be true or false")
        return None
    return raw


def choice(raw: Any, path: str, problems: Problems, options: tuple[str, ...]) -> str | None:
    if raw not in options:
        problems.add(path, "must be one of " + ", ".join(options))
        return None
    return raw
