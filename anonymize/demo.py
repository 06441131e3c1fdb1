"""Synthetic customers for tests, benches and the README tour (``piivault anonymize demo seed``).

Everything goes through the public API with a ``service`` key
(:class:`piivault_client.PiivaultClient`), as a real onboarding system would; the
key holds ``risk_scoring`` and ``marketing`` (consents are recorded only for
a client's own purposes) and the ``write_attributes`` permission
(``piivault clients create ... --allow-attributes``):

* identifiers - name, resident ID (GB 11643 check digit), mobile, bank card
  (UnionPay 62, Luhn), address, email - are tokenized under the customer's
  opaque ``subject_id`` (``demo-<hex>``);
* consents: ``risk_scoring`` for about 70 % of customers and ``marketing``
  for about 35 %, granted through ``POST /v1/subjects/{id}/consents``;
* risk attributes (age, gender, province/city and the 6-digit ``region_code``
  agree with the resident ID; occupation, income, debt ratio, loans, overdue
  count, credit grade, products, a default label) are stored through
  ``POST /v1/attributes``, sealed under each customer's data key, where
  extracts read them; a copy goes to ``OUT/customers.parquet`` and
  ``OUT/customers.csv``, one row per ``subject_id`` (for benches and checks);
* CRM notes mentioning the customers' identifiers in clear go to
  ``OUT/notes.jsonl`` (``{subject_id, text}``), input for the free-text engine.

The data are made up (Faker ``zh_CN``); nothing is logged. Pass ``seed`` for
a reproducible set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from faker import Faker

from anonymize.extract.regions import city_label, province_name
from fieldtypes import default_registry
from fieldtypes.checksums import GB11643, LUHN
from piivault_client import PiivaultClient

CONSENT_SHARES = {"risk_scoring": 0.70, "marketing": 0.35}
IDENTIFIER_FIELDS = ("name", "cn_resident_id", "cn_mobile", "bank_card", "address", "email")
PRODUCTS = ("储蓄卡", "信用卡", "消费贷", "房贷", "车贷", "理财", "基金")
GRADES = ("A", "B", "C", "D", "E")
_CHANNELS = ("app", "branch", "phone", "web")
_NOTE_TEMPLATES = (
    "客户{name}来电咨询信用卡额度，回拨号码{cn_mobile}。",
    "{name}（身份证{cn_resident_id}）到网点办理{product}，已核实身份。",
    "客户反映卡号{bank_card}有一笔不明扣款，联系电话{cn_mobile}，已登记投诉。",
    "更新联系方式：邮箱{email}，住址{address}。",
    "{name}申请{product}，逾期记录{overdue}次，转风控复核。",
    "Customer {name} called from {cn_mobile} about card {bank_card}; callback requested.",
)
_FIELDS = default_registry()


@dataclass(frozen=True, slots=True)
class Customer:
    subject_id: str
    identifiers: dict[str, str]
    attributes: dict[str, Any]


def generate_customers(n: int, *, seed: int | None = None, today: dt.date | None = None) -> list[Customer]:
    """``n`` synthetic customers whose identifiers are valid for their field types."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(rng.getrandbits(32))
    today = today or dt.date.today()
    return [_customer(rng, fake, today) for _ in range(n)]


def _customer(rng: random.Random, fake: Faker, today: dt.date) -> Customer:
    while True:
        resident_id = fake.ssn(min_age=18, max_age=75)
        if GB11643.is_valid(resident_id) and province_name(resident_id[:2]):
            break
    born = dt.date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    identifiers = {
        "name": fake.name(),
        "cn_resident_id": resident_id,
        "cn_mobile": _valid("cn_mobile", fake.phone_number),
        "bank_card": LUHN.complete("622" + "".join(rng.choice("0123456789") for _ in range(15))),
        "address": fake.address(),
        "email": fake.email(),
    }
    income = round(rng.lognormvariate(9.0, 0.6), -2)
    loans = min(8, int(rng.expovariate(0.8)))
    debt_ratio = round(min(1.5, rng.betavariate(2, 5) * (1 + loans / 4)), 3)
    overdue = min(24, int(rng.expovariate(1.5 - min(debt_ratio, 1.0))))
    risk = 0.6 * debt_ratio + 0.15 * overdue - 0.00001 * income
    grade = GRADES[max(0, min(4, int(risk * 3 + rng.gauss(0, 0.5) + 1)))]
    attributes = {
        "age": age,
        "gender": "M" if int(resident_id[16]) % 2 else "F",
        "province": province_name(resident_id[:2]),
        "city": city_label(resident_id[:4]),
        "region_code": resident_id[:6],
        "occupation": fake.job(),
        "monthly_income": income,
        "debt_ratio": debt_ratio,
        "loans": loans,
        "overdue_24m": overdue,
        "credit_grade": grade,
        "products": ";".join(sorted(rng.sample(PRODUCTS, rng.randint(1, 3)))),
        "default": int(rng.random() < min(0.9, 0.02 + 0.1 * GRADES.index(grade) + 0.05 * overdue)),
    }
    return Customer(f"demo-{rng.getrandbits(64):016x}", identifiers, attributes)


