"""Issue 14, item 4b: a budget of not_found/denied answers per client, against enumeration.

The attack: a format-preserving card token kept the digits the mask shows, and a
detokenize batch answered 1,000 guesses at once (not_found or a value).
"""

from __future__ import annotations

import random

from api.app import create_app
from fieldtypes.checksums import LUHN
from tests.api_tokens.conftest import CARD, bearer, customer_items
from tests.conftest import make_container
from tests.consent.conftest import audit_payloads
from throttle import refusal_counts

BUDGET_EVENT = "throttle.answer_budget"


def guesses(n: int, seed: int = 14) -> list[str]:
    """Luhn-valid 19-digit candidates sharing what a BIN-keeping token and the mask share."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < n:
        middle = "".join(rng.choice("0123456789") for _ in range(8))
        body = CARD[:6] + middle + CARD[-5:-1]
        candidate = LUHN.complete(body)
        if candidate != CARD:
            found.add(candidate)
    return sorted(found)


def detokenize(client, key, tokens):
    return client.post("/v1/detokenize", json={"purpose": "aml_kyc", "tokens": tokens}, headers=bearer(key))


def test_a_thousand_guesses_per_request_are_refused(container, client, service_key, make_key):
    assert container.settings.answer_budget == 200  # the default, per 600 s
    tokenized = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key))
    real = tokenized.json["items"][1]["token"]
    attacker = make_key("service", name="curious", purposes=["aml_kyc"])
    before = refusal_counts()

    batch = guesses(999)
    batch.insert(417, real)
    resp = detokenize(client, attacker, batch)
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/answer_budget_exhausted")
    assert 1 <= int(resp.headers["Retry-After"]) <= 600
    body = resp.get_data(as_text=True)
    assert CARD not in body and "items" not in body  # not one answer of the batch is released

    # Locked: even a request that would only hit is refused, so a refusal tells nothing.
    assert detokenize(client, attacker, [real]).status_code == 429
    # Every worker refuses it: the counter is in the database.
    other_worker = make_container(container.settings)
    try:
        assert detokenize(create_app(other_worker).test_client(), attacker, [real]).status_code == 429
    finally:
        other_worker.close()
    # Another client is not affected.
    assert detokenize(client, service_key, [real]).status_code == 200

    after = refusal_counts()
    assert after["answer_budget_exhausted"] == before["answer_budget_exhausted"] + 1
    assert after["answer_budget_refused"] >= before["answer_budget_refused"] + 3
    events = [e for e in audit_payloads(container) if e["action"] == BUDGET_EVENT]
    assert len(events) == 1  # the trip is audited once, not every refused request
    assert events[0]["actor"] == f"client:{attacker.split('_')[1]}"
    assert events[0]["details"]["answers_in_request"] == 999 and events[0]["details"]["limit"] == 200
    # The refused batch's decisions were not recorded as if answered: no detokenize by the attacker.
    assert not [
        e
        for e in audit_payloads(container)
        if e["action"] == "detokenize" and e["actor"] == events[0]["actor"]
    ]


def test_answers_up_to_the_budget_are_given_and_each_item_counts(container, client, service_key):
    tokenized = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key))
    real = tokenized.json["items"][1]["token"]
    batch = guesses(150, seed=1)
    ok = detokenize(client, service_key, [*batch, real])
    assert ok.status_code == 200
    assert [i.get("error") for i in ok.json["items"]].count("not_found") == 150
    assert ok.json["items"][-1] == {"value": CARD}
    assert detokenize(client, service_key, guesses(50, seed=2)).status_code == 200  # 200 of 200
    assert detokenize(client, service_key, [real]).status_code == 200  # hits cost nothing
    assert detokenize(client, service_key, guesses(1, seed=3)).status_code == 429  # the 201st


def test_the_budget_can_be_turned_off(container, service_key):
    container.settings = container.settings.replace(answer_budget=0)
    other = make_container(container.settings)
    try:
        client = create_app(other).test_client()
        assert other.tokenization.answer_budget.limit == 0
        resp = detokenize(client, service_key, guesses(1_000))
        assert resp.status_code == 200 and len(resp.json["items"]) == 1_000
    finally:
        other.close()
