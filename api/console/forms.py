"""Reading HTML forms strictly: known fields only, typed values, errors as catalogue keys.

Browsers send exactly the fields a form has, so an unexpected field is a
forged or stale form and the whole submission is refused. Each reader returns
the value or records a :class:`FieldError` (a message-catalogue key and its
parameters) under the field's name; nothing a user typed is put in a message.
Flask-free: takes any mapping with ``getlist`` (a werkzeug ``MultiDict``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Collection, Iterable
from typing import Any, Protocol

CSRF_FIELD = "csrf_token"


class MultiMapping(Protocol):
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> Iterable[str]: ...


@dataclasses.dataclass(frozen=True)
class FieldError:
    key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


class UnexpectedField(Exception):
    """The form has a field it should not have: refuse it whole."""


class Form:
    """One submitted form. Read fields with the typed readers, then check :attr:`errors`."""

    def __init__(self, data: MultiMapping, allowed: Collection[str]) -> None:
        unexpected = set(data.keys()) - set(allowed) - {CSRF_FIELD}
        if unexpected:
            raise UnexpectedField()
        self._data = data
        self.errors: dict[str, FieldError] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, name: str, key: str, **params: Any) -> None:
        self.errors.setdefault(name, FieldError(key, params))

    def _one(self, name: str) -> str | None:
        values = self._data.getlist(name)
        if len(values) > 1:
            self.fail(name, "form.one_value")
            return None
        return values[0] if values else None

    def text(self, name: str, *, required: bool = False, max_length: int = 200) -> str | None:
        """Trimmed text; None when empty and not required."""
        raw = self._one(name)
        value = (raw or "").strip()
        if not value:
            if required:
                self.fail(name, "form.required")
            return None
        if len(value) > max_length:
            self.fail(name, "form.too_long", n=max_length)
            return None
        return value

    def secret(self, name: str, *, required: bool = True) -> str | None:
        """A password as typed (not trimmed)."""
        raw = self._one(name)
        if not raw:
            if required:
                self.fail(name, "form.required")
            return None
        return raw

    def choice(self, name: str, choices: Collection[str], *, required: bool = True) -> str | None:
        value = (self._one(name) or "").strip()
        if not value:
            if required:
                self.fail(name, "form.required")
            return None
        if value not in choices:
            self.fail(name, "form.choice")
            return None
        return value

    def choices(self, name: str, choices: Collection[str]) -> list[str]:
        values = [v.strip() for v in self._data.getlist(name) if v.strip()]
        if any(v not in choices for v in values):
            self.fail(name, "form.choice")
            return []
        return list(dict.fromkeys(values))

    def flag(self, name: str) -> bool:
        """A checkbox: present (any value) is true."""
        return bool(self._data.getlist(name))

    def integer(self, name: str, *, lo: int, hi: int, required: bool = False) -> int | None:
        value = (self._one(name) or "").strip()
        if not value:
            if required:
                self.fail(name, "form.required")
            return None
        if not value.isdigit() or not lo <= int(value) <= hi:
            self.fail(name, "form.integer", lo=lo, hi=hi)
            return None
        return int(value)

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        value = (self._one(name) or "").strip()
        if not value:
            if required:
                self.fail(name, "form.required")
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(name, "form.date")
            return None

    def local_time(self, name: str, zone: str) -> dt.datetime | None:
        """A ``datetime-local`` input, read in ``zone``, as an aware UTC datetime."""
        value = (self._one(name) or "").strip()
        if not value:
            return None
        try:
            naive = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, "form.datetime")
            return None
        if naive.tzinfo is not None:
            self.fail(name, "form.datetime")
            return None
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)

    def lines(self, name: str, *, max_items: int, max_length: int = 200) -> list[str]:
        """A textarea with one entry per line."""
        raw = self._one(name) or ""
        items = [line.strip() for line in raw.splitlines() if line.strip()]
        if len(items) > max_items:
            self.fail(name, "form.too_many", n=max_items)
            return []
        if any(len(i) > max_length for i in items):
            self.fail(name, "form.too_long", n=max_length)
            return []
        return items


def end_of_day(day: dt.date, zone: str) -> dt.datetime:
    """The first instant after ``day`` in ``zone`` (a date-only input means "until the end of that day")."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zoneinfo.ZoneInfo(zone)).astimezone(
        dt.UTC
    )
