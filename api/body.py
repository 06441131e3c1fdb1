"""Where a request body enters the API: one gate for every operation in the OpenAPI document.

Each operation's ``requestBody`` (its media types, whether it is required) comes
from the document itself, so what ``/openapi.json`` says is what the server
enforces, and a new endpoint is covered as soon as it is registered. In order,
before the view runs:

1. the caller's role (403, the view's :func:`api.auth.require_roles` check), so a
   caller who may not use the operation learns nothing from how its body is judged;
2. a query parameter the operation does not document (422, like an unknown field);
3. a required body that is missing (400 ``body_required``);
4. a media type the operation does not take, or JSON in a charset other than
   UTF-8 (415 ``unsupported_media_type``);
5. for JSON, the body is read (413 past ``PIIVAULT_MAX_REQUEST_BYTES``, chunked
   or not) and decoded by :func:`decode_json` (400 ``invalid_json``).

U+0000 (NUL) is refused wherever a request carries text (path, query, body; 400
``nul_character``): no value the API stores or looks up can hold it (PostgreSQL's
text cannot), so it is an error at the door rather than in the database.

The decoded body is what ``request.get_json()`` returns; schema validation
(422) comes after, in the views.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_smorest.spec.plugins import FlaskPlugin
from werkzeug.exceptions import UnprocessableEntity

from piivault.errors import PiivaultError

MAX_DEPTH = 32  # arrays and objects; the deepest body any operation takes is 4
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT64_DIGITS = 19
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LEAF_PAIR = re.compile(r"\[\]|\{\}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_CHARSETS = frozenset({"utf-8", "utf8"})
F = TypeVar("F", bound=Callable[..., Any])


class InvalidJson(PiivaultError):
    """The request body is not acceptable JSON."""

    code = "invalid_json"
    http_status = 400


class NulCharacter(PiivaultError):
    """The request carries U+0000, which no stored or looked-up text can hold."""

    code = "nul_character"
    http_status = 400


class BodyRequired(PiivaultError):
    """This operation needs a request body."""

    code = "body_required"
    http_status = 400


class UnsupportedMediaType(PiivaultError):
    """The request body's media type is not one this operation takes."""

    code = "unsupported_media_type"
    http_status = 415


# -- decoding ---------------------------------------------------------------------------------
def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Last-wins would let {"role": "auditor", "role": "admin"} pass a review of the first.
        raise InvalidJson("an object has the same key twice")
    return obj


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > _INT64_DIGITS or not INT64_MIN <= (number := int(literal)) <= INT64_MAX:
        raise InvalidJson("an integer is outside the 64-bit range")
    return number


