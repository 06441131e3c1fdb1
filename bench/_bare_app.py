"""The floor for ``bench/api.py``: a bare Flask app under the same gunicorn, no piivault.

``POST /v1/detokenize`` parses the JSON body and answers one item, as piivault's
route does in shape, with no authentication, database, Vault or audit: what the
WSGI server, Flask and the load generator cost by themselves.
"""

from __future__ import annotations

from flask import Flask, Response, json, request

app = Flask(__name__)


@app.post("/v1/detokenize")
def detokenize() -> Response:
    body = request.get_json()
    items = [{"value": "x" * 11} for _ in body["tokens"]]
    return Response(json.dumps({"items": items}), mimetype="application/json")


@app.get("/readyz")
def ready() -> str:
    return "ok"
