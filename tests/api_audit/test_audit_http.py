"""/v1/audit over HTTP: roles, checkpoints and the published key, search, verification.

Proofs, exposure and the subject export are in test_audit_proofs_http.py; the traffic and
checkpoint helpers both use are in conftest.py.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit.merkle import leaf_hash
from audit.note import open_checkpoint
from piivault.cli import main
from tests.api_audit.conftest import (
    ID_NUMBER,
    MOBILE,
    ROLES,
    SUBJECT,
    checkpoint,
    logged,
    public_key,
    reads,
    traffic,
)
from tests.audit.conftest import append, settings_env, tampering

ALLOWED = ("auditor", "dpo")
ENDPOINTS = [
    ("get", "/v1/audit/checkpoint", None),
    ("post", "/v1/audit/checkpoint", {}),
    ("get", "/v1/audit/public-key", None),
    ("get", "/v1/audit/events", None),
    ("get", "/v1/audit/events/0/proof", None),
    ("get", "/v1/audit/consistency?first=1", None),
    ("get", "/v1/audit/exposure?actor=client:x&since=2020-01-01T00:00:00Z", None),
    ("get", f"/v1/audit/subjects/{SUBJECT}/export", None),
    ("get", "/v1/audit/verify", None),
    ("post", "/v1/audit/verify", {}),
]


def _call(client, method, url, body, headers):
    kwargs = {"json": body} if body is not None else {}
    return getattr(client, method)(url, headers=headers, **kwargs)


# -- roles -------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_only_auditors_and_dpos(client, keys, method, url, body):
    assert _call(client, method, url, body, {}).status_code == 401
    for role in ROLES:
        resp = _call(client, method, url, body, keys[role])
        if role in ALLOWED:
            assert resp.status_code not in (401, 403), (role, resp.json)
        else:
            assert resp.status_code == 403, role
            assert resp.mimetype == "application/problem+json"
            assert resp.json["detail"] == "this operation needs the role auditor or dpo"


def test_documented_in_openapi(client):
    spec = client.get("/openapi.json").json
    paths = {
        "/v1/audit/checkpoint": ("get", "post"),
        "/v1/audit/public-key": ("get",),
        "/v1/audit/events": ("get",),
        "/v1/audit/events/{seq}/proof": ("get",),
        "/v1/audit/consistency": ("get",),
        "/v1/audit/exposure": ("get",),
        "/v1/audit/subjects/{subject_id}/export": ("get",),
        "/v1/audit/verify": ("get", "post"),
    }
    for path, methods in paths.items():
        for method in methods:
            operation = spec["paths"][path][method]
            assert operation["x-required-roles"] == ["auditor", "dpo"], (path, method)
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
    note = spec["paths"]["/v1/audit/checkpoint"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/plain"} <= set(note)
    names = {p["name"] for p in spec["paths"]["/v1/audit/events"]["get"]["parameters"]}
    assert {"subject", "actor", "action", "since", "until", "limit", "cursor"} <= names


# -- checkpoints and the key ----------------------------------------------------------------
def test_checkpoint_signature_verifies_with_the_published_key(client, keys, container, tmp_path):
    traffic(client, keys)
    cut = checkpoint(client, keys, role="dpo")
    origin, key = public_key(client, keys)
    signed = open_checkpoint(cut["note"], origin, key, origin=origin)
    assert (signed.size, signed.root_hash.hex(), signed.timestamp) == (
        cut["size"],
        cut["root_hash"],
        cut["timestamp"],
    )
    assert cut["origin"] == origin and cut["time"].endswith("Z")
    assert [e["action"] for e in logged(container)][cut["size"]] == "audit.checkpoint"

    latest = client.get("/v1/audit/checkpoint", headers=keys["auditor"])
    assert latest.status_code == 200 and latest.json == cut
    note = client.get("/v1/audit/checkpoint?format=note", headers=keys["auditor"])
    assert note.status_code == 200 and note.mimetype == "text/plain"
    assert note.get_data(as_text=True) == cut["note"]
    assert "attachment" in note.headers["Content-Disposition"]

    # The saved note is what `piivault audit verify --checkpoint FILE` takes, with the published key.
    saved = tmp_path / "checkpoint.note"
    saved.write_bytes(note.get_data())
    vkey = client.get("/v1/audit/public-key", headers=keys["dpo"]).json["verifier_key"]
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--checkpoint", str(saved), "--key", vkey, "--json"],
        env=settings_env(container.settings),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["saved_checkpoint_size"] == cut["size"]


def test_no_checkpoint_yet_is_404(client, container):
    container.settings = container.settings.replace(audit_sequence_inline=False)  # nothing sequenced
    _, key = container.clients.create(name="t-auditor", role="auditor", actor="test")
    resp = client.get("/v1/audit/checkpoint", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 404 and resp.json["type"].endswith("/audit_no_checkpoint")
    assert "POST /v1/audit/checkpoint" in resp.json["detail"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/v1/audit/checkpoint?format=pdf", None),
        ("/v1/audit/checkpoint?fromat=note", None),
        ("/v1/audit/checkpoint", {"size": 3}),
        ("/v1/audit/verify", {"checkpoint": "x", "extra": True}),
    ],
)
def test_unknown_and_bad_parameters_are_422(client, keys, url, body):
    checkpoint(client, keys)
    resp = (
        client.post(url, json=body, headers=keys["auditor"])
        if body
        else client.get(url, headers=keys["auditor"])
    )
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.json


# -- search ----------------------------------------------------------------------------------
def test_search_filters_pages_and_is_audited_once_per_request(client, keys, container):
    traffic(client, keys)
    append(container, 7, actor="batch-job", action="export", subject_id=SUBJECT)
    by_subject = client.get(f"/v1/audit/events?subject={SUBJECT}", headers=keys["auditor"])
    assert by_subject.status_code == 200
    events = by_subject.json["events"]
    assert {e["subject_id"] for e in events} == {SUBJECT}
    assert {"tokenize", "detokenize", "export"} <= {e["action"] for e in events}
    for e in events:  # as stored: the hashed entry, parsed, and its leaf hash
        assert json.loads(e["entry"]) == e["event"] and e["event"]["seq"] == e["seq"]
        assert leaf_hash(e["entry"].encode()).hex() == e["leaf_hash"]

    service = keys["actors"]["service"]
    detok = client.get(f"/v1/audit/events?actor={service}&action=detokenize", headers=keys["dpo"]).json
    assert [e["action"] for e in detok["events"]] == ["detokenize", "detokenize"]
    assert {e["actor"] for e in detok["events"]} == {service}

    pages, cursor = [], None
    while True:
        url = "/v1/audit/events?actor=batch-job&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=keys["auditor"]).json
        pages.append([e["seq"] for e in page["events"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(sum(pages, [])) == sum(pages, []) and len(set(sum(pages, []))) == 7

    times = [
        e["time"] for e in client.get("/v1/audit/events?actor=batch-job", headers=keys["dpo"]).json["events"]
    ]
    window = client.get(
        "/v1/audit/events",
        query_string={"actor": "batch-job", "since": times[2], "until": times[5]},
        headers=keys["dpo"],
    ).json["events"]
    assert [e["time"] for e in window] == times[2:5]

    searches = reads(container, "search")
    # One audit.read per request above: 1 + 1 + 3 pages + 1 + 1 = 7.
    assert len(searches) == 7
    assert searches[0]["subject_id"] == SUBJECT and searches[0]["actor"] == keys["actors"]["auditor"]
    assert searches[1]["details"] == {
        "operation": "search",
        "actor": service,
        "action": "detokenize",
        "returned": 2,
    }
    assert searches[-1]["details"]["since"] == times[2].replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=99999999999999999999", "cursor"),
        ("since=2026-01-01T00:00:00", "since"),  # RFC 3339 needs an offset
        ("since=yesterday", "since"),
        ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("subject=a%20b", "subject"),
        ("action=Drop%20Table", "action"),
        ("colour=blue", "colour"),
    ],
)
def test_search_rejects_bad_parameters(client, keys, container, query, field):
    resp = client.get(f"/v1/audit/events?{query}", headers=keys["auditor"])
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in resp.json["errors"]["query"]
    assert reads(container) == []


@pytest.mark.parametrize("param", ["subject", "actor"])
def test_a_personal_identifier_as_a_filter_is_refused_unechoed(client, keys, container, param):
    for value in (MOBILE, ID_NUMBER):
        resp = client.get("/v1/audit/events", query_string={param: value}, headers=keys["auditor"])
        assert resp.status_code == 422 and value not in resp.get_data(as_text=True)
        assert resp.json["detail"] == f"{param} must be an id, not a personal identifier"
    assert reads(container) == []


# -- verification -------------------------------------------------------------------------------
def test_verify_stores_the_result_for_a_dashboard(client, keys, container):
    assert client.get("/v1/audit/verify", headers=keys["dpo"]).json == {"last": None}
    traffic(client, keys)
    cut = checkpoint(client, keys)
    resp = client.post("/v1/audit/verify", json={}, headers=keys["auditor"])
    assert resp.status_code == 200, resp.json
    report = resp.json
    assert report["ok"] is True and report["first_bad_index"] is None and report["problems"] == []
    assert report["events"] == report["head_size"] == cut["size"] + 1 and report["checkpoints"] >= 1

    last = client.get("/v1/audit/verify", headers=keys["dpo"]).json["last"]
    assert last["ok"] is True and last["head_size"] == report["head_size"]
    assert last["actor"] == keys["actors"]["auditor"] and last["first_bad_index"] is None
    assert last["seq"] == report["head_size"]  # its own audit.verify event, next in the log
    assert [e["action"] for e in logged(container)].count("audit.verify") == 1

    # With the published key and a checkpoint saved outside the database.
    vkey = client.get("/v1/audit/public-key", headers=keys["dpo"]).json["verifier_key"]
    body = {"checkpoint": cut["note"], "public_key": vkey}
    saved = client.post("/v1/audit/verify", json=body, headers=keys["dpo"]).json
    assert saved["ok"] is True and saved["saved_checkpoint_size"] == cut["size"]
    assert (
        client.get("/v1/audit/verify", headers=keys["dpo"]).json["last"]["saved_checkpoint_size"]
        == cut["size"]
    )


def test_verify_reports_tampering_and_its_first_bad_index(client, keys, container):
    append(container, 12)
    checkpoint(client, keys)
    # The third appended event (the fixtures' clients and their approvals come first).
    bad = [e["seq"] for e in logged(container) if e["actor"] == "crm"][2]
    with tampering(container) as conn:
        conn.execute(
            sa.text(
                'UPDATE audit_events SET payload = replace(payload, \'"actor":"crm"\', \'"actor":"x"\') '
                "WHERE seq = :seq"
            ),
            {"seq": bad},
        )
    report = client.post("/v1/audit/verify", json={}, headers=keys["dpo"]).json
    assert report["ok"] is False and report["first_bad_index"] == bad and report["problem_count"] >= 1
    last = client.get("/v1/audit/verify", headers=keys["auditor"]).json["last"]
    assert last["ok"] is False and last["first_bad_index"] == bad


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"public_key": "nonsense"}, "public_key: verifier key must be"),
        ({"public_key": "other.example/log+00000000+AQ=="}, "public_key: "),
        ({"checkpoint": ""}, None),
        ({"checkpoint": 5}, None),
    ],
)
def test_verify_rejects_bad_input(client, keys, container, body, detail):
    resp = client.post("/v1/audit/verify", json=body, headers=keys["auditor"])
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.json
    if detail:
        assert resp.json["detail"].startswith(detail)
    assert client.get("/v1/audit/verify", headers=keys["dpo"]).json["last"] is None


def test_a_key_for_another_origin_is_refused(client, keys):
    from audit.note import verifier_key_string
    from vault import Signer

    other = verifier_key_string("other.example/log", Signer.generate().public_key)
    resp = client.post("/v1/audit/verify", json={"public_key": other}, headers=keys["auditor"])
    assert resp.status_code == 422 and resp.json["detail"] == "public_key is for another log origin"


def test_a_garbled_saved_checkpoint_fails_verification(client, keys):
    checkpoint(client, keys)
    report = client.post("/v1/audit/verify", json={"checkpoint": "not a note\n"}, headers=keys["dpo"]).json
    assert report["ok"] is False and report["problems"][0]["kind"] == "saved_checkpoint"


def test_no_audit_record_no_answer(client, keys, container, backend):
    """A read whose audit.read event cannot be written returns no events."""
    append(container, 3)
    with container.engine.begin() as conn:
        if backend == "postgresql":  # the database refuses writes as it does when going down
            conn.exec_driver_sql(
                "CREATE FUNCTION pv_test_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'shutting down' USING ERRCODE = 'admin_shutdown'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER pv_test_down BEFORE INSERT ON audit_queue "
                "FOR EACH ROW EXECUTE FUNCTION pv_test_down()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER pv_test_down BEFORE INSERT ON audit_queue "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    urls = ("/v1/audit/events", "/v1/audit/events/0/proof?tree_size=3", "/v1/audit/subjects/sub-0/export")
    for url in urls:
        resp = client.get(url, headers=keys["auditor"])
        assert resp.status_code == (503 if backend == "postgresql" else 500), (url, resp.json)
        assert resp.mimetype == "application/problem+json"
        assert '"crm"' not in resp.get_data(as_text=True) and "events" not in resp.json
        if backend == "postgresql":
            assert int(resp.headers["Retry-After"]) > 0
