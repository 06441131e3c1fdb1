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

``POST /cold/v1/tokenize`` is the same tokenize with the subject's data key cold, as in
piivault's closed-loop tokenize phase, whose customers' keys the worker has not cached:
the read also takes the key, wrapped under a Transit key (``setup``'s ``vault``), and
one Transit decrypt over a kept ``http.client`` connection unwraps it before the seal.

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
app reads ``BENCH_FLOOR_DSN`` (a libpq DSN), and for the cold route
``BENCH_FLOOR_VAULT_ADDR`` and ``BENCH_FLOOR_VAULT_TOKEN``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import threading
from urllib.parse import urlsplit

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Response, request

_SERVER_KEY = b"floor-bench-server-key-not-secret"  # both sides of the bench know it
_MASTER = b"floor-bench-data-key-seed-000000"
_INDEX_KEY = b"floor-bench-blind-index-key-0000"
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _key_hash(api_key: str) -> bytes:
    return hmac.new(_SERVER_KEY, api_key.encode(), hashlib.sha256).digest()


_KEK = "floor-kek"  # the Transit key the subjects' data keys are wrapped under


def _key_material(subject: str) -> bytes:
    return hmac.new(_MASTER, subject.encode(), hashlib.sha256).digest()


@functools.cache  # every key at hand, as piivault's cache holds a hot one
def _data_key(subject: str) -> AESGCM:
    return AESGCM(_key_material(subject))


def _blind(field_type: str, value: str) -> bytes:
    return hmac.new(_INDEX_KEY, f"{field_type}\x00{value}".encode(), hashlib.sha256).digest()


def _seal(subject: str, field_type: str, token: str, value: str, key: AESGCM | None = None) -> bytes:
    nonce = secrets.token_bytes(12)
    key = key or _data_key(subject)
    return nonce + key.encrypt(nonce, value.encode(), _aad(subject, field_type, token))


def _aad(subject: str, field_type: str, token: str) -> bytes:
    return f"{subject}\x00{field_type}\x00{token}".encode()


SCHEMA = """
CREATE TABLE floor_clients (key_hash bytea PRIMARY KEY, name text NOT NULL, role text NOT NULL,
                            purposes text[] NOT NULL, approved boolean NOT NULL);
CREATE TABLE floor_subjects (id text PRIMARY KEY, state text NOT NULL, wrapped text NOT NULL);
CREATE TABLE floor_tokens (token text PRIMARY KEY, subject_id text NOT NULL REFERENCES floor_subjects,
                           field_type text NOT NULL, blind bytea NOT NULL, sealed bytea NOT NULL,
                           UNIQUE (subject_id, field_type, blind));
CREATE TABLE floor_audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
                          actor text NOT NULL, action text NOT NULL, outcome text NOT NULL,
                          subject_id text, purpose text NOT NULL, details jsonb NOT NULL);
"""


def setup(dsn: str, values: list[dict], vault: tuple[str, str]) -> tuple[str, list[str]]:
    """The floor's tables, filled with ``values`` (``field_type``, ``value``, ``subject_id``):
    an API key and the tokens, in the order of ``values``. Each subject's data key is stored
    wrapped under a Transit key made in ``vault`` (address, token) for the cold route."""
    api_key = "floor_" + secrets.token_urlsafe(24)
    tokens = ["tok_" + secrets.token_urlsafe(16) for _ in values]
    subjects = sorted({v["subject_id"] for v in values})
    vault_conn = _Transit(*vault)
    vault_conn.post("/v1/sys/mounts/transit", {"type": "transit"}, expect=(200, 204, 400))  # 400: mounted
    vault_conn.post(f"/v1/transit/keys/{_KEK}", {}, expect=(200, 204))
    wrapped: list[str] = []
    for i in range(0, len(subjects), 250):  # OpenBao refuses a JSON body of too many strings
        batch = [{"plaintext": base64.b64encode(_key_material(s)).decode()} for s in subjects[i : i + 250]]
        answer = vault_conn.post(f"/v1/transit/encrypt/{_KEK}", {"batch_input": batch})
        wrapped += [item["ciphertext"] for item in answer["data"]["batch_results"]]
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO floor_clients VALUES (%s, 'bench-crm', 'service', %s, true)",
            (_key_hash(api_key), ["aml_kyc", "account_service"]),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO floor_subjects VALUES (%s, 'active', %s)",
                list(zip(subjects, wrapped, strict=True)),
            )
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


class _Transit:
    """Transit over one kept ``http.client`` connection: the least a Vault call costs the caller."""

    def __init__(self, addr: str, token: str) -> None:
        parts = urlsplit(addr)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
        self._headers = {"Content-Type": "application/json", "X-Vault-Token": token}

    def post(self, path: str, payload: dict, expect: tuple[int, ...] = (200,)) -> dict:
        self._conn.request("POST", path, json.dumps(payload).encode(), self._headers)
        response = self._conn.getresponse()
        data = response.read()
        if response.status not in expect:
            raise RuntimeError(f"Transit answered {response.status} to {path}")
        return json.loads(data) if data else {}

    def unwrap(self, wrapped: str) -> AESGCM:
        answer = self.post(f"/v1/transit/decrypt/{_KEK}", {"ciphertext": wrapped})
        return AESGCM(base64.b64decode(answer["data"]["plaintext"]))


app = Flask(__name__)
_local = threading.local()

_CLIENT = "SELECT name, role, purposes FROM floor_clients WHERE key_hash = %s AND approved"
_TOKENS = (
    "SELECT t.token, t.subject_id, t.field_type, t.sealed, s.state FROM floor_tokens t "
    "JOIN floor_subjects s ON s.id = t.subject_id WHERE t.token = ANY(%s)"
)
_SUBJECT = (
    "SELECT s.state, t.token, {key} FROM floor_subjects s LEFT JOIN floor_tokens t "
    "ON t.subject_id = s.id AND t.field_type = %s AND t.blind = %s WHERE s.id = %s"
)
_SUBJECT_HOT, _SUBJECT_COLD = _SUBJECT.format(key="NULL"), _SUBJECT.format(key="s.wrapped")
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


def _transit() -> _Transit:
    transit = getattr(_local, "transit", None)
    if transit is None:
        env = os.environ
        transit = _local.transit = _Transit(env["BENCH_FLOOR_VAULT_ADDR"], env["BENCH_FLOOR_VAULT_TOKEN"])
    return transit


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
    return _tokenize(cold=False)


@app.post("/cold/v1/tokenize")
def tokenize_cold() -> Response:
    return _tokenize(cold=True)


def _tokenize(*, cold: bool) -> Response:
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
        found = conn.execute(
            _SUBJECT_COLD if cold else _SUBJECT_HOT, (field_type, blind, subject), prepare=True
        ).fetchone()
        if found is None or found[0] != "active":
            return _problem(409, "no such active subject")
        if found[1] is not None:  # the same value's token, audited as piivault does
            conn.execute(_REUSED, (name, subject), prepare=True)
            return Response(json.dumps({"items": [{"token": found[1]}]}), mimetype="application/json")
        token = "tok_" + secrets.token_urlsafe(16)
        key = _transit().unwrap(found[2]) if cold else None
        sealed = _seal(subject, field_type, token, value, key)
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
