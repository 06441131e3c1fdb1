"""Demo seeding over real HTTP on loopback: tokens, consents, side table, notes."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from anonymize.demo import IDENTIFIER_FIELDS, generate_customers, seed
from fieldtypes import default_registry
from piivault.cli import main
from piivault_client import PiivaultClient, PiivaultError


@pytest.fixture
def base_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def service_key(make_key) -> str:
    return make_key(
        "service",
        name="onboarding",
        purposes=["account_service", "risk_scoring", "marketing"],
        permissions=["write_attributes"],
    )


def test_generated_identifiers_are_valid_and_agree_with_attributes():
    fields = default_registry()
    customers = generate_customers(200, seed=7)
    for c in customers:
        assert all(fields.get(code).is_valid(c.identifiers[code]) for code in IDENTIFIER_FIELDS)
        assert c.attributes["gender"] == ("M" if int(c.identifiers["cn_resident_id"][16]) % 2 else "F")
        assert 18 <= c.attributes["age"] <= 76 and c.attributes["default"] in (0, 1)
    assert len({c.subject_id for c in customers}) == 200
    assert [c.identifiers for c in generate_customers(3, seed=7)] == [c.identifiers for c in customers[:3]]


def test_seed_through_the_api(base_url, service_key, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    pv = PiivaultClient(base_url, service_key)
    summary = seed(pv, 12, 40, tmp_path, seed=1)
    assert summary["customers"] == 12 and summary["tokens"] == 12 * len(IDENTIFIER_FIELDS)
    assert 0 < summary["consents_risk_scoring"] <= 12
    table = pd.read_parquet(tmp_path / "customers.parquet")
    assert len(table) == 12 and {"age", "credit_grade", "default", "consents"} <= set(table.columns)
    assert not set(IDENTIFIER_FIELDS) & set(table.columns)
    sid = table["subject_id"][0]
    assert pv.subjects.get(sid)["token_count"] == len(IDENTIFIER_FIELDS)
    consented = int(table["consents"].fillna("").str.contains("risk_scoring").sum())
    assert consented == summary["consents_risk_scoring"]
    notes = [json.loads(line) for line in (tmp_path / "notes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(notes) == 40 and set(notes[0]) == {"subject_id", "text"}
    numbers = {number for n in notes for number in re.findall(r"\d{11,19}", n["text"])}
    assert numbers and not any(number in caplog.text for number in numbers)


def test_cli_and_wrong_role(base_url, make_key, service_key, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "anonymize",
            "demo",
            "seed",
            "--customers",
            "3",
            "--notes",
            "5",
            "--url",
            base_url,
            "--out",
            str(tmp_path),
        ],
        env={"PIIVAULT_API_KEY": service_key},
    )
    assert r.exit_code == 0, r.output
    assert (
        json.loads(r.output.strip().splitlines()[-1])["customers"] == 3
        and (tmp_path / "customers.csv").exists()
    )
    with pytest.raises(PiivaultError) as e:
        seed(PiivaultClient(base_url, make_key("analyst")), 2, 0, tmp_path)
    assert e.value.status == 403
    r = CliRunner().invoke(
        main,
        ["anonymize", "demo", "seed", "--customers", "1", "--url", base_url, "--key", make_key("auditor")],
    )
    assert r.exit_code == 1 and "403" in r.output and "Traceback" not in r.output
