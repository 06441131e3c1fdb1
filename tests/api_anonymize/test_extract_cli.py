"""``piivault anonymize extract run``: seeded side table, population from the API, files and progress."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from anonymize.demo import seed
from api.client import PiivaultClient
from piivault.cli import main

SPEC = """
purpose: risk_scoring
columns:
  subject_id: {role: identifier, action: pseudonym}
  age: {role: quasi, hierarchy: {type: age_bands, width: 10}}
  gender: {role: quasi, hierarchy: {type: suppress}}
  monthly_income: {role: quasi, hierarchy: {type: income_bands}}
  default: {role: sensitive}
  debt_ratio: {role: attribute}
privacy: {k: 3, l: 2, max_suppression: 0.3}
"""


@pytest.fixture
def base_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_extract_run_over_the_seeded_table(base_url, make_key, tmp_path):
    key = make_key("service", name="onboarding", purposes=["account_service"])
    summary = seed(PiivaultClient(base_url, key), 60, 0, tmp_path / "demo", seed=3)
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "anonymize",
            "extract",
            "run",
            str(tmp_path / "spec.yaml"),
            "--table",
            str(tmp_path / "demo" / "customers.parquet"),
            "--out",
            str(out),
            "--url",
            base_url,
        ],
        env={"PIIVAULT_API_KEY": key},
    )
    assert r.exit_code == 0, r.output
    answer = json.loads(r.output.strip().splitlines()[-1])
    assert answer["k"] >= 3 and "extract.parquet" in answer["files"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    released = pd.read_parquet(out / "extract.parquet")
    consented = summary["consents_risk_scoring"]
    assert len(released) <= consented
    assert report["population"]["eligible"] == consented
    assert report["population"]["excluded_by_reason"] == {"no_consent": 60 - consented}
    seeded = set(pd.read_parquet(tmp_path / "demo" / "customers.parquet")["subject_id"])
    assert not seeded & set(released["subject_id"].astype(str))  # pseudonyms, not subject ids
