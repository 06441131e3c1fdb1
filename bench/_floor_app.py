"""The floor with the guarantees, for ``bench/api.py``: the least a request can do.

``bench/_bare_app.py`` is the floor of Flask under the server: no database at all.
This app answers the next question: what do tokenize and detokenize cost when they
do the least that any service keeping piivault's promises must do, written straight
on Flask and psycopg with none of piivault's code? Both routes first check the API
key: HMAC-SHA256 under a server key, then one read of the client's row by that hash,
with its approval (role, purposes); then the JSON body.

``POST /v1/detokenize`` (a purpose the client holds, 1 to 1,000 tokens):

1. one read of the tokens' rows with their subjects' state;
2. AES-256-GCM open of each active subject's value under its data key, which is
   always at hand (as a hot key in piivault's cache: no Vault call), with the row
   bound as associated data;
3. one audit row per subject, inserted in one statement and committed
   (autocommit) before the response: the event precedes the value.

``POST /v1/tokenize`` (one item: a mobile number for an existing subject):

1. one read of the subject's state with the token its value already has, if any,
   found by a blind index (HMAC-SHA256 of the value): the same value, the same token;
2. else a new random token and the value sealed as above;
3. the token row and its audit row in one statement (a CTE), committed together.

Three statements each, as piivault's detokenize and its tokenize of a known
subject make (the key's row; the token rows, or the subject's state and keys;
the audit insert, or the token's with its audit rows in one statement), each prepared. What it does
not do, that piivault does: consent, restriction, grants and the answer budget
(decided in memory when the rows carry what they need); the key's approval is a
stored boolean, not a grant read with the row, and the key has no expiry or
revocation to check; idempotency keys; field types other than the mobile, and
batches, on tokenize; an audit row for a request whose tokens all do not exist;
problem+json beyond a title; metrics and request logging. One thing its detokenize
does that piivault's does not: it commits its own audit row, a WAL flush each, where
piivault's group commit shares one commit among the detokenizes that arrive together
(both tokenizes commit their own).
``setup`` creates its tables in a fresh schema and returns a key and tokens; the
app reads ``BENCH_FLOOR_DSN`` (a libpq DSN).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Response, request

_SERVER_KEY = b"floor-bench-server-key-not-secret"  # both sides of the bench know it
_MASTER = b"floor-bench-data-key-seed-000000"
_INDEX_KEY = b"floor-bench-blind-index-key-0000"
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _key_hash(api_key: str) -> bytes:
    return hmac.new(_SERVER_KEY, api_key.encode(), hashlib.sha256).digest()


@functools.cache  # every key at hand, as piivault's cache holds a hot one
def _data_key(subject: str) -> AESGCM:
    return AESGCM(hmac.new(_MASTER, subject.encode(), hashlib.sha256).digest())


def _blind(field_type: str, value: str) -> bytes:
    return hmac.new(_INDEX_KEY, f"{field_type}\x00{value}".encode(), hashlib.sha256).digest()


def _seal(subject: str, field_type: str, token: str, value: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _data_key(subject).encrypt(nonce, value.encode(), _aad(subject, field_type, token))


def _aad(subject: str, field_type: str, token: str) -> bytes:
    return f"{subject}\x00{field_type}\x00{token}".encode()


SCHEMA = """
CREATE TABLE floor_clients (key_hash bytea PRIMARY KEY, name text NOT NULL, role text NOT NULL,
                            purposes text[] NOT NULL, approved boolean NOT NULL);
CREATE TABLE floor_subjects (id text PRIMARY KEY, state text NOT NULL);
CREATE TABLE floor_tokens (token text PRIMARY KEY, subject_id text NOT NULL REFERENCES floor_subjects,
                           field_type text NOT NULL, blind bytea NOT NULL, sealed bytea NOT NULL,
                           UNIQUE (subject_id, field_type, blind));
CREATE TABLE floor_audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
                          actor text NOT NULL, action text NOT NULL, outcome text NOT NULL,
                          subject_id text, purpose text NOT NULL, details jsonb NOT NULL);