def _valid(code: str, make: Any) -> str:
    field = _FIELDS.get(code)
    while True:
        value = make()
        if field.is_valid(value):
            return value


def notes(customers: list[Customer], m: int, *, seed: int | None = None) -> Iterator[dict[str, str]]:
    """``m`` CRM notes ``{subject_id, text}``, each mentioning one customer's identifiers."""
    rng = random.Random(seed)
    for _ in range(m):
        customer = rng.choice(customers)
        template = rng.choice(_NOTE_TEMPLATES)
        values = {**customer.identifiers, "product": rng.choice(PRODUCTS)}
        values["overdue"] = customer.attributes["overdue_24m"]
        yield {"subject_id": customer.subject_id, "text": template.format(**values)}


def _form_digest(form_number: int) -> str:
    return "sha256:" + hashlib.sha256(f"demo-form-{form_number:012x}".encode("ascii")).hexdigest()


def seed(
    client: PiivaultClient, n_customers: int, n_notes: int, out_dir: Path, *, seed: int | None = None
) -> dict[str, int]:
    """Create ``n_customers`` through the API and write the side files; returns counts (no values).

    Raises :class:`piivault_client.PiivaultError` when the API refuses a request
    (a key without the ``service`` role, the purposes or the ``write_attributes``
    permission: 403) and ``RuntimeError`` if it
    rejects a generated value (a bug here).
    """
    rng = random.Random(seed)
    customers = generate_customers(n_customers, seed=rng.getrandbits(32))
    items = [
        {"field_type": code, "value": c.identifiers[code], "subject_id": c.subject_id}
        for c in customers
        for code in IDENTIFIER_FIELDS
    ]
    results = client.tokenize(items)
    rejected = [r["error"]["rule"] for r in results if "token" not in r]
    if rejected:
        raise RuntimeError(f"{len(rejected)} generated values were rejected (first rule: {rejected[0]})")

    consents = {purpose: 0 for purpose in CONSENT_SHARES}
    granted: dict[str, list[str]] = {c.subject_id: [] for c in customers}
    for c in customers:
        for purpose, share in CONSENT_SHARES.items():
            if rng.random() < share:
                client.consents.grant(
                    c.subject_id,
                    purpose,
                    rng.choice(_CHANNELS),
                    # A digest of the (made-up) signed form: a random ref could read as a mobile.
                    evidence=_form_digest(rng.getrandbits(48)),
                )
                consents[purpose] += 1
                granted[c.subject_id].append(purpose)

    client.attributes.put({"subject_id": c.subject_id, "attributes": c.attributes} for c in customers)

    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        [
            {"subject_id": c.subject_id, **c.attributes, "consents": ";".join(granted[c.subject_id])}
            for c in customers
        ]
    )
    table.to_parquet(out_dir / "customers.parquet", index=False)
    table.to_csv(out_dir / "customers.csv", index=False)
    with (out_dir / "notes.jsonl").open("w", encoding="utf-8") as f:
        for note in notes(customers, n_notes, seed=rng.getrandbits(32)):
            f.write(json.dumps(note, ensure_ascii=False) + "\n")
    return {
        "customers": n_customers,
        "tokens": len(results),
        **{f"consents_{purpose}": count for purpose, count in consents.items()},
        "notes": n_notes,
    }
