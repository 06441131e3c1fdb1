"""One error shape for every response: RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from piivault import metrics
from piivault.errors import PiivaultError, StorageUnavailable, UnavailableError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://piivault.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (code or str(status)),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register(app: Flask) -> None:
    @app.errorhandler(PiivaultError)
    def _domain(err: PiivaultError) -> Response:
        headers: dict[str, str] = {}
        extra_headers = getattr(err, "http_headers", None)  # e.g. WWW-Authenticate, Retry-After
        if callable(extra_headers):
            headers.update(extra_headers())
        if isinstance(err, UnavailableError):
            headers["Retry-After"] = str(err.retry_after)
            if isinstance(err, StorageUnavailable):
                metrics.DATABASE_ERRORS.labels(kind=metrics.code(err.code)).inc()
            log.warning("dependency unavailable: %s", err.code)
        status = err.http_status
        if status >= 500 and not isinstance(err, UnavailableError):
            log.error("internal error: %s", err.code)
        fields = getattr(err, "problem_fields", None)  # e.g. the approval request to ask for
        extra = fields() if callable(fields) else {}
        return problem(
            status, err.code.replace("_", " "), err.message, code=err.code, headers=headers, **extra
        )

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        extra: dict[str, Any] = {}
        data = getattr(err, "data", None)  # flask-smorest / webargs validation messages
        if isinstance(data, dict) and "messages" in data:
            extra["errors"] = data["messages"]
        detail = err.description if not extra else "the request body or parameters are invalid"
        headers = dict(err.get_headers()) if err.code in (401, 405, 429) else {}
        headers.pop("Content-Type", None)
        return problem(err.code or 500, err.name, detail, headers=headers, **extra)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        from piivault.db import is_unavailable

        if is_unavailable(err):
            metrics.DATABASE_ERRORS.labels(kind="unavailable").inc()
            return problem(
                503,
                "storage unavailable",
                "the database is unavailable; retry later",
                code="storage_unavailable",
                headers={"Retry-After": "5"},
            )
        # Log the type only: exception text may carry values.
        log.error("unhandled %s in request", type(err).__name__)
        return problem(500, "Internal Server Error", "an unexpected error occurred")
