"""/healthz (process up), /readyz (database and Vault usable) and /favicon.ico. No authentication."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from piivault.db import check_database
from piivault.errors import PiivaultError

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blp.get("/favicon.ico")
def favicon():
    # Browsers ask for it on every origin; an empty answer beats a 401 in their console.
    return Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


@blp.get("/readyz")
def readyz():
    container = current_app.extensions["piivault"]
    checks: dict[str, str] = {}
    ok = True
    try:
        check_database(container.engine)
        checks["database"] = "ok"
    except PiivaultError as e:
        checks["database"] = e.code
        ok = False
    try:
        container.provider.check()
        checks["vault"] = "ok"
    except PiivaultError as e:
        checks["vault"] = e.code
        ok = False
    resp = jsonify(status="ok" if ok else "unavailable", checks=checks)
    resp.status_code = 200 if ok else 503
    if not ok:
        resp.headers["Retry-After"] = "5"
    return resp
