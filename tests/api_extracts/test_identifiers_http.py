"""Issue 14, item 1: an extract over HTTP never releases a direct identifier's value."""

from __future__ import annotations

import io
import json
import random

import pandas as pd

from anonymize.demo import IDENTIFIER_FIELDS, generate_customers
from tests.api_extracts.conftest import seed_customers, wait_for

SEED = 5


def _post(client, keys, spec):
    return client.post(
        "/v1/extracts", data=json.dumps(spec), content_type="application/json", headers=keys["analyst"]
    )


def test_the_analysts_spec_releasing_a_name_and_a_mobile_is_refused(client, keys, base_url, tmp_path) -> None:
    """The attack: a name as a sensitive column, a mobile as an attribute. 422 naming both columns."""
    seed_customers(base_url, keys, 3, tmp_path / "demo")  # attribute names are known once stored
    spec = {
        "purpose": "risk_scoring",
        "columns": {
            "subject_id": {"role": "identifier", "action": "pseudonym"},
            "age": {"role": "quasi", "hierarchy": {"type": "age_bands"}},
            "full_name": {"role": "sensitive", "source": "name"},
            "mobile": {"role": "attribute", "source": "cn_mobile"},
        },
        "privacy": {"k": 3},
    }
    resp = _post(client, keys, spec)
    assert resp.status_code == 422, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    errors = resp.json["errors"]["json"]
    assert set(errors) == {"columns.full_name", "columns.mobile"}
    assert "field type name is a direct identifier" in errors["columns.full_name"][0]
    assert "field type cn_mobile is a direct identifier" in errors["columns.mobile"][0]
    assert "columns.full_name" in resp.json["detail"] and "columns.mobile" in resp.json["detail"]
    assert client.get("/v1/extracts", headers=keys["analyst"]).json["extracts"] == []


def test_spec_and_vault_problems_come_in_one_answer(client, keys, base_url, tmp_path) -> None:
    """Issue 13: two problems, two messages - the spec's own (k) and the vault's (identifier, purpose)."""
    seed_customers(base_url, keys, 3, tmp_path / "demo")
    spec = {
        "purpose": "risk_scoring",
        "colour": "blue",
        "columns": {
            "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 0}},
            "income": {"role": "quasi", "source": "monthly_income", "hierarchy": {"type": "income_bands"}},
            "email": {"role": "sensitive"},
            "shoe_size": {"role": "attribute"},
        },
        "privacy": {"k": 1},
    }
    resp = _post(client, keys, spec)
    assert resp.status_code == 422
    errors = resp.json["errors"]["json"]
    assert set(errors) == {
        "colour",
        "columns.age.hierarchy.width",
        "columns.email",
        "columns.shoe_size",
        "privacy.k",
    }
    # The email breaks two rules: a direct identifier released, and a field type risk_scoring does not cover.
    assert len(errors["columns.email"]) == 2
    assert any("direct identifier" in m for m in errors["columns.email"])
    assert any("not covered by purpose risk_scoring" in m for m in errors["columns.email"])


def test_permitted_derivations_release_no_identifier_value(client, keys, base_url, tmp_path) -> None:
    """Name and mobile as pseudonyms, the address as its province: the files hold no identifier."""
    seed_customers(base_url, keys, 60, tmp_path / "demo", seed_value=SEED)
    spec = {
        "purpose": "risk_scoring",
        "columns": {
            "subject_id": {"role": "identifier", "action": "pseudonym"},
            "name": {"role": "identifier", "action": "pseudonym", "as": "name_pseudonym"},
            "cn_mobile": {"role": "identifier", "action": "pseudonym", "as": "mobile_pseudonym"},
            "bank_card": {"role": "identifier"},
            "address": {
                "role": "quasi",
                "as": "province",
                "hierarchy": {"type": "region", "source": "address", "level": "province"},
            },
            "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 20}},
            "credit_grade": {"role": "sensitive"},
        },
        "privacy": {"k": 3, "max_suppression": 0.2},
    }
    resp = _post(client, keys, spec)
    assert resp.status_code == 202, resp.json
    job = wait_for(client, keys["analyst"], resp.json["extract_id"])
    assert job["state"] == "succeeded", job["error"]
    url = f"/v1/extracts/{job['extract_id']}/files/"
    data = {}
    for name, media_type in (
        ("extract.csv", "text/csv; charset=utf-8"),
        ("report.json", "application/json"),
        ("report.html", "text/html; charset=utf-8"),
    ):
        got = client.get(url + name, headers=keys["analyst"])
        # Issue 14: one charset, and no copy kept by a browser or a proxy.
        assert got.headers["Content-Type"] == media_type
        assert got.headers["Cache-Control"] == "no-store"
        data[name] = got.data
    released = pd.read_csv(io.BytesIO(data["extract.csv"]), dtype=str, keep_default_na=False)
    assert list(released.columns) == [
        "subject_id", "name_pseudonym", "mobile_pseudonym", "province", "age", "credit_grade",
    ]  # fmt: skip
    assert len(released) > 0 and released["province"].str.len().max() < 12
    customers = generate_customers(60, seed=random.Random(SEED).getrandbits(32))
    text = data["extract.csv"].decode("utf-8")
    for customer in customers:
        assert set(customer.identifiers) == set(IDENTIFIER_FIELDS)
        for value in customer.identifiers.values():
            assert value not in text
        assert customer.subject_id not in text
    report = json.loads(data["report.json"])
    assert report["identifiers"] == {
        "name": {"source": "name", "released_as": "pseudonym"},
        "cn_mobile": {"source": "cn_mobile", "released_as": "pseudonym"},
        "bank_card": {"source": "bank_card", "released_as": "dropped"},
        "address": {"source": "address", "released_as": "region (province)"},
    }
