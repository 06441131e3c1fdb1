"""What every resource shares: the transport, and JSON bodies without unset fields."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from piivault_client.errors import PiivaultError
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


def batches(items: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    """``(start, items[start:start + size])`` for each batch."""
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


@contextlib.contextmanager
def batch_errors(start: int, completed: list[Any]) -> Iterator[None]:
    """An error of the batch at ``start`` names items by their index in the whole input and keeps
    what the earlier batches returned (see :class:`~piivault_client.errors.PiivaultError`).
    """
    try:
        yield
    except PiivaultError as e:
        e.item_offset, e.completed = start, list(completed)
        raise
