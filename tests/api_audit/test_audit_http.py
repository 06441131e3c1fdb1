"""/v1/audit over HTTP: roles, every endpoint, proofs that verify against the signed checkpoint."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit.merkle import leaf_hash
from audit.note import open_checkpoint, parse_verifier_key
from audit.proof import verify_consistency, verify_inclusion
from piivault.cli import main
from tests.api_audit.conftest import ROLES, logged
from tests.audit.conftest import append, settings_env, tampering
from tests.pii import COMMON

ID_NUMBER, CARD, MOBILE, NAME = COMMON[:4]
SUBJECT = "cust-0001"
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


def traffic(client, keys) -> dict[str, str]:
    """A service tokenizes a customer and reads two values back, one at a time: field type -> token."""
    items = [
        {"field_type": "name", "value": NAME, "subject_id": SUBJECT},
        {"field_type": "cn_mobile", "value": MOBILE, "subject_id": SUBJECT},
        {"field_type": "cn_resident_id", "value": ID_NUMBER, "subject_id": SUBJECT},
    ]
    resp = client.post("/v1/tokenize", json={"items": items}, headers=keys["service"])
    assert resp.status_code == 200, resp.json
    tokens = {i["field_type"]: r["token"] for i, r in zip(items, resp.json["items"], strict=True)}
    for field_type, value in (("name", NAME), ("cn_mobile", MOBILE)):  # two requests, two events
        body = {"purpose": "aml_kyc", "tokens": [tokens[field_type]]}
        resp = client.post("/v1/detokenize", json=body, headers=keys["service"])
        assert resp.json["items"] == [{"value": value}]
    return tokens


def checkpoint(client, keys, role="auditor") -> dict:
    resp = client.post("/v1/audit/checkpoint", json={}, headers=keys[role])
    assert resp.status_code == 201, resp.json
    return resp.json


def public_key(client, keys) -> tuple[str, bytes]:
    body = client.get("/v1/audit/public-key", headers=keys["dpo"]).json
    vkey = parse_verifier_key(body["verifier_key"])
    assert vkey.public_key == base64.b64decode(body["public_key"]) and vkey.name == body["origin"]
    return vkey.name, vkey.public_key


def reads(container, operation=None) -> list[dict]:
    return [
        e
        for e in logged(container)
        if e["action"] == "audit.read" and operation in (None, e["details"]["operation"])
    ]


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


# -- proofs ----------------------------------------------------------------------------------
def test_inclusion_proofs_verify_against_the_returned_checkpoint(client, keys, container):
    traffic(client, keys)
    append(container, 9)
    cut = checkpoint(client, keys)
    origin, key = public_key(client, keys)
    root = open_checkpoint(cut["note"], origin, key, origin=origin).root_hash
    for seq in range(cut["size"]):
        resp = client.get(f"/v1/audit/events/{seq}/proof", headers=keys["auditor"])
        assert resp.status_code == 200, resp.json
        proof = resp.json
        assert proof["size"] == cut["size"] and proof["checkpoint"] == cut["note"]
        assert proof["root_hash"] == root.hex()
        leaf = bytes.fromhex(proof["leaf_hash"])
        assert leaf == leaf_hash(proof["entry"].encode())
        verify_inclusion(leaf, seq, proof["size"], [bytes.fromhex(h) for h in proof["proof"]], root)
    # Against an explicit smaller tree: leads to the root the consistency endpoint reports for it.
    small = client.get("/v1/audit/events/2/proof?tree_size=5", headers=keys["dpo"]).json
    root5 = client.get("/v1/audit/consistency?first=5&second=5", headers=keys["dpo"]).json["root1"]
    verify_inclusion(
        bytes.fromhex(small["leaf_hash"]),
        2,
        5,
        [bytes.fromhex(h) for h in small["proof"]],
        bytes.fromhex(root5),
    )
    tokenize_seq = next(e["seq"] for e in logged(container) if e["action"] == "tokenize")
    client.get(f"/v1/audit/events/{tokenize_seq}/proof", headers=keys["dpo"])
    proofs = reads(container, "proof")
    assert len(proofs) == cut["size"] + 2
    assert proofs[-1]["subject_id"] == SUBJECT and proofs[-1]["details"]["seq"] == tokenize_seq


def test_inclusion_proof_errors(client, keys, container):
    append(container, 6)
    cut = checkpoint(client, keys)
    size = cut["size"]
    cases = [
        (f"/v1/audit/events/{size + 50}/proof", 404, "audit_event_not_found"),
        ("/v1/audit/events/99999999999999999999999/proof", 400, None),  # past int64: bad input
        ("/v1/audit/events/-1/proof", 404, None),
        ("/v1/audit/events/abc/proof", 404, None),
        ("/v1/audit/events/3/proof?tree_size=0", 422, None),
        ("/v1/audit/events/3/proof?tree_size=3", 422, "validation_failed"),  # must contain event 3
        (f"/v1/audit/events/3/proof?tree_size={size + 100}", 422, "validation_failed"),
        ("/v1/audit/events/3/proof?tree_size=x", 422, None),
        ("/v1/audit/events/3/proof?size=4", 422, None),
        (f"/v1/audit/events/{size}/proof", 409, "audit_not_checkpointed"),  # the audit.checkpoint event
    ]
    for url, status, code in cases:
        resp = client.get(url, headers=keys["auditor"])
        assert resp.status_code == status, (url, resp.json)
        assert resp.mimetype == "application/problem+json", url
        if code:
            assert resp.json["type"].endswith("/" + code), (url, resp.json)
    too_big = client.get(f"/v1/audit/events/3/proof?tree_size={size + 100}", headers=keys["auditor"]).json
    assert too_big["detail"].startswith("size must be between 4 and the log size")


def test_consistency_proofs_verify_between_checkpoints(client, keys, container):
    append(container, 5)
    first = checkpoint(client, keys)
    append(container, 8, start=5)
    second = checkpoint(client, keys)
    origin, key = public_key(client, keys)
    root1 = open_checkpoint(first["note"], origin, key).root_hash
    root2 = open_checkpoint(second["note"], origin, key).root_hash

    latest = client.get(f"/v1/audit/consistency?first={first['size']}", headers=keys["auditor"]).json
    assert (latest["size1"], latest["size2"]) == (first["size"], second["size"])
    assert (latest["checkpoint1"], latest["checkpoint2"]) == (first["note"], second["note"])
    assert (latest["root1"], latest["root2"]) == (root1.hex(), root2.hex())
    verify_consistency(
        first["size"], second["size"], [bytes.fromhex(h) for h in latest["proof"]], root1, root2
    )
    for size1, size2 in ((1, 2), (3, 7), (4, 8), (6, second["size"])):
        body = client.get(f"/v1/audit/consistency?first={size1}&second={size2}", headers=keys["dpo"]).json
        verify_consistency(
            size1,
            size2,
            [bytes.fromhex(h) for h in body["proof"]],
            bytes.fromhex(body["root1"]),
            bytes.fromhex(body["root2"]),
        )
    empty = client.get("/v1/audit/consistency?first=0&second=3", headers=keys["dpo"]).json
    assert empty["proof"] == [] and empty["size1"] == 0

    log_size = second["size"] + 1  # and the audit.checkpoint event after it
    for query, status, message in [
        ("first=5&second=4", 422, "first must not be larger than second"),
        (f"first=1&second={log_size + 10}", 422, f"size must be between 1 and the log size {log_size}"),
        (f"first={log_size + 5}", 409, None),
        ("first=-1", 422, None),
        ("second=3", 422, None),
        ("first=1&third=2", 422, None),
    ]:
        resp = client.get(f"/v1/audit/consistency?{query}", headers=keys["auditor"])
        assert resp.status_code == status and resp.mimetype == "application/problem+json", (query, resp.json)
        if message:
            assert message in json.dumps(resp.json), (query, resp.json)
    assert reads(container) == []  # hashes and signed notes only: not audited


# -- exposure and export ------------------------------------------------------------------------
def test_exposure_after_a_leaked_credential(client, keys, container):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    traffic(client, keys)
    service = keys["actors"]["service"]
    resp = client.get(
        "/v1/audit/exposure",
        query_string={"actor": service, "since": before.isoformat()},
        headers=keys["dpo"],
    )
    assert resp.status_code == 200, resp.json
    report = resp.json
    assert [(s["subject_id"], s["events"]) for s in report["subjects"]] == [(SUBJECT, 2)]
    assert report["actions"] == ["detokenize"] and report["actor"] == service
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    empty = client.get(
        "/v1/audit/exposure", query_string={"actor": service, "since": later}, headers=keys["dpo"]
    )
    assert empty.status_code == 422  # since after "until = now"
    window = client.get(
        "/v1/audit/exposure",
        query_string={"actor": service, "since": "2020-01-01T00:00:00Z", "until": before.isoformat()},
        headers=keys["auditor"],
    ).json
    assert window["subjects"] == []
    exposures = reads(container, "exposure")
    assert len(exposures) == 2
    assert exposures[0]["details"]["target_actor"] == service and exposures[0]["details"]["subjects"] == 1

    for query in (
        {"actor": service},  # since is required
        {"since": before.isoformat()},  # actor is required
        {"actor": service, "since": "2026-01-01T00:00:00"},
        {"actor": service, "since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"actor": MOBILE, "since": before.isoformat()},
    ):
        bad = client.get("/v1/audit/exposure", query_string=query, headers=keys["dpo"])
        assert bad.status_code == 422 and MOBILE not in bad.get_data(as_text=True), query
    assert len(reads(container, "exposure")) == 2


def test_subject_export_with_proofs_against_its_checkpoint(client, keys, container):
    traffic(client, keys)
    cut = checkpoint(client, keys)
    append(container, 1, subject_id=SUBJECT)  # after the checkpoint: listed without a proof
    resp = client.get(f"/v1/audit/subjects/{SUBJECT}/export", headers=keys["dpo"])
    assert resp.status_code == 200, resp.json
    export = resp.json
    assert export["checkpoint"] == cut["note"] and export["tree_size"] == cut["size"]
    vkey = parse_verifier_key(export["public_key"])
    root = open_checkpoint(export["checkpoint"], vkey.name, vkey.public_key).root_hash
    proven = [e for e in export["events"] if e["inclusion_proof"] is not None]
    assert {e["action"] for e in proven} >= {"tokenize", "detokenize"}
    for e in proven:
        verify_inclusion(
            leaf_hash(e["entry"].encode()),
            e["seq"],
            export["tree_size"],
            [bytes.fromhex(h) for h in e["inclusion_proof"]],
            root,
        )
    assert export["events"][-1]["inclusion_proof"] is None and export["events"][-1]["seq"] >= cut["size"]
    text = resp.get_data(as_text=True)
    assert not any(v in text for v in (NAME, MOBILE, ID_NUMBER))

    exported = reads(container, "export")
    assert len(exported) == 1 and exported[0]["subject_id"] == SUBJECT
    assert exported[0]["details"] == {
        "operation": "export",
        "events": len(export["events"]),
        "tree_size": cut["size"],
    }
    # The subject's next export shows that the DPO looked them up.
    again = client.get(f"/v1/audit/subjects/{SUBJECT}/export", headers=keys["auditor"]).json
    assert again["events"][-1]["action"] == "audit.read"
    for bad in (MOBILE, "a%20b", "x" * 65):
        resp = client.get(f"/v1/audit/subjects/{bad}/export", headers=keys["dpo"])
        assert resp.status_code == 422 and MOBILE not in resp.get_data(as_text=True), bad


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