def _number(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise InvalidJson("a number is too large")
    return number


def _constant(name: str) -> float:
    raise InvalidJson(f"{name} is not a JSON number")


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    # Each pass removes the innermost level: what is left after MAX_DEPTH passes is deeper.
    for _ in range(MAX_DEPTH):
        if not brackets:
            return
        brackets = _LEAF_PAIR.sub("", brackets)
    if brackets:
        raise InvalidJson(f"arrays and objects are nested deeper than {MAX_DEPTH} levels, or unbalanced")


def decode_json(data: bytes) -> Any:
    """The value of a UTF-8 JSON document, decoded strictly.

    Raises :class:`InvalidJson` for bytes that are not UTF-8 or not JSON, an
    object with a key twice, nesting deeper than :data:`MAX_DEPTH`, an integer
    outside 64 bits, a number too large for a float, ``NaN``/``Infinity``, and
    a ``\\u`` escape of a lone surrogate (a string that cannot be stored or
    encoded), and :class:`NulCharacter` for U+0000 in a string or a key. The
    message says which rule, never the value.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("the body is not valid UTF-8") from None
    _check_depth(text)
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_int=_integer, parse_float=_number, parse_constant=_constant
        )
    except InvalidJson:
        raise
    except (ValueError, RecursionError) as e:
        # JSONDecodeError's message names a position, never the text.
        message = e.msg if isinstance(e, json.JSONDecodeError) else "the body is not valid JSON"
        raise InvalidJson(f"the body is not valid JSON: {message}") from None
    if _SURROGATE_ESCAPE.search(text):
        # Escapes of paired surrogates decode to one character; a lone one stays and
        # cannot be encoded (a database, a log line, a hash all need UTF-8).
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJson("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    if "\\u0000" in text and _holds_nul(value):
        raise NulCharacter("a string in the body holds U+0000 (NUL)")
    return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


# -- the gate ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one operation's body."""

    body_required: bool
    media_types: frozenset[str]
    query: frozenset[str]


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def operations_from_spec(spec: Mapping[str, Any]) -> dict[tuple[str, str], Operation]:
    """``(OpenAPI path, METHOD) -> Operation`` for every operation in ``spec``."""
    found: dict[tuple[str, str], Operation] = {}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            body = operation.get("requestBody") or {}
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            found[(path, method.upper())] = Operation(
                body_required=bool(body.get("required")),
                media_types=frozenset(body.get("content", {})),
                query=frozenset(p["name"] for p in parameters if p.get("in") == "query"),
            )
    return found


def init_app(app: Flask, spec: Callable[[], Mapping[str, Any]]) -> None:
    """Guard every request to ``app`` with the gate; ``spec`` is read on the first request.

    Register it after authentication: the role check needs the caller.
    """
    state: dict[str, dict[tuple[str, str], Operation]] = {}

    def operations() -> dict[tuple[str, str], Operation]:
        if "ops" not in state:
            state["ops"] = operations_from_spec(spec())
        return state["ops"]

    def gate() -> None:
        if request.url_rule is None:
            return
        operation = operations().get((FlaskPlugin.flaskpath2openapi(request.url_rule.rule), request.method))
        if operation is None:
            return
        view = _view_method()
        if (role_check := getattr(view, "role_check", None)) is not None:
            role_check()
        if "\x00" in request.path or any(
            "\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)
        ):
            raise NulCharacter("the path or query holds U+0000 (NUL)")
        if unknown := request.args.keys() - operation.query:
            # As for unknown fields in a body: a misspelt parameter is an error, not ignored.
            error = UnprocessableEntity()
            error.data = {"messages": {"query": {name[:64]: ["Unknown field."] for name in sorted(unknown)}}}
            raise error
        if (limit := getattr(view, "max_body_bytes", None)) is not None:
            request.max_content_length = limit()
        if operation.media_types:
            _check_body(operation)

    app.before_request(gate)


def url_holds_nul() -> bool:
    """Whether this request's path or a query parameter (name or value) holds U+0000."""
    return "\x00" in request.path or any(
        "\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)
    )


def max_body_bytes(limit: Callable[[], int]) -> Callable[[F], F]:
    """Decorate a view that takes bodies larger than ``PIIVAULT_MAX_REQUEST_BYTES``: ``limit()`` instead."""

    def decorator(view: F) -> F:
        view.max_body_bytes = limit  # type: ignore[attr-defined]
        return view

    return decorator


def _view_method() -> Any:
    """The function that serves this request (a MethodView's method for its HTTP method)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(getattr(view, "view_class", None), request.method.lower(), view)


def _read_body() -> bytes:
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        # A chunked body is cut at the limit without an error (werkzeug's LimitedStream.readall
        # stops there): one more byte raises RequestEntityTooLarge (413) if there is more.
        request.stream.read(1)
    return data


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _check_body(operation: Operation) -> None:
    if not _has_body():
        if operation.body_required:
            raise BodyRequired(f"this operation needs a body: {', '.join(sorted(operation.media_types))}")
        return
    mimetype = request.mimetype
    if mimetype not in operation.media_types:
        raise UnsupportedMediaType(
            f"send the body as {' or '.join(sorted(operation.media_types))} (Content-Type)"
        )
    if not _is_json(mimetype):
        if b"\x00" in _read_body():
            raise NulCharacter("the body holds U+0000 (NUL)")
        return
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in _JSON_CHARSETS:
        raise UnsupportedMediaType("JSON must be sent as UTF-8 (charset=utf-8, or no charset)")
    value = decode_json(_read_body())
    # What request.get_json() returns from now on (Flask's cache of the parsed body).
    request._cached_json = (value, value)  # type: ignore[attr-defined]
