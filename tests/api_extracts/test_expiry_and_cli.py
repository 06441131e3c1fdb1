"""Expiry destroys an extract's pseudonym key (then re-identification is 410 Gone); the command line
builds extracts from the vault's population; identifiers feed quasi-identifiers only under their purpose."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from pycanon import anonymity

from anonymize.extract import tables as t
from anonymize.extract.regions import PROVINCES, greater_region
from anonymize.extract.service import key_name
from piivault.cli import main
from tests.api.conftest import settings_env
from tests.api_extracts.conftest import QUASI, SPEC, second_dpo_grants, seed_customers, wait_for
from tests.approved import TEST_DPO
from tests.consent.conftest import audit_payloads
from vault import system_owner

REASON = "model score above 0.95: manual review of the application"


def _submit(client, keys, spec: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/v1/extracts", data=json.dumps(spec), content_type="application/json", headers=keys["analyst"]
    )
    assert resp.status_code == 202, resp.json
    job = wait_for(client, keys["analyst"], resp.json["extract_id"])
    assert job["state"] == "succeeded", job["error"]
    return job


def _cli_env(container) -> dict[str, str]:
    return settings_env(container) | {"PIIVAULT_EXTRACT_DIR": str(container.settings.extract_dir)}


def test_expiry_destroys_the_pseudonym_key(client, keys, base_url, tmp_path, container) -> None:
    seed_customers(base_url, keys, 40, tmp_path / "demo")
    job = _submit(client, keys, SPEC | {"expires_in_days": 7})
    url = f"/v1/extracts/{job['extract_id']}"
    assert job["expires_at"].startswith((dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).date().isoformat())
    csv = client.get(url + "/files/extract.csv", headers=keys["analyst"]).data
    pseudonym = pd.read_csv(io.BytesIO(csv), dtype=str)["subject_id"][0]
    body = {"column": "subject_id", "pseudonym": pseudonym, "reason": REASON}
    second_dpo_grants(client, keys, job["extract_id"])
    assert client.post(url + "/reidentify", json=body, headers=keys["dpo"]).status_code == 200
    owner = system_owner(key_name(job["extract_id"]))
    with container.session_factory() as s:
        assert owner in container.keyring.data_keys(s, [owner])
        # A week passes (the job row's clock is moved back rather than the world's forward).
        s.execute(
            t.extracts.update()
            .where(t.extracts.c.extract_id == job["extract_id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        s.commit()

    runner = CliRunner()
    ran = runner.invoke(main, ["jobs", "run"], env=_cli_env(container))
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout.strip().splitlines()[-1])["extracts"]["expired"] == 1
    again = runner.invoke(main, ["jobs", "run"], env=_cli_env(container))
    assert json.loads(again.stdout.strip().splitlines()[-1])["extracts"]["expired"] == 0

    with container.session_factory() as s:
        assert container.keyring.data_keys(s, [owner]) == {}
        left = s.scalar(
            sa.select(sa.func.count())
            .select_from(t.extract_pseudonyms)
            .where(t.extract_pseudonyms.c.extract_id == job["extract_id"])
        )
        assert left == 0
    assert not (Path(container.settings.extract_dir) / job["extract_id"]).exists()
    expired = client.get(url, headers=keys["analyst"]).json
    assert expired["state"] == "expired" and expired["files"] == [] and expired["expired_at"]
    gone = client.post(url + "/reidentify", json=body, headers=keys["dpo"])
    assert gone.status_code == 410 and gone.json["type"].endswith("extract_expired"), gone.json
    assert "destroyed" in gone.json["detail"]
    assert client.get(url + "/files/extract.csv", headers=keys["analyst"]).status_code == 410

    events = audit_payloads(container)
    (expiry,) = [e for e in events if e["action"] == "extract.expire"]
    assert expiry["details"] == {"extract_id": job["extract_id"], "was": "succeeded", "key_destroyed": True}
    attempts = [e for e in events if e["action"] == "extract.reidentify"]
    assert [e["outcome"] for e in attempts] == ["success", "denied"]


def test_extract_run_on_the_command_line(client, keys, base_url, tmp_path, container) -> None:
    seed_customers(base_url, keys, 60, tmp_path / "demo")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    ran = runner.invoke(main, ["extract", "run", str(spec_file), "--out", str(out)], env=_cli_env(container))
    assert ran.exit_code == 0, ran.output
    answer = json.loads(ran.stdout.strip().splitlines()[-1])
    assert answer["k"] >= 3 and answer["l"] >= 2
    assert f"extract {answer['extract_id']}" in ran.stderr  # the progress bar's label (no TTY here)
    assert sorted(answer["files"]) == sorted(p.name for p in out.iterdir())
    released = pd.read_csv(out / "extract.csv", dtype=str, keep_default_na=False)
    assert anonymity.k_anonymity(released, QUASI) == answer["k"] and len(released) == answer["rows_kept"]

    # The job is an extract like any other: listed, shown, re-identifiable, not an analyst's.
    job = client.get(f"/v1/extracts/{answer['extract_id']}", headers=keys["dpo"]).json
    assert job["requested_by"].startswith("cli:") and job["state"] == "succeeded"
    assert client.get(f"/v1/extracts/{answer['extract_id']}", headers=keys["analyst"]).status_code == 404
    listed = runner.invoke(main, ["extract", "list"], env=_cli_env(container))
    assert json.loads(listed.stdout.splitlines()[0])["extract_id"] == answer["extract_id"]
    shown = runner.invoke(main, ["extract", "show", answer["extract_id"]], env=_cli_env(container))
    assert json.loads(shown.stdout)["result"]["rows_kept"] == answer["rows_kept"]
    second_dpo_grants(client, keys, answer["extract_id"])  # the DPO's grant, another DPO approved
    found = runner.invoke(
        main,
        [
            "extract",
            "reidentify",
            answer["extract_id"],
            "--column",
            "subject_id",
            "--pseudonym",
            released["subject_id"][0],
            "--reason",
            REASON,
            "--as",
            TEST_DPO,
        ],
        env=_cli_env(container),
    )
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["subject_ids"][0].startswith("demo-")

    bad = tmp_path / "bad.yaml"
    bad.write_text("purpose: risk_scoring\ncolumns: {}\nprivacy: {k: 1}\n", encoding="utf-8")
    refused = runner.invoke(main, ["extract", "run", str(bad), "--out", str(out)], env=_cli_env(container))
    assert refused.exit_code == 2 and "privacy.k" in refused.stderr and "Traceback" not in refused.output


def test_identifiers_feed_quasi_identifiers_under_the_purpose_and_separate_consent(
    client, keys, base_url, tmp_path, container, make_key
) -> None:
    """Region and birth year from the resident ID: the purpose must cover the field type, and since
    a resident ID is sensitive personal information, only separately consenting subjects count."""
    table = seed_customers(base_url, keys, 40, tmp_path / "demo").set_index("subject_id")
    spec = {
        "purpose": "risk_scoring",
        "columns": {
            "subject_id": {"role": "identifier", "action": "pseudonym"},
            "cn_resident_id": {
                "role": "quasi",
                "as": "region",
                "hierarchy": {"type": "region", "level": "province"},
            },
            "birth": {
                "role": "quasi",
                "source": "cn_resident_id",
                "hierarchy": {"type": "birth_year", "width": 10},
            },
            "credit_grade": {"role": "sensitive"},
        },
        "privacy": {"k": 3, "l": 1},
    }
    refused = client.post(
        "/v1/extracts", data=json.dumps(spec), content_type="application/json", headers=keys["analyst"]
    )
    assert refused.status_code == 422
    assert set(refused.json["errors"]["json"]) == {"columns.cn_resident_id", "columns.birth.source"}

    purpose = client.get("/v1/purposes/risk_scoring", headers=keys["dpo"]).json
    # More field types widen the purpose: one DPO asks (202), another approves (issue 15).
    dai = {"Authorization": f"Bearer {make_key('dpo', name='dai', person='dai')}"}
    don = {"Authorization": f"Bearer {make_key('dpo', name='don', person='don')}"}
    changed = client.patch(
        "/v1/purposes/risk_scoring",
        json={"field_types": [*purpose["field_types"], "cn_resident_id"]},
        headers=dai,
    )
    assert changed.status_code == 202, changed.json
    approved = client.post(f"/v1/approvals/{changed.json['approval_id']}/approve", headers=don)
    assert approved.status_code == 200, approved.json
    consented = sorted(table.index[table["consents"].fillna("").str.contains("risk_scoring")])
    separately = consented[:12]
    for sid in separately:
        renewed = client.post(
            f"/v1/subjects/{sid}/consents/risk_scoring/renew",
            json={"channel": "app", "separate": True},
            headers=keys["service"],
        )
        assert renewed.status_code == 201, renewed.json

    job = _submit(client, keys, spec)
    result = job["result"]
    assert result["eligible"] == len(separately)
    assert result["excluded_by_reason"]["separate_consent_missing"] == len(consented) - len(separately)
    released = pd.read_csv(
        io.BytesIO(
            client.get(f"/v1/extracts/{job['extract_id']}/files/extract.csv", headers=keys["analyst"]).data
        ),
        dtype=str,
        keep_default_na=False,
    )
    assert anonymity.k_anonymity(released, ["region", "birth"]) >= 3
    second_dpo_grants(client, keys, job["extract_id"])
    for _, row in released.iterrows():
        subject = client.post(
            f"/v1/extracts/{job['extract_id']}/reidentify",
            json={"column": "subject_id", "pseudonym": row["subject_id"], "reason": REASON},
            headers=keys["dpo"],
        ).json["subject_ids"][0]
        assert subject in separately
        truth = table.loc[subject]
        code = truth["region_code"][:2]
        assert row["region"] == "*" or any(
            n in row["region"] for n in (PROVINCES[code], greater_region(code))
        )
        born = dt.date.today().year - int(truth["age"])
        low, _, high = row["birth"].partition("-")
        assert row["birth"] == "*" or int(low) - 1 <= born <= int(high or low) + 1
