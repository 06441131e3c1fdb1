"""POST /v1/anonymize/scan: column types from sampled rows, counts only, validated input, roles."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.api.conftest import bearer

URL = "/v1/anonymize/scan"
DATA = Path(__file__).resolve().parent.parent / "data" / "customers_zh.csv"


def _table() -> tuple[list[str], list[list[str | None]]]:
    with open(DATA, newline="", encoding="utf-8-sig") as handle:
        header, *rows = list(csv.reader(handle))
    return header, [[cell or None for cell in row] for row in rows[:40]]


def test_columns_get_types_and_no_value_comes_back(client, make_key):
    columns, rows = _table()
    r = client.post(URL, json={"columns": columns, "rows": rows}, headers=bearer(make_key("dpo")))
    assert r.status_code == 200, r.json
    found = {c["column"]: c["field_type"] for c in r.json["columns"]}
    assert found["身份证号"] == "cn_resident_id" and found["手机号"] == "cn_mobile" and found["余额"] is None
    body = r.get_data(as_text=True)
    assert [cell for row in rows for cell in row if cell and len(cell) >= 4 and cell in body] == []


def test_short_rows_count_as_empty_cells(client, make_key):
    body = {
        "columns": ["姓名", "手机号"],
        "rows": [["张伟", "13812345678"], ["李娜"], ["王芳", "13912345678", "x"]],
    }
    r = client.post(URL, json=body, headers=bearer(make_key("analyst")))
    assert r.status_code == 200, r.json
    assert [(c["column"], c["sampled"]) for c in r.json["columns"]] == [("姓名", 3), ("手机号", 2)]


@pytest.mark.parametrize(
    "body",
    [
        {"columns": ["a"], "rows": [["x"]], "sample": 5},  # unknown field
        {"columns": [], "rows": []},
        {"columns": ["a"], "rows": [["x"]] * 1001},
        {"columns": ["a"], "rows": [[12]]},
        {"columns": ["a"], "rows": [["x" * 1001]]},
    ],
)
def test_invalid_requests_are_422(client, make_key, body):
    r = client.post(URL, json=body, headers=bearer(make_key("dpo")))
    assert r.status_code == 422 and r.content_type == "application/problem+json"


@pytest.mark.parametrize("role", ["service", "auditor", "admin"])
def test_other_roles_are_403(client, make_key, role):
    r = client.post(URL, json={"columns": ["a"], "rows": [["x"]]}, headers=bearer(make_key(role)))
    assert r.status_code == 403 and r.content_type == "application/problem+json"


def test_needs_authentication(client):
    assert client.post(URL, json={"columns": ["a"], "rows": [["x"]]}).status_code == 401
