"""A bank's risk table joined by deterministic token, on Spark, through the API: the vault decides
who is in; the table's rows of subjects it leaves out (no consent, withdrawn, restricted, erased)
never reach the output; part files, manifest and audit event as for the local engine."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pycanon import anonymity

from piivault.settings import Settings
from piivault_client import PiivaultClient
from tests.anonymize.extract.conftest import make_rows
from tests.api_extracts.conftest import seed_customers, wait_for
from tests.api_extracts.test_extracts_http import _download, _dsr
from tests.conftest import make_settings
from tests.consent.conftest import audit_payloads
from tests.erasing import erase_subject

pytest.importorskip("pyspark")

SPEC: dict[str, Any] = {
    "purpose": "risk_scoring",
    "engine": "spark",
    "spark": {"master": "local[1]", "fragment_rows": 1000, "csv": True},
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 10}},
        "balance": {
            "role": "quasi",
            "source": "table.balance",
            "hierarchy": {"type": "intervals", "width": 10000, "integer": True},
        },
        "risk_band": {"role": "sensitive", "source": "table.risk_band"},
        "row_tag": {"role": "attribute", "source": "table.row_tag"},  # test only: names the subject
    },
    "privacy": {"k": 3, "l": 2, "max_suppression": 0.3},
}


@pytest.fixture
def settings(database_url: str, bao: Any, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        bao,
        tmp_path,
        extract_dir=str(tmp_path / "extracts"),
        extract_table_roots=str(tmp_path / "bank"),
        # The operator's bound on the single-machine comparison, below this population: not run.
        extract_compare_rows=10,
    )


@pytest.fixture
def bank(client, keys, base_url, container, tmp_path) -> dict[str, Any]:
    """40 demo customers, each given a deterministic mobile token, and the bank's table keyed by
    those tokens (one row per customer, and one whose token the vault never issued). Then, of those
    with a risk_scoring consent, one withdraws, one is restricted and one erased."""
    table = seed_customers(base_url, keys, 40, tmp_path / "demo")
    subjects = sorted(table["subject_id"])
    items = [
        {"field_type": "cn_mobile", "value": f"139{i:08d}", "subject_id": s, "kind": "deterministic"}
        for i, s in enumerate(subjects)
    ]
    issued = PiivaultClient(base_url, keys["_raw_service"]).tokenize(items, strict=True)
    rng = np.random.default_rng(5)
    path = tmp_path / "bank" / "risk"
    path.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "customer_token": [r["token"] for r in issued] + ["tkd_mob_" + "z" * 26],
                "balance": rng.integers(0, 40_000, len(subjects) + 1),
                "risk_band": rng.choice(list("ABC"), len(subjects) + 1),
                "row_tag": list(range(len(subjects) + 1)),
            }
        ),
        path / "part-0.parquet",
    )
    consented = sorted(table.loc[table["consents"].fillna("").str.contains("risk_scoring"), "subject_id"])
    withdrawn, restricted, erased = consented[:3]
    resp = client.post(
        f"/v1/subjects/{withdrawn}/consents/risk_scoring/withdraw",
        json={"channel": "app"},
        headers=keys["service"],
    )
    assert resp.status_code == 201, resp.json
    assert _dsr(client, keys, restricted, "restriction")["state"] == "completed"
    erase_subject(container, erased, actor="test")
    tags = {s: i for i, s in enumerate(subjects)}
    return {
        "path": path,
        "eligible": {tags[s] for s in consented[3:]},
        "left_out": {tags[s] for s in subjects if s not in consented[3:]},
    }


def test_a_risk_table_joined_by_token_releases_eligible_subjects_only(client, keys, bank, container) -> None:
    spec = SPEC | {"table": {"path": str(bank["path"]), "key": "customer_token", "matches": "cn_mobile"}}
    resp = client.post(
        "/v1/extracts", data=json.dumps(spec), content_type="application/json", headers=keys["analyst"]
    )
    assert resp.status_code == 202, resp.json
    job = wait_for(client, keys["analyst"], resp.json["extract_id"], timeout=240)
    assert job["state"] == "succeeded", job["error"]

    names = [f["name"] for f in job["files"]]
    assert "extract-00000.parquet" in names and "extract-00000.csv" in names
    assert "extract.parquet" not in names and "extract.csv" not in names
    data = _download(client, keys["analyst"], job, "extract-00000.parquet")
    released = pd.read_parquet(io.BytesIO(data))
    csv = pd.read_csv(io.BytesIO(_download(client, keys["analyst"], job, "extract-00000.csv")), dtype=str)
    assert len(csv) == len(released)

    # Only eligible subjects' table rows came in; every row of the others stayed out.
    released_tags = set(released["row_tag"].astype(int))
    assert released_tags <= bank["eligible"]
    assert not released_tags & bank["left_out"]
    assert 40 not in released_tags  # the row no subject's token matches
    result = job["result"]
    assert result["rows_in"] == len(bank["eligible"]) and result["rows_kept"] == len(released)

    quasi = ["age", "balance"]
    table = released.astype(str)
    assert anonymity.k_anonymity(table, quasi) == result["k"] >= 3
    assert anonymity.l_diversity(table, quasi, ["risk_band"]) == result["l"] >= 2

    report = json.loads(_download(client, keys["analyst"], job, "report.json"))
    assert report["engine"]["table"] == {
        "format": "parquet",
        "key": "customer_token",
        "matches": "cn_mobile",
        "rows_joined": len(bank["eligible"]),
        "eligible_without_row": 0,
    }
    assert report["engine"]["verified"]["k"] == result["k"]
    assert report["engine"]["single_machine"] == {
        "rows": result["rows_in"],
        "bound": 10,
        "run": False,
        "reason": "over_bound",
    }
    (completed,) = [e for e in audit_payloads(container) if e["action"] == "extract.completed"]
    outputs = completed["details"]["outputs"]
    assert outputs["extract-00000.parquet"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert {f["name"]: f["sha256"] for f in job["files"]} == {n: d["sha256"] for n, d in outputs.items()}


def test_a_risk_tables_identifiers_are_a_422_naming_column_and_type(client, keys, base_url, tmp_path) -> None:
    """Issue 20: a bank's table carrying its customers' mobiles and ID numbers; released as an
    attribute and a sensitive value they would link the extract's rows back to people. The spec is
    refused at submit (the table's first rows, scanned), nothing is queued."""
    seed_customers(base_url, keys, 3, tmp_path / "demo")  # the vault's attribute names
    rows = make_rows(50)
    path = tmp_path / "bank" / "ids"
    path.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "cif": [r["subject_id"] for r in rows],
                "contact": [r["mobile"] for r in rows],
                "id_no": [r["resident_id"] for r in rows],
                "balance": [1000 * i for i in range(50)],
            }
        ),
        path / "part-0.parquet",
    )
    spec = SPEC | {"table": {"path": str(path), "key": "cif", "matches": "subject_id"}}
    spec["columns"] = {
        "subject_id": SPEC["columns"]["subject_id"],
        "age": SPEC["columns"]["age"],
        "balance": SPEC["columns"]["balance"],
        "phone": {"role": "attribute", "source": "table.contact"},
        "ident": {"role": "sensitive", "source": "table.id_no"},
    }
    resp = client.post("/v1/extracts", json=spec, headers=keys["analyst"])
    assert resp.status_code == 422, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    errors = resp.json["errors"]["json"]
    assert set(errors) == {"columns.phone", "columns.ident"}
    assert errors["columns.phone"][0].startswith("table column contact holds field type cn_mobile (50 of 50")
    assert errors["columns.ident"][0].startswith("table column id_no holds field type cn_resident_id (")
    assert not any(r["mobile"] in resp.get_data(as_text=True) for r in rows)  # no value in the answer
    assert client.get("/v1/extracts", headers=keys["analyst"]).json["extracts"] == []
