"""The errors the client raises: one class per kind of refusal, each carrying the problem.

Every error response of the API is an RFC 9457 problem+json body; the client
raises a :class:`PiivaultError` subclass chosen by status (``NotFound``,
``Conflict``, ``ValidationFailed``...) with the body's fields as attributes.
A batch call that was accepted but refused some of its items raises
:class:`ItemsFailed` with one :class:`ItemError` per refused item, only when
asked to (``strict=True``).

Neither the client nor its errors include request values: the API never
puts them in a problem, and the client never adds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROBLEM_TYPE_PREFIX = "https://piivault.dev/problems/"


class PiivaultError(Exception):
    """The API answered with an error status; the attributes are its problem+json fields.

    ``type``, ``title``, ``status``, ``detail`` and ``errors`` (field -> messages,
    for a 422; rows for a refused import) are the RFC 9457 members, ``problem``
    the whole body (``{}`` when the answer was not JSON), ``retry_after`` the
    seconds the server asked to wait (429, 503) if it said.

    A batched call sends 1,000 items per request; when a later request is
    refused, ``completed`` holds the results of the ones before it (their
    tokens are stored) and :attr:`item_errors` counts indexes in the whole input.
    """

    def __init__(self, status: int, problem: Mapping[str, Any], *, retry_after: float | None = None) -> None:
        self.problem = dict(problem)
        self.status = status
        self.type: str = str(self.problem.get("type") or "about:blank")
        self.title: str = str(self.problem.get("title") or "")
        self.detail: str | None = self.problem.get("detail")
        self.errors: Any = self.problem.get("errors")
        self.retry_after = retry_after
        # Set by batched calls (tokenize, detokenize, attributes) when a later batch is refused.
        self.item_offset = 0
        self.completed: list[Any] = []
        super().__init__(f"{status} {self.title}: {self.detail or ''}".rstrip(": "))

    @property
    def code(self) -> str:
        """The problem type's last part, e.g. ``consent_conflict`` or ``404``: stable, for branching."""
        return self.type.removeprefix(PROBLEM_TYPE_PREFIX)

    @property
    def item_errors(self) -> list[ItemError]:
        """The items a batch call's 422 names (tokenize, detokenize, attributes, consent import),
        one per item and field, by index in the caller's input; ``[]`` when it names none.
        """
        return sorted(_item_errors(self.errors, self.item_offset), key=lambda e: e.index)


class BadRequest(PiivaultError):
    """400: the request could not be read (e.g. a body that is not JSON)."""


class Unauthorized(PiivaultError):
    """401: no key, a wrong one, or a revoked or expired one."""


class Forbidden(PiivaultError):
    """403: the key's role or purposes do not allow this."""


class NotFound(PiivaultError):
    """404: no such subject, request, extract, receipt, purpose or client."""


class Conflict(PiivaultError):
    """409: the resource is in a state that does not allow this (e.g. a closed request)."""


class Gone(PiivaultError):
    """410: it existed and was destroyed (an expired extract, an erased subject)."""


class PayloadTooLarge(PiivaultError):
    """413: more items or bytes than one request may carry."""


class ValidationFailed(PiivaultError):
    """422: the body or parameters are invalid; ``errors`` says where and why."""


class TooManyRequests(PiivaultError):
    """429: too many failed attempts from this address; retried, then raised."""


class ServiceUnavailable(PiivaultError):
    """503: OpenBao or the database is unavailable and nothing was done; retried, then raised."""


class ServerError(PiivaultError):
    """Any other 5xx: a bug in the server (it logs the type, never values)."""


_BY_STATUS: dict[int, type[PiivaultError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def error_for(status: int, problem: Mapping[str, Any], *, retry_after: float | None = None) -> PiivaultError:
    """The error to raise for an answer with ``status`` and body ``problem``."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else PiivaultError)
    return cls(status, problem, retry_after=retry_after)


@dataclass(frozen=True)
class ItemError:
    """One refused item of a batch: its position in the input and the API's reason.

    ``code`` is the rule that failed (tokenize: ``luhn``, ``length``...) or the
    refusal (detokenize: ``denied``, ``erased``...); ``message`` says why,
    never the value.
    """

    index: int
    code: str
    message: str | None = None
    field: str | None = None


def _item_errors(errors: Any, offset: int) -> Iterator[ItemError]:
    if not isinstance(errors, Mapping):
        return
    for row in errors.get("rows") or []:  # a consent import: {row, column, rule}
        if isinstance(row, Mapping) and isinstance(row.get("row"), int):
            yield ItemError(row["row"], str(row.get("rule")), row.get("message"), row.get("column"))
    body = errors.get("json")
    for key in ("items", "tokens"):  # marshmallow: {index: {field: [messages]}} or {index: [messages]}
        by_index = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(by_index, Mapping):
            continue
        for index, problems in by_index.items():
            if not str(index).isdigit():
                continue
            fields = problems.items() if isinstance(problems, Mapping) else [(None, problems)]
            for field, messages in fields:
                text = "; ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
                yield ItemError(offset + int(index), "invalid", text, field)


class ItemsFailed(Exception):
    """Some items of a batch were refused (``strict=True``); the others were processed.

    ``errors`` lists the refused ones, ``results`` holds every item's result
    in input order, so the caller can keep what succeeded.
    """

    def __init__(self, errors: Sequence[ItemError], results: Sequence[Mapping[str, Any]]) -> None:
        self.errors = list(errors)
        self.results = list(results)
        first = self.errors[0]
        super().__init__(
            f"{len(self.errors)} of {len(self.results)} items refused (first: #{first.index} {first.code})"
        )


class IntegrityError(Exception):
    """A downloaded file does not match the SHA-256 the server sent with it (``Repr-Digest``)."""
