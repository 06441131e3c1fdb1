"""Synthetic customers for extract tests: small, seeded, with valid resident IDs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from anonymize.extract import Population
from fieldtypes.checksums import gb11643_check

CITIES = ("1101", "1201", "1301", "3101", "3201", "3205", "3301", "3302", "4401", "4403", "5101", "6101")
OCCUPATIONS = ("教师", "工程师", "医生", "工人", "司机", "农民", "销售", "学生")
GRADES = ("A", "B", "C", "D", "E")

SPEC: dict[str, Any] = {
    "purpose": "risk_scoring",
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "name": {"role": "identifier"},
        "mobile": {"role": "identifier", "action": "drop"},
        "resident_id": {"role": "quasi", "as": "region", "hierarchy": {"type": "region"}},
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 5}},
        "gender": {"role": "quasi", "hierarchy": {"type": "suppress"}},
        "income": {"role": "quasi", "hierarchy": {"type": "income_bands"}},
        "occupation": {
            "role": "quasi",
            "hierarchy": {
                "type": "categories",
                "mapping": {"专业技术": ["教师", "工程师", "医生"], "生产运输": ["工人", "司机"]},
            },
        },
        "credit_grade": {"role": "sensitive"},
        "default_24m": {"role": "attribute"},
        "debt_ratio": {"role": "attribute", "coding": {"bottom": 5, "top": 95}},
    },
    "privacy": {"k": 5, "l": 2, "max_suppression": 0.02},
}


def make_rows(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        age = int(np.clip(rng.normal(40, 12), 18, 80))
        city = CITIES[rng.integers(len(CITIES))]
        body = f"{city}02{2024 - age}0{rng.integers(1, 10)}1{rng.integers(0, 10)}{i % 1000:03d}"
        income = float(np.exp(rng.normal(8.8, 0.6)).round())
        rows.append(
            {
                "subject_id": f"sub_{i:05d}",
                "name": f"测试客户{i:05d}",
                "mobile": f"139{i:08d}",
                "resident_id": body + gb11643_check(body),
                "age": age,
                "gender": "男" if rng.random() < 0.5 else "女",
                "income": income,
                "occupation": OCCUPATIONS[rng.integers(len(OCCUPATIONS))],
                "credit_grade": GRADES[min(4, int(rng.exponential(1.2)))],
                "default_24m": int(rng.random() < 0.08),
                "debt_ratio": round(float(rng.gamma(2.0, 0.25)), 4),
            }
        )
    return rows


@pytest.fixture(scope="session")
def customers() -> list[dict[str, Any]]:
    return make_rows(2000)


@pytest.fixture
def spec_document() -> dict[str, Any]:
    return copy.deepcopy(SPEC)


def provider(rows: list[dict[str, Any]]):
    def rows_provider(eligible: frozenset[str]) -> Iterator[dict[str, Any]]:
        yield from rows

    return rows_provider


def everyone(rows: list[dict[str, Any]], **excluded: int):
    ids = [r["subject_id"] for r in rows]
    return lambda purpose: Population.of(ids, **excluded)
