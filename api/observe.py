"""Every request measured and logged once; ``/metrics`` for Prometheus.

After each request: ``piivault_http_requests_total`` and the latency histogram
under the route *template* (``/v1/subjects/<subject_id>``, never the path,
which may hold an id), and one log line ``request`` with the request id, the
client id, the route, the method, the status and the duration (JSON fields
with ``PIIVAULT_LOG_FORMAT=json``). Neither the query string nor the path is logged.

``/metrics`` is not behind the API keys: a scraper is no API client. It asks
for the bearer token in ``PIIVAULT_METRICS_TOKEN_FILE`` (read at each scrape,
so the file can be rotated without a restart), compared in constant time.
Without that file nobody can authenticate and it answers 401 in every
environment: the counters say how busy which client routes are, which is not
for everyone who reaches the port. ``piivault dev`` writes one to
``./var/metrics-token``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, g, request

from api.auth import Principal
from identity.clients.errors import InvalidApiKey, Unauthenticated
from piivault import metrics
from piivault.errors import UnavailableError
from piivault.gauges import DatabaseCollector
from vault import constant_time_equal

log = logging.getLogger("piivault.request")
blp = Blueprint("metrics", __name__)
_UNMATCHED = "<unmatched>"


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    if app.extensions["piivault"].settings.metrics:
        app.register_blueprint(blp)


def _start() -> None:
    g.piivault_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.get("piivault_started")
    duration = time.perf_counter() - started if started is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else _UNMATCHED
    status = str(response.status_code)
    method = metrics.method_label(request.method)
    metrics.labelled(metrics.HTTP_REQUESTS, method, route, status).inc()
    metrics.labelled(metrics.HTTP_LATENCY, method, route, status).observe(duration)
    if route != "/metrics" and not route.startswith("/healthz") and not route.startswith("/readyz"):
        _log_request(response, route, duration)
    return response


def _log_request(response: Response, route: str, duration: float) -> None:
    from api.tokens import request_id

    principal = g.get("principal")
    rid = request_id()  # the one the route used, or a new one (the caller's if it is a plain id)
    response.headers.setdefault("X-Request-Id", rid)
    fields = {
        "request_id": rid,
        "client_id": principal.client_id if isinstance(principal, Principal) else None,
        "route": route,
        "method": request.method,
        "status": response.status_code,
        "duration_ms": round(duration * 1000, 3),
    }
    log.info(
        "request %s %s %s %.1fms request_id=%s client_id=%s",
        fields["method"],
        route,
        fields["status"],
        fields["duration_ms"],
        rid or "-",
        fields["client_id"] or "-",
        extra=fields,
    )


def _token_file() -> Path | None:
    name = current_app.extensions["piivault"].settings.metrics_token_file
    return Path(name) if name else None


@blp.get("/metrics")
def scrape() -> Response:
    container = current_app.extensions["piivault"]
    settings = container.settings
    token_file = _token_file()
    given = request.headers.get("Authorization", "")
    # Without a configured token nobody may read the counters; a credential that is
    # not the token is refused as invalid (RFC 6750 invalid_token), as a wrong API key is.
    refused = InvalidApiKey() if given else Unauthenticated()
    if token_file is None:
        raise refused
    try:
        expected = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise UnavailableError("the metrics token file cannot be read") from None
    if not expected or not constant_time_equal(given.encode(), f"Bearer {expected}".encode()):
        raise refused
    body = metrics.render(DatabaseCollector(container.engine, settings.audit_merge_delay))
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
