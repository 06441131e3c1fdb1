"""What every resource shares: the transport, and JSON bodies without unset fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from piivault_client.transport import Transport

T = TypeVar("T")


class Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


def body(**fields: Any) -> dict[str, Any]:
    """A request body of the fields given: None left out (the API's default applies), times in ISO 8601."""
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else value
        for name, value in fields.items()
        if value is not None
    }


def seg(value: str) -> str:
    """One path segment: an id is quoted, so it cannot reach another path."""
    return quote(str(value), safe="")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
