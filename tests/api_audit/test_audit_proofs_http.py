"""/v1/audit over HTTP: inclusion and consistency proofs, exposure, the subject export.

Each proof is verified against the signed checkpoint the API returned.
"""

from __future__ import annotations

import datetime as dt
import json

from audit.merkle import leaf_hash
from audit.note import open_checkpoint, parse_verifier_key
from audit.proof import verify_consistency, verify_inclusion
from tests.api_audit.conftest import (
    ID_NUMBER,
    MOBILE,
    NAME,
    SUBJECT,
    checkpoint,
    logged,
    public_key,
    reads,
    traffic,
)
from tests.audit.conftest import append


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
