"""Fixtures of the extract API tests: the app with its extract directory, demo customers seeded over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from anonymize.demo import seed
from piivault.settings import Settings
from piivault_client import PiivaultClient
from tests.api.conftest import app, bearer, client, make_key  # noqa: F401
from tests.approved import SECOND_DPO, TEST_DPO
from tests.conftest import make_settings

SPEC: dict[str, Any] = {
    "purpose": "risk_scoring",
    "description": "test extract",
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "cn_mobile": {"role": "identifier", "action": "pseudonym", "as": "mobile_pseudonym"},
        "name": {"role": "identifier"},
        "region_code": {
            "role": "quasi",
            "as": "region",
            "hierarchy": {"type": "region", "source": "admin_code", "level": "province"},
        },
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 10}},
        "gender": {"role": "quasi", "hierarchy": {"type": "suppress"}},
        "monthly_income": {"role": "quasi", "hierarchy": {"type": "income_bands"}},
        "credit_grade": {"role": "sensitive"},
        "default": {"role": "attribute"},
        "debt_ratio": {"role": "attribute"},
    },
    "privacy": {"k": 3, "l": 2, "max_suppression": 0.3},
}
QUASI = ["region", "age", "gender", "monthly_income"]


@pytest.fixture
def settings(database_url: str, bao: Any, tmp_path: Path) -> Settings:
    return make_settings(database_url, bao, tmp_path, extract_dir=str(tmp_path / "extracts"))


@pytest.fixture
def base_url(app) -> Iterator[str]:  # noqa: F811
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def keys(make_key: Callable[..., str]) -> dict[str, dict[str, str]]:  # noqa: F811
    made = {
        "service": make_key(
            "service",
            name="onboarding",
            purposes=["account_service", "risk_scoring", "marketing"],
            permissions=["write_attributes"],
        ),
        "analyst": make_key("analyst", name="risk-team", purposes=["risk_scoring"]),
        "other_analyst": make_key("analyst", name="fraud-team", purposes=["risk_scoring"]),
        # DPOs name their persons: re-identification needs a second DPO's approval (four eyes).
        "dpo": make_key("dpo", name="dpo", person=TEST_DPO),
        "dpo2": make_key("dpo", name="dpo2", person=SECOND_DPO),
        "auditor": make_key("auditor", name="auditor"),
        "admin": make_key("admin", name="admin"),
    }
    return {role: bearer(key) for role, key in made.items()} | {"_raw_service": made["service"]}  # type: ignore


def second_dpo_grants(http: FlaskClient, keys: dict[str, Any], extract_id: str) -> str:
    """The first DPO asks to re-identify pseudonyms of ``extract_id`` (POST /v1/approvals) and the
    second DPO, another person, approves: the grant's id."""
    asked = http.post(
        "/v1/approvals",
        json={
            "action": "extract.reidentify",
            "scope": {"target": extract_id},
            "reason_code": "investigation",
            "reason_text": "a complaint about a released row",
        },
        headers=keys["dpo"],
    )
    assert asked.status_code == 201, asked.json
    approved = http.post(f"/v1/approvals/{asked.json['id']}/approve", json={}, headers=keys["dpo2"])
    assert approved.status_code == 200 and approved.json["state"] == "approved", approved.json
    return approved.json["grant_id"]


def seed_customers(
    base_url: str, keys: dict[str, Any], n: int, out: Path, seed_value: int = 3
) -> pd.DataFrame:
    """``n`` demo customers through the API; returns their side table (attributes, consents)."""
    seed(PiivaultClient(base_url, keys["_raw_service"]), n, 0, out, seed=seed_value)
    return pd.read_parquet(out / "customers.parquet")


def wait_for(http: FlaskClient, headers: dict[str, str], extract_id: str, timeout: float = 60) -> dict:
    """Poll the job until it is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/v1/extracts/{extract_id}", headers=headers).json
        if job["state"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
