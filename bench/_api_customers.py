"""The API bench's synthetic customers: valid values, random, never real people.

``onboarding_batch`` is one batch tokenize request's items: 1,000 values, 200 new
customers with five each (name, mobile, resident ID, bank card, email);
``mobile`` a new mobile number for the single-value tokenize requests;
``single_bodies`` the single-value requests' bodies; ``new_values_for`` enough
customers, repeated, for a phase's tokenize requests all to send new values.
"""

from __future__ import annotations

import json
import secrets

from fieldtypes.checksums import GB11643, LUHN

BATCH = 1_000
CUSTOMER_VALUES = 5  # the values of one customer (customer_items); a batch holds whole customers
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"


def mobile() -> str:
    return f"1{secrets.choice('3456789')}{secrets.randbelow(10**9):09d}"


def _resident_id() -> str:
    year, month, day = 1950 + secrets.randbelow(55), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)
    return GB11643.complete(f"110105{year:04d}{month:02d}{day:02d}{secrets.randbelow(1000):03d}")


def _card() -> str:
    return LUHN.complete("622202" + f"{secrets.randbelow(10**12):012d}")


def customer_items(subject_id: str) -> list[dict]:
    name = secrets.choice(SURNAMES) + "".join(secrets.choice(GIVEN) for _ in range(2))
    return [
        {"field_type": "name", "value": name, "subject_id": subject_id},
        {"field_type": "cn_mobile", "value": mobile(), "subject_id": subject_id},
        {"field_type": "cn_resident_id", "value": _resident_id(), "subject_id": subject_id},
        {"field_type": "bank_card", "value": _card(), "subject_id": subject_id},
        {"field_type": "email", "value": f"c{secrets.token_hex(5)}@example.com", "subject_id": subject_id},
    ]


def onboarding_batch() -> list[dict]:
    items: list[dict] = []
    while len(items) < BATCH:
        items.extend(customer_items("cust-" + secrets.token_hex(8)))
    return items[:BATCH]


def single_bodies(customers: list[str], tokens: list[str]) -> dict[str, list[bytes]]:
    """The single-value requests: a new mobile for each customer; each token under account_service."""
    return {
        "tokenize": [
            json.dumps({"items": [{"field_type": "cn_mobile", "value": mobile(), "subject_id": c}]}).encode()
            for c in customers
        ],
        "detokenize": [json.dumps({"purpose": "account_service", "tokens": [t]}).encode() for t in tokens],
    }


# More single requests per second than any server measured here answers (a bare Flask route
# under gunicorn: about 4,000/s on these machines).
MOST_REQUESTS_PER_SECOND = 6_000


def new_values_for(customers: list[str], seconds: float) -> list[str]:
    """``customers`` repeated, for ``single_bodies``: every tokenize request of a closed loop of
    ``seconds`` sends a new value. A value sent again is answered with the token it already
    has, a cheaper path, and a faster server would repeat sooner than a slower one."""
    rounds = -(-int(seconds * MOST_REQUESTS_PER_SECOND) // max(len(customers), 1))
    return customers * max(rounds, 1)
