"""The extract bench's synthetic data: customers as a table, and customers stored in a vault.

``synthetic`` builds the risk-scoring table bench/extract.py anonymizes (fixed seed):
subject id, name and mobile, age, gender, a valid resident ID (province-weighted),
income (depending on age and the province's tier), occupation (depending on income),
credit grade and two plain attributes. ``seed_vault`` writes customers straight into a
vault's tables for the read phase: keys through the keyring, sealed identifiers and a
sealed attribute document each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fieldtypes.checksums import GB11643_CHECK_MAP, GB11643_WEIGHTS

SEED = 7
OCCUPATIONS = {
    "专业技术人员": ["工程师", "医生", "教师", "律师"],
    "企业管理人员": ["企业主", "经理", "财务主管", "部门主管"],
    "办事人员": ["公务员", "文员", "银行职员", "会计"],
    "商业服务人员": ["销售", "客服", "厨师", "快递员"],
    "生产运输人员": ["工人", "司机", "技工", "建筑工人"],
    "其他从业人员": ["农民", "个体户", "自由职业", "学生"],
}
# Relative population and income tier of the 31 mainland provinces (rough, for realism only).
PROVINCE_WEIGHTS = {
    "11": (22, 1), "12": (14, 1), "13": (75, 3), "14": (35, 3), "15": (24, 3), "21": (42, 2), "22": (24, 3),
    "23": (31, 3), "31": (25, 1), "32": (85, 1), "33": (65, 1), "34": (61, 2), "35": (42, 2), "36": (45, 3),
    "37": (102, 2), "41": (99, 3), "42": (58, 2), "43": (66, 3), "44": (127, 1), "45": (50, 3), "46": (10, 2),
    "50": (32, 2), "51": (84, 2), "52": (39, 3), "53": (47, 3), "54": (4, 3), "61": (40, 2), "62": (25, 3),
    "63": (6, 3), "64": (7, 3), "65": (26, 3),
}  # fmt: skip


def synthetic(rows: int, seed: int = SEED) -> pd.DataFrame:
    """Synthetic customers with correlated risk attributes; resident IDs carry valid check digits."""
    rng = np.random.default_rng(seed)
    codes = list(PROVINCE_WEIGHTS)
    weights = np.array([PROVINCE_WEIGHTS[c][0] for c in codes], dtype=float)
    province = rng.choice(len(codes), size=rows, p=weights / weights.sum())
    tier = np.array([PROVINCE_WEIGHTS[c][1] for c in codes])[province]
    city = np.minimum(rng.geometric(0.25, size=rows), 15)
    age = np.clip(rng.normal(40, 12, size=rows).round(), 18, 75).astype(np.int64)
    gender = np.where(rng.random(rows) < 0.51, "男", "女")
    peak = 1.0 - ((age - 45) / 40.0) ** 2
    income = np.exp(rng.normal(8.2 + 0.35 * (3 - tier) + 0.6 * peak, 0.55)).round().astype(np.int64)
    income = np.clip(income, 800, 300_000)
    categories = list(OCCUPATIONS)
    level = np.clip((np.log(income) - 7.5) / 3.0 + rng.normal(0, 0.25, rows), 0, 0.999)
    category = (len(categories) - 1 - (level * len(categories)).astype(int)).clip(0, len(categories) - 1)
    pick = rng.integers(0, 4, rows)
    occupation = np.array([OCCUPATIONS[categories[c]][j] for c, j in zip(category, pick, strict=True)])
    score = np.log(income) / 12 + rng.normal(0, 0.12, rows)
    grade = np.array(list("EDCBA"))[np.clip(((score - 0.55) * 14).astype(int), 0, 4)]
    default = (rng.random(rows) < np.where(np.isin(grade, ["D", "E"]), 0.12, 0.03)).astype(np.int64)
    debt_ratio = np.round(rng.gamma(2.0, 0.2, rows), 4)
    birth_year = 2024 - age
    region = np.array([f"{codes[p]}{c:02d}02" for p, c in zip(province, city, strict=True)])
    return pd.DataFrame(
        {
            "subject_id": [f"sub_{i:08d}" for i in range(rows)],
            "name": [f"客户{i}" for i in range(rows)],
            "mobile": [f"138{i:08d}" for i in range(rows)],
            "resident_id": _resident_ids(region, birth_year, rng),
            "age": age,
            "gender": gender,
            "income": income,
            "occupation": occupation,
            "credit_grade": grade,
            "default_24m": default,
            "debt_ratio": debt_ratio,
            "row_no": np.arange(rows),
        }
    )


def _resident_ids(region: np.ndarray, birth_year: np.ndarray, rng: np.random.Generator) -> list[str]:
    month = rng.integers(1, 13, region.size)
    day = rng.integers(1, 29, region.size)
    sequence = rng.integers(0, 1000, region.size)
    bodies = [
        f"{r}{y:04d}{m:02d}{d:02d}{s:03d}"
        for r, y, m, d, s in zip(region, birth_year, month, day, sequence, strict=True)
    ]
    digits = np.frombuffer("".join(bodies).encode(), dtype=np.uint8).reshape(-1, 17) - ord("0")
    checks = (digits * np.array(GB11643_WEIGHTS)).sum(axis=1) % 11
    return [b + GB11643_CHECK_MAP[c] for b, c in zip(bodies, checks, strict=True)]


IDENTIFIERS = ("name", "cn_resident_id", "cn_mobile", "bank_card", "address", "email")


def seed_vault(container: Any, subjects: int, seed: int = SEED) -> list[str]:
    """``subjects`` customers written directly: keys (through the keyring and Transit), six sealed
    identifiers and one sealed attribute document each. Returns their ids."""
    import datetime as dt
    import secrets

    from privacy import attributes
    from privacy import tables as pt
    from tokenization import tables as tt
    from vault import Binding, subject_owner

    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    ids = [f"demo-{v:016x}" for v in rng.integers(0, 2**63, subjects)]
    grades = list("ABCDE")
    for start in range(0, subjects, 1_000):
        chunk = ids[start : start + 1_000]
        with container.session_factory() as session:
            session.execute(
                pt.subjects.insert(),
                [{"subject_id": i, "kind": "subject", "state": "active", "created_at": now} for i in chunk],
            )
            keys = container.keyring.create_keys(session, [subject_owner(i) for i in chunk])
            tokens, documents = [], {}
            for n, subject_id in enumerate(chunk, start):
                key = keys[subject_owner(subject_id)]
                for field_type in IDENTIFIERS:
                    token = "tok_" + secrets.token_hex(12)
                    value = f"{field_type}-{n:09d}".encode()
                    sealed = key.seal(value, Binding(subject_id, field_type, token))
                    tokens.append(
                        {"token": token, "kind": "random", "field_type": field_type, "subject_id": subject_id,
                         "sealed": sealed, "blind_index": None, "created_at": now}
                    )  # fmt: skip
                documents[subject_id] = {
                    "age": int(rng.integers(18, 76)),
                    "gender": "M" if n % 2 else "F",
                    "province": "浙江省",
                    "city": "杭州市",
                    "region_code": f"3301{n % 10:02d}",
                    "occupation": "工程师",
                    "monthly_income": float(rng.integers(20, 500) * 100),
                    "debt_ratio": round(float(rng.random()), 3),
                    "loans": int(rng.integers(0, 5)),
                    "overdue_24m": int(rng.integers(0, 3)),
                    "credit_grade": grades[n % 5],
                    "products": "储蓄卡;理财",
                    "default": int(n % 17 == 0),
                }
            session.execute(tt.tokens.insert(), tokens)
            attributes.store(session, keys, documents, now)
            session.commit()
    return ids