"""


def setup(dsn: str, values: list[dict]) -> tuple[str, list[str]]:
    """The floor's tables, filled with ``values`` (``field_type``, ``value``, ``subject_id``):
    an API key and the tokens, in the order of ``values``."""
    api_key = "floor_" + secrets.token_urlsafe(24)
    tokens = ["tok_" + secrets.token_urlsafe(16) for _ in values]
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO floor_clients VALUES (%s, 'bench-crm', 'service', %s, true)",
            (_key_hash(api_key), ["aml_kyc", "account_service"]),
        )
        subjects = sorted({v["subject_id"] for v in values})
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO floor_subjects VALUES (%s, 'active')", [(s,) for s in subjects])
            rows = [
                (
                    token,
                    v["subject_id"],
                    v["field_type"],
                    _blind(v["field_type"], v["value"]),
                    _seal(v["subject_id"], v["field_type"], token, v["value"]),
                )
                for token, v in zip(tokens, values, strict=True)
            ]
            cur.executemany("INSERT INTO floor_tokens VALUES (%s, %s, %s, %s, %s)", rows)
    return api_key, tokens


app = Flask(__name__)
_local = threading.local()

_CLIENT = "SELECT name, role, purposes FROM floor_clients WHERE key_hash = %s AND approved"
_TOKENS = (
    "SELECT t.token, t.subject_id, t.field_type, t.sealed, s.state FROM floor_tokens t "
    "JOIN floor_subjects s ON s.id = t.subject_id WHERE t.token = ANY(%s)"
)
_SUBJECT = (
    "SELECT s.state, t.token FROM floor_subjects s LEFT JOIN floor_tokens t "
    "ON t.subject_id = s.id AND t.field_type = %s AND t.blind = %s WHERE s.id = %s"
)
_INSERT = (
    "WITH made AS (INSERT INTO floor_tokens VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING "
    "RETURNING subject_id) INSERT INTO floor_audit (actor, action, outcome, subject_id, purpose, details) "
    "SELECT %s, 'tokenize', 'allowed', subject_id, '', '{\"tokens\": 1}' FROM made RETURNING id"
)
_REUSED = (
    "INSERT INTO floor_audit (actor, action, outcome, subject_id, purpose, details) "
    "VALUES (%s, 'tokenize', 'allowed', %s, '', '{\"tokens\": 1}')"
)
_AUDIT = (
    "INSERT INTO floor_audit (actor, action, outcome, subject_id, purpose, details) "
    "SELECT %s, 'detokenize', o, s, %s, d::jsonb "
    "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(o, s, d)"
)


def _conn() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(os.environ["BENCH_FLOOR_DSN"], autocommit=True)
    return conn


def _problem(status: int, title: str) -> Response:
    return Response(
        json.dumps({"title": title, "status": status}), status, mimetype="application/problem+json"
    )


def _client(conn: psycopg.Connection) -> tuple[str, str, list[str]] | None:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not credential:
        return None
    return conn.execute(_CLIENT, (_key_hash(credential),), prepare=True).fetchone()


@app.post("/v1/tokenize")
def tokenize() -> Response:
    conn = _conn()
    client = _client(conn)
    if client is None:
        return _problem(401, "unknown API key")
    name, role, _ = client
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"items"} or not isinstance(body["items"], list):
        return _problem(422, "expected items")
    if len(body["items"]) != 1 or not isinstance(item := body["items"][0], dict):
        return _problem(422, "one item")
    field_type, value, subject = item.get("field_type"), item.get("value"), item.get("subject_id")
    if (
        set(item) != {"field_type", "value", "subject_id"}
        or field_type != "cn_mobile"
        or not isinstance(subject, str)
    ):
        return _problem(422, "expected field_type cn_mobile, value and subject_id")
    if not isinstance(value, str) or not _MOBILE.fullmatch(value):
        return _problem(422, "not a mobile number")
    if role != "service":
        return _problem(403, "role may not tokenize")
    blind = _blind(field_type, value)
    for _ in range(2):  # a concurrent request may insert the same value first: then read its token
        found = conn.execute(_SUBJECT, (field_type, blind, subject), prepare=True).fetchone()
        if found is None or found[0] != "active":
            return _problem(409, "no such active subject")
        if found[1] is not None:  # the same value's token, audited as piivault does
            conn.execute(_REUSED, (name, subject), prepare=True)
            return Response(json.dumps({"items": [{"token": found[1]}]}), mimetype="application/json")
        token = "tok_" + secrets.token_urlsafe(16)
        sealed = _seal(subject, field_type, token, value)
        made = conn.execute(_INSERT, (token, subject, field_type, blind, sealed, name), prepare=True)
        if made.fetchone() is not None:
            return Response(json.dumps({"items": [{"token": token}]}), mimetype="application/json")
    return _problem(503, "try again")


@app.post("/v1/detokenize")
def detokenize() -> Response:
    conn = _conn()
    client = _client(conn)
    if client is None:
        return _problem(401, "unknown API key")
    name, role, purposes = client
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"purpose", "tokens"}:
        return _problem(422, "expected purpose and tokens")
    purpose, tokens = body["purpose"], body["tokens"]
    if (
        not isinstance(tokens, list)
        or not 1 <= len(tokens) <= 1000
        or not all(isinstance(t, str) for t in tokens)
    ):
        return _problem(422, "tokens: 1 to 1,000 strings")
    if role != "service" or purpose not in purposes:
        return _problem(403, "purpose not permitted")
    answers: dict[str, dict] = {}
    per_subject: dict[tuple[str, str], int] = {}
    for token, subject, field_type, sealed, state in conn.execute(_TOKENS, (tokens,), prepare=True):
        if state != "active":
            answers[token] = {"error": "denied", "reason": "erased"}
            per_subject[(subject, "denied")] = per_subject.get((subject, "denied"), 0) + 1
            continue
        value = _data_key(subject).decrypt(sealed[:12], sealed[12:], _aad(subject, field_type, token))
        answers[token] = {"value": value.decode()}
        per_subject[(subject, "allowed")] = per_subject.get((subject, "allowed"), 0) + 1
    if per_subject:
        keys = sorted(per_subject)
        details = [json.dumps({"tokens": per_subject[k]}) for k in keys]
        conn.execute(
            _AUDIT, (name, purpose, [o for _, o in keys], [s for s, _ in keys], details), prepare=True
        )
    items = [answers.get(t, {"error": "not_found", "reason": "no such token"}) for t in tokens]
    return Response(json.dumps({"items": items}), mimetype="application/json")


@app.get("/readyz")
def ready() -> str:
    return "ok"
