"""Extracts through the API over demo customers seeded through the API: consent filtering, k and l
checked by pycanon, downloads and re-identification audited, roles, and the manifest in the audit log."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import time
from typing import Any

import pandas as pd
import pytest
from pycanon import anonymity

from tests.api_extracts.conftest import QUASI, SPEC, second_dpo_grants, seed_customers, wait_for
from tests.consent.conftest import audit_payloads
from tests.erasing import erase_subject

REASON = "score 0.97 flagged for manual fraud review, case 2024-117"


def _dsr(client, keys, subject_id: str, type_: str) -> dict[str, Any]:
    created = client.post(
        "/v1/dsr", json={"subject_id": subject_id, "type": type_, "channel": "app"}, headers=keys["service"]
    )
    assert created.status_code == 201, created.json
    dsr_id = created.json["dsr_id"]
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {}), ("complete", {})):
        resp = client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
        assert resp.status_code == 200, resp.json
    return resp.json


@pytest.fixture
def population(client, keys, base_url, tmp_path, container) -> dict[str, Any]:
    """60 customers; of those with a risk_scoring consent, one withdraws, one is restricted and one
    erased; of those without, one consents until two seconds from now (then it has expired)."""
    table = seed_customers(base_url, keys, 60, tmp_path / "demo")
    has = table["consents"].fillna("").str.contains("risk_scoring")
    consented = sorted(table.loc[has, "subject_id"])
    others = sorted(table.loc[~has, "subject_id"])
    withdrawn, restricted, erased = consented[:3]
    resp = client.post(
        f"/v1/subjects/{withdrawn}/consents/risk_scoring/withdraw",
        json={"channel": "app"},
        headers=keys["service"],
    )
    assert resp.status_code == 201, resp.json
    assert _dsr(client, keys, restricted, "restriction")["state"] == "completed"
    erase_subject(container, erased, actor="test")
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    resp = client.post(
        f"/v1/subjects/{others[0]}/consents",
        json={"purpose": "risk_scoring", "channel": "app", "expires_at": expires.isoformat()},
        headers=keys["service"],
    )
    assert resp.status_code == 201, resp.json
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    return {
        "table": table.set_index("subject_id"),
        "eligible": set(consented[3:]),
        "excluded": {
            "no_consent": len(others) - 1,
            "expired": 1,
            "withdrawn": 1,
            "restricted": 1,
            "erased": 1,
        },
        "left_out": {withdrawn, restricted, erased, *others},
    }


def _extract(client, keys, spec=SPEC) -> dict[str, Any]:
    # Serialized here: the test client's own JSON encoder sorts keys, and column order is the output's.
    resp = client.post(
        "/v1/extracts", data=json.dumps(spec), content_type="application/json", headers=keys["analyst"]
    )
    assert resp.status_code == 202, resp.json
    assert resp.headers["Location"] == f"/v1/extracts/{resp.json['extract_id']}"
    assert resp.json["state"] in ("queued", "running", "succeeded")
    job = wait_for(client, keys["analyst"], resp.json["extract_id"])
    assert job["state"] == "succeeded", job["error"]
    return job


def _download(client, headers, job, name) -> bytes:
    resp = client.get(f"/v1/extracts/{job['extract_id']}/files/{name}", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.headers["Content-Disposition"].startswith("attachment")
    digest = base64.b64encode(hashlib.sha256(resp.data).digest()).decode()
    assert resp.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    return resp.data


def test_consent_filtered_k_anonymous_extract(client, keys, population, container) -> None:
    job = _extract(client, keys)
    result = job["result"]
    assert job["progress"] == {"percent": 100.0, "phase": "done"}
    assert result["eligible"] == len(population["eligible"])
    assert result["excluded_by_reason"] == population["excluded"]
    assert result["excluded_by_consent"] == population["excluded"]["no_consent"] + 2
    assert result["excluded_restricted_or_erased"] == 2

    data = _download(client, keys["analyst"], job, "extract.csv")
    released = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert list(released.columns) == [
        "subject_id", "mobile_pseudonym", "region", "age", "gender", "monthly_income",
        "credit_grade", "default", "debt_ratio",
    ]  # fmt: skip
    assert anonymity.k_anonymity(released, QUASI) == result["k"] >= 3
    assert anonymity.l_diversity(released, QUASI, ["credit_grade"]) == result["l"] >= 2
    assert len(released) == result["rows_kept"] == result["rows_in"] - result["rows_suppressed"]
    assert result["rows_in"] == len(population["eligible"])
    assert b"demo-" not in data  # subject ids are pseudonymized

    # Every released row belongs to an eligible subject, and its values generalize that subject's.
    second_dpo_grants(client, keys, job["extract_id"])  # four eyes: the DPO's grant
    found = {}
    for _, row in released.iterrows():
        resp = client.post(
            f"/v1/extracts/{job['extract_id']}/reidentify",
            json={"column": "subject_id", "pseudonym": row["subject_id"], "reason": REASON},
            headers=keys["dpo"],
        )
        assert resp.status_code == 200, resp.json
        (subject,) = resp.json["subject_ids"]
        found[subject] = row
    assert set(found) <= population["eligible"] and len(found) == len(released)
    assert not set(found) & population["left_out"]
    for subject, row in found.items():
        truth = population["table"].loc[subject]
        low, _, high = row["age"].partition("-")
        assert row["age"] == "*" or int(low) <= truth["age"] <= int(high or low)
        assert row["gender"] in ("*", truth["gender"])
        assert row["credit_grade"] == truth["credit_grade"]
    # The mobile pseudonym (an HMAC of the decrypted mobile) leads to the same subject.
    row = released.iloc[0]
    resp = client.post(
        f"/v1/extracts/{job['extract_id']}/reidentify",
        json={"column": "mobile_pseudonym", "pseudonym": row["mobile_pseudonym"], "reason": REASON},
        headers=keys["dpo"],
    )
    assert resp.status_code == 200 and resp.json["subject_ids"] == [
        next(s for s, r in found.items() if r["subject_id"] == row["subject_id"])
    ]

    events = audit_payloads(container)
    reidentified = [e for e in events if e["action"] == "extract.reidentify"]
    assert len(reidentified) == len(released) + 1
    assert {e["subject_id"] for e in reidentified} == set(found)
    assert all(e["reason"] == REASON and e["outcome"] == "success" for e in reidentified)
    (download,) = [e for e in events if e["action"] == "extract.download"]
    assert download["details"]["file"] == "extract.csv"
    assert download["details"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert download["actor"].startswith("client:")

    # The manifest in the audit log matches the job and its files; it holds no subject id.
    (completed,) = [e for e in events if e["action"] == "extract.completed"]
    manifest = completed["details"]
    assert manifest["extract_id"] == job["extract_id"] and manifest["spec_sha256"] == job["spec_sha256"]
    assert {f["name"]: f["sha256"] for f in job["files"]} == {
        name: digest["sha256"] for name, digest in manifest["outputs"].items()
    }
    assert manifest["outputs"]["extract.csv"]["sha256"] == hashlib.sha256(data).hexdigest()
    for name in ("extract.parquet", "report.json", "manifest.json"):
        assert (
            hashlib.sha256(_download(client, keys["analyst"], job, name)).hexdigest()
            == (manifest["outputs"][name]["sha256"])
        )
    assert manifest["achieved"] == {"k": result["k"], "l": result["l"]}
    assert manifest["counts"]["excluded_by_consent"] == result["excluded_by_consent"]
    assert manifest["counts"]["excluded_restricted_or_erased"] == 2
    assert manifest["counts"]["rows_kept"] == len(released)
    assert manifest["parameters"]["k"] == 3 and manifest["parameters"]["pseudonymized"] == [
        "subject_id",
        "cn_mobile",
    ]
    assert "demo-" not in str(manifest)


def test_roles_and_ownership(client, keys, base_url, tmp_path) -> None:
    seed_customers(base_url, keys, 60, tmp_path / "demo")
    for role in ("service", "auditor", "admin", "dpo"):
        assert client.post("/v1/extracts", json=SPEC, headers=keys[role]).status_code == 403, role
    job = _extract(client, keys)
    url = f"/v1/extracts/{job['extract_id']}"
    for role in ("service", "auditor", "admin"):
        assert client.get(url, headers=keys[role]).status_code == 403, role
        assert client.get("/v1/extracts", headers=keys[role]).status_code == 403, role
        assert client.get(url + "/files/extract.csv", headers=keys[role]).status_code == 403, role
    # Another analyst does not learn the extract exists; the DPO sees every extract.
    assert client.get(url, headers=keys["other_analyst"]).status_code == 404
    assert client.get(url + "/files/extract.csv", headers=keys["other_analyst"]).status_code == 404
    assert client.get("/v1/extracts", headers=keys["other_analyst"]).json["extracts"] == []
    listed = client.get("/v1/extracts", headers=keys["dpo"]).json["extracts"]
    assert [e["extract_id"] for e in listed] == [job["extract_id"]]
    assert client.get(url, headers=keys["dpo"]).json["state"] == "succeeded"
    assert client.get(url + "/files/report.html", headers=keys["dpo"]).status_code == 200
    # Issue 21: ?lang= picks report.html's language; it applies to report.html only.
    english = client.get(url + "/files/report.html?lang=en", headers=keys["analyst"])
    assert english.status_code == 200 and b'<html lang="en">' in english.data
    assert b'<html lang="zh-CN">' in client.get(url + "/files/report.html", headers=keys["analyst"]).data
    for bad in ("report.html?lang=fr", "extract.csv?lang=en"):
        refused = client.get(url + "/files/" + bad, headers=keys["analyst"])
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", bad
    assert client.get(url + "/files/secret.txt", headers=keys["analyst"]).status_code == 404
    assert client.get("/v1/extracts/ext_nope", headers=keys["dpo"]).status_code == 404

    csv = pd.read_csv(io.BytesIO(_download(client, keys["analyst"], job, "extract.csv")), dtype=str)
    body = {"column": "subject_id", "pseudonym": csv["subject_id"][0], "reason": REASON}
    for role in ("analyst", "service", "auditor", "admin"):
        assert client.post(url + "/reidentify", json=body, headers=keys[role]).status_code == 403, role
    bad = [
        ({"reason": "because"}, "reason"),
        ({"reason": "customer called from 13812345678, check"}, "identifier"),
        ({"reason": "客户手机138-1234-5678来电，请复核"}, "identifier"),
        ({"column": "age"}, "not a pseudonymized column"),
        ({"column": "name"}, "not a pseudonymized column"),  # dropped
        ({"pseudonym": "not-hex"}, "hexadecimal"),
    ]
    for change, message in bad:
        resp = client.post(url + "/reidentify", json=body | change, headers=keys["dpo"])
        assert resp.status_code == 422, (change, resp.json)
        assert message in str(resp.json), resp.json
        assert resp.headers["Content-Type"] == "application/problem+json"
    second_dpo_grants(client, keys, job["extract_id"])
    resp = client.post(url + "/reidentify", json=body | {"pseudonym": "0" * 32}, headers=keys["dpo"])
    assert resp.status_code == 404 and resp.json["type"].endswith("pseudonym_not_found")
    resp = client.post(url + "/reidentify", json=body | {"extra": 1}, headers=keys["dpo"])
    assert resp.status_code == 422


@pytest.mark.parametrize(
    ("change", "status", "where", "message"),
    [
        ({"privacy": {"k": 1}}, 422, "privacy.k", "at least 2"),
        ({"colour": "blue"}, 422, "colour", "unknown key"),
        ({"expires_in_days": 0}, 422, "expires_in_days", "at least 1"),
        ({"purpose": "no_such_purpose"}, 422, "purpose", "no such purpose"),
        (
            {"columns": SPEC["columns"] | {"shoe_size": {"role": "attribute"}}},
            422,
            "columns.shoe_size",
            "no field",
        ),
        (
            {
                "columns": SPEC["columns"]
                | {"cn_resident_id": {"role": "quasi", "hierarchy": {"type": "region"}}}
            },
            422,
            "columns.cn_resident_id",
            "not covered by purpose risk_scoring",
        ),
        (
            {
                "columns": SPEC["columns"]
                | {"bday": {"role": "quasi", "source": "cn_resident_id", "hierarchy": {"type": "birth_year"}}}
            },
            422,
            "columns.bday.source",
            "not covered",
        ),
        ({"purpose": "marketing"}, 403, None, "may not use purpose marketing"),
        ({"engine": "dask"}, 422, "engine", "must be one of local, spark"),
        ({"spark": {"master": "local[2]"}}, 422, "spark", "engine: spark only"),
        ({"engine": "spark", "spark": {"master": "mesos://x:5050"}}, 422, "spark.master", "must be local[N]"),
        # Issue 21: the Spark runner cannot hold a column at one level across fragments.
        (
            {"engine": "spark", "privacy": SPEC["privacy"] | {"recoding": "global"}},
            422,
            "engine",
            "global recoding runs on engine: local only",
        ),
        # An analyst may not point the vault's driver at a cluster the operator did not list.
        ({"engine": "spark", "spark": {"master": "spark://evil:7077"}}, 422, "spark.master", "may use"),
        # Nor have it read a table outside the roots the operator listed (none here).
        (
            {"engine": "spark", "table": {"path": "/etc", "key": "k", "matches": "subject_id"}},
            422,
            "table.path",
            "PIIVAULT_EXTRACT_TABLE_ROOTS",
        ),
        # Issue 20: Spark's file system reads file://localhost/etc/... as /etc/...: refused by its host.
        (
            {
                "engine": "spark",
                "table": {"path": "file://localhost/etc/passwd", "key": "k", "matches": "subject_id"},
            },
            422,
            "table.path",
            "must not name a host",
        ),
        (
            {"engine": "spark", "table": {"path": "/data/t", "key": "k", "matches": "cn_passport"}},
            422,
            "table.matches",
            "field type code",
        ),
    ],
)
def test_bad_specs_are_refused_by_key(
    client, keys, base_url, tmp_path, change, status, where, message
) -> None:
    seed_customers(base_url, keys, 3, tmp_path / "demo")  # attribute names are known once stored
    resp = client.post("/v1/extracts", json=SPEC | change, headers=keys["analyst"])
    assert resp.status_code == status, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    if where is None:
        assert message in resp.json["detail"]
    else:
        assert message in resp.json["errors"]["json"][where][0], resp.json
    assert client.get("/v1/extracts", headers=keys["analyst"]).json["extracts"] == []


def test_a_body_that_is_not_a_spec(client, keys) -> None:
    json_list = {"content_type": "application/json"}
    resp = client.post("/v1/extracts", data="[1, 2]", headers=keys["analyst"], **json_list)
    assert resp.status_code == 422 and "spec" in resp.json["errors"]["json"], resp.json
    # Another media type is refused before the spec is read (api/body.py).
    resp = client.post("/v1/extracts", data="k: 5", headers=keys["analyst"], content_type="text/yaml")
    assert resp.status_code == 415, resp.json
    resp = client.post("/v1/extracts", json={"purpose": "risk_scoring"}, headers=keys["analyst"])
    assert resp.status_code == 422
    assert set(resp.json["errors"]["json"]) == {"columns", "privacy"}


def test_attributes_are_stored_sealed_by_the_service_role_only(
    client, keys, base_url, tmp_path, container
) -> None:
    table = seed_customers(base_url, keys, 2, tmp_path / "demo")
    sid = table["subject_id"][0]
    item = {"subject_id": sid, "attributes": {"income_band": "B", "score": 0.5}}
    for role in ("analyst", "dpo", "auditor", "admin"):
        assert client.post("/v1/attributes", json={"items": [item]}, headers=keys[role]).status_code == 403
    resp = client.post("/v1/attributes", json={"items": [item]}, headers=keys["service"])
    assert resp.status_code == 200 and resp.json == {"stored": 1}
    bad = [
        ({"subject_id": "nobody-at-all", "attributes": {"a": 1}}, "no such subject"),
        ({"subject_id": sid, "attributes": {"cn_mobile": "x"}}, "is a field type"),
        ({"subject_id": sid, "attributes": {"Bad Name": 1}}, "lowercase"),
        ({"subject_id": sid, "attributes": {"a": {"nested": 1}}}, "must be text, a number"),
        ({"subject_id": sid, "attributes": {"a": "x" * 201}}, "at most 200"),
        ({"subject_id": sid, "attributes": {}}, "non-empty"),
    ]
    for body, message in bad:
        resp = client.post("/v1/attributes", json={"items": [body]}, headers=keys["service"])
        assert resp.status_code == 422 and message in resp.json["detail"], (body, resp.json)
        assert "x" * 50 not in resp.json["detail"]
    import sqlalchemy as sa

    from privacy import tables as pt
    with container.session_factory() as s:
        sealed = s.scalar(
            sa.select(pt.subject_attributes.c.sealed).where(pt.subject_attributes.c.subject_id == sid)
        )
        names = set(s.scalars(sa.select(pt.attribute_names.c.name)))
    assert b"income_band" not in sealed and b"credit_grade" not in sealed  # sealed, not JSON
    assert {"income_band", "score", "credit_grade", "region_code"} <= names


def test_the_openapi_document_carries_the_spec_schema(client) -> None:
    """Issue 14: the request body of POST /v1/extracts was {"type": "object"}; now the spec's schema."""
    from anonymize.extract.schema import spec_schema

    body = client.get("/openapi.json").json["paths"]["/v1/extracts"]["post"]["requestBody"]
    content = body["content"]["application/json"]
    assert content["schema"] == spec_schema()
    assert content["schema"]["additionalProperties"] is False
    assert content["example"]["purpose"] == "risk_scoring"
