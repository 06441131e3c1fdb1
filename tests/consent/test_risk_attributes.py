"""Risk attributes (stored for extracts, sealed under the subject's key) under data-subject rights:
in the access package, decrypted; correctable by a correction request; gone with an erasure,
rows and key, also when a restored backup brings them back."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from privacy import tables as pt
from tests.consent.conftest import audit_payloads, customer, download
from tests.consent.test_api_scenarios import SUBJECT, dsr, tokenize, work
from tests.erasing import erase_subject
from vault import SubjectShredded
from vault import tables as vt

ATTRIBUTES = {
    "age": 41,
    "monthly_income": 23456.5,
    "credit_grade": "B",
    "default": False,
    "occupation": "工程师",
    "referrer": None,
}


def store_attributes(client, keys, subject_id: str = SUBJECT, attributes: dict | None = None) -> None:
    body = {"items": [{"subject_id": subject_id, "attributes": attributes or ATTRIBUTES}]}
    resp = client.post("/v1/attributes", json=body, headers=keys["service"])
    assert resp.status_code == 200, resp.json


def package(client, keys) -> dict:
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    resp = download(client, keys, dsr_id)
    assert resp.status_code == 200, resp.json
    return resp.json | {"_dsr_id": dsr_id}


def attribute_rows(container, subject_id: str = SUBJECT) -> int:
    a = pt.subject_attributes.c
    count = sa.select(sa.func.count()).select_from(pt.subject_attributes).where(a.subject_id == subject_id)
    with container.session_factory() as s:
        return s.scalar(count)


def test_the_access_package_holds_the_decrypted_risk_attributes(client, keys, container):
    tokenize(client, keys)
    store_attributes(client, keys)
    found = package(client, keys)
    assert {a["name"]: a["value"] for a in found["attributes"]} == ATTRIBUTES
    assert [a["name"] for a in found["attributes"]] == sorted(ATTRIBUTES)
    assert all(a["stored_at"] for a in found["attributes"])

    page = client.get(f"/v1/dsr/{found['_dsr_id']}/package?format=html", headers=keys["dpo"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Risk attributes" in text
    assert "monthly_income" in text and "23456.5" in text and "工程师" in text

    (download, _) = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert download["details"]["attributes"] == len(ATTRIBUTES)
    assert "23456.5" not in json.dumps(audit_payloads(container))  # counted, never copied


def test_the_masked_customer_copy_names_the_risk_attributes_and_hides_their_content(client, keys):
    """PIPL art. 45: the person learns which risk attributes are held; a masked copy (the DPO's
    default) shows none of their content, a plain one (the DPO's choice) shows it in words."""
    tokenize(client, keys)
    store_attributes(client, keys)
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    masked = download(client, keys, dsr_id, "?format=customer").get_data(as_text=True)
    table = re.search(r'<table class="attributes">(.*?)</table>', masked, re.S).group(1)
    cells = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>", table)
    assert len(cells) == len(ATTRIBUTES)
    assert {name for name, _ in cells} >= {"年龄", "信用等级", "职业"}
    assert {value for _, value in cells} == {"****"}  # one length, whatever the value's
    assert "内容未在本副本中显示" in masked
    for value in ("23456.5", "工程师", "False", "None"):
        assert value not in masked, value
    plain = download(client, keys, dsr_id, "?format=customer&values=plain").get_data(as_text=True)
    table = re.search(r'<table class="attributes">(.*?)</table>', plain, re.S).group(1)
    assert "23456.5" in table and "工程师" in table and "否" in table and "—" in table
    assert "False" not in table and "None" not in table and "内容未在本副本中显示" not in plain
    english = download(client, keys, dsr_id, "?format=customer&lang=en").get_data(as_text=True)
    assert "not shown in this copy" in english and "23456.5" not in english


def test_a_subject_without_attributes_gets_an_empty_list(client, keys):
    tokenize(client, keys)
    found = package(client, keys)
    assert found["attributes"] == [] and len(found["values"]) == 4


def test_a_correction_sets_attributes_and_values_together(client, keys, container):
    tokens = tokenize(client, keys)
    store_attributes(client, keys)
    corrections = [
        {"attribute": "monthly_income", "value": 30100},
        {"token": tokens["cn_mobile"], "value": "13900001111"},
        {"attribute": "employer_size", "value": "large"},  # completing: a name not stored yet
    ]
    done = work(client, keys, dsr(client, keys, "correction"), corrections=corrections)
    assert done["outcome"] == {
        "corrected": 1,
        "field_types": ["cn_mobile"],
        "attributes": ["employer_size", "monthly_income"],
    }
    held = {a["name"]: a["value"] for a in package(client, keys)["attributes"]}
    assert held == ATTRIBUTES | {"monthly_income": 30100, "employer_size": "large"}
    (event,) = [e for e in audit_payloads(container) if e["action"] == "subject.correct"]
    assert event["details"]["attributes"] == ["employer_size", "monthly_income"]
    assert "30100" not in json.dumps(event) and "large" not in json.dumps(event)


# Each request starts with a valid token correction (item 0), which must not survive the failure.
@pytest.mark.parametrize(
    ("corrections", "where"),
    [
        ([{"attribute": "age", "value": 40}, {"attribute": "cn_mobile", "value": "1"}], "corrections[2]"),
        ([{"attribute": "age", "value": {"years": 40}}], "corrections[1]"),
        ([{"attribute": "Age", "value": 40}], "corrections[1]"),
        ([{"attribute": "age", "value": 40}, {"attribute": "age", "value": 41}], "corrections[2]"),
        ([{"attribute": "age", "value": 40}, {"token": "tok_nope", "value": "x"}], "corrections[2]"),
    ],
    ids=["field-type-name", "not-a-scalar", "bad-name", "twice", "unknown-token"],
)
def test_an_invalid_correction_changes_nothing(client, keys, container, corrections, where):
    tokens = tokenize(client, keys)
    store_attributes(client, keys)
    corrections = [{"token": tokens["cn_mobile"], "value": "13900001111"}, *corrections]
    dsr_id = dsr(client, keys, "correction")
    for step, body in (("verify-identity", {"method": "in_person"}), ("approve", {})):
        client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
    resp = client.post(f"/v1/dsr/{dsr_id}/complete", json={"corrections": corrections}, headers=keys["dpo"])
    assert resp.status_code == 422, resp.json
    assert where in resp.json["detail"]
    assert client.get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json["state"] == "approved"
    found = package(client, keys)
    assert {a["name"]: a["value"] for a in found["attributes"]} == ATTRIBUTES
    assert {v["field_type"]: v["value"] for v in found["values"]}["cn_mobile"] != "13900001111"


@pytest.mark.parametrize(
    "item",
    [
        {"token": "tok_x", "attribute": "age", "value": "1"},
        {"value": 1},
        {"token": "tok_x", "value": 5},
        {"attribute": "age", "value": 1, "extra": True},
    ],
    ids=["both", "neither", "token-value-not-text", "unknown-field"],
)
def test_correction_items_are_checked_at_the_boundary(client, keys, item):
    tokenize(client, keys)
    dsr_id = dsr(client, keys, "correction")
    for step, body in (("verify-identity", {"method": "in_person"}), ("approve", {})):
        client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
    resp = client.post(f"/v1/dsr/{dsr_id}/complete", json={"corrections": [item]}, headers=keys["dpo"])
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.json


def test_erasure_deletes_the_attribute_rows_and_their_key(client, keys, container):
    tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    store_attributes(client, keys)
    assert attribute_rows(container) == 1
    with container.session_factory() as s:
        sealed = s.scalar(sa.select(pt.subject_attributes.c.sealed))
    done = work(client, keys, dsr(client, keys, "erasure"))
    assert done["outcome"]["action"] == "erased"
    assert attribute_rows(container) == 0
    container.keyring.cache.clear()
    with container.session_factory() as s, pytest.raises(SubjectShredded):
        container.keyring.subject_key(s, SUBJECT)  # any copy of ``sealed`` (a backup's) is noise
    assert sealed and ATTRIBUTES["occupation"].encode() not in sealed


def test_every_erasure_path_deletes_attributes_and_a_replay_deletes_restored_ones(client, keys, container):
    """The tokenization service's erasure and ``keys replay-erasures`` after a restore, too."""
    for subject_id in ("cust-0002", "cust-0003"):
        customer(container, subject_id)
        store_attributes(client, keys, subject_id)
    with container.session_factory() as s:
        backup_keys = [dict(r._mapping) for r in s.execute(sa.select(vt.data_keys))]
        backup_attributes = [dict(r._mapping) for r in s.execute(sa.select(pt.subject_attributes))]
    erase_subject(container, "cust-0002", actor="dpo:test")
    assert attribute_rows(container, "cust-0002") == 0 and attribute_rows(container, "cust-0003") == 1

    # A restore (the rows as they were before the erasure), then the replay.
    with container.session_factory() as s:
        s.execute(vt.data_keys.delete())
        s.execute(pt.subject_attributes.delete())
        s.execute(vt.data_keys.insert(), backup_keys)
        s.execute(pt.subject_attributes.insert(), backup_attributes)
        s.commit()
    assert attribute_rows(container, "cust-0002") == 1
    with container.session_factory() as s:
        assert container.keyring.pending_erasures(s) == ["cust-0002"]
        report = container.keyring.replay_erasures(s)
        s.commit()
    assert report.subject_ids == ("cust-0002",) and report.shredded == 1
    assert attribute_rows(container, "cust-0002") == 0 and attribute_rows(container, "cust-0003") == 1
    with container.session_factory() as s:  # the other subject's attributes still open
        key = container.keyring.subject_key(s, "cust-0003")
        held = container.consent.subject_attributes.of_subject(s, key, "cust-0003")
    assert held is not None and held[0] == ATTRIBUTES
