"""Tokenize, detokenize and look up through the client: batches of 1,000, results in input order."""

from __future__ import annotations

import pytest
import requests

from piivault_client import ItemError, ItemsFailed, PiivaultClient, ValidationFailed
from tests.api_tokens.conftest import CARD, ID_NUMBER


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        body = kwargs.get("json") or {}
        self.calls.append((url.rsplit("/v1/", 1)[1], len(body.get("items") or body.get("tokens") or [])))
        return super().request(method, url, *args, **kwargs)


def test_batches_of_a_thousand_over_http(base_url, make_key):
    session = CountingSession()
    pv = PiivaultClient(base_url, make_key("service", purposes=["aml_kyc"]), session=session)
    items = [
        {"field_type": "cn_mobile", "value": f"139{i:08d}", "subject_id": f"cust-{i % 500:05d}"}
        for i in range(2500)
    ]
    tokens = pv.tokenize(items)
    assert len(tokens) == 2500 and all("token" in t for t in tokens)
    values = pv.detokenize("aml_kyc", [t["token"] for t in tokens])
    assert [v["value"] for v in values] == [i["value"] for i in items]
    assert session.calls == [("tokenize", 1000), ("tokenize", 1000), ("tokenize", 500)] + [
        ("detokenize", 1000),
        ("detokenize", 1000),
        ("detokenize", 500),
    ]
    assert pv.subjects.get("cust-00001")["token_count"] == 5
    assert [m["subject_id"] for m in pv.lookup("aml_kyc", "cn_mobile", "13900000001")] == ["cust-00001"]


def test_strict_tokenize_raises_the_refused_items_and_keeps_the_others(service):
    items = [
        {"field_type": "bank_card", "value": CARD, "subject_id": "cust-strict-01"},
        {"field_type": "cn_resident_id", "value": ID_NUMBER[:-1] + "0", "subject_id": "cust-strict-01"},
        {"field_type": "cn_mobile", "value": "12", "subject_id": "cust-strict-01"},
    ]
    with pytest.raises(ItemsFailed) as e:
        service.tokenize(items, strict=True)
    assert [(x.index, x.code) for x in e.value.errors] == [(1, "check_digit"), (2, "length")]
    assert all(x.message for x in e.value.errors)
    assert "token" in e.value.results[0]
    assert ID_NUMBER[:-1] not in str(e.value) and ID_NUMBER[:-1] not in repr(e.value.errors)
    # What was stored stays: the card's token reads back.
    assert service.detokenize("aml_kyc", [e.value.results[0]["token"]], strict=True) == [{"value": CARD}]


def test_strict_detokenize_names_the_refused_tokens(service):
    [ok] = service.tokenize(
        [{"field_type": "cn_mobile", "value": "13912340000", "subject_id": "cust-strict-02"}]
    )
    with pytest.raises(ItemsFailed) as e:
        service.detokenize("aml_kyc", [ok["token"], "tok_mob_nosuchtoken"], strict=True)
    assert [(x.index, x.code) for x in e.value.errors] == [(1, "not_found")]
    assert e.value.results[0] == {"value": "13912340000"}
    # Without strict the refusal is an item like any other.
    assert service.detokenize("aml_kyc", ["tok_mob_nosuchtoken"])[0]["error"] == "not_found"


def test_free_text_is_anonymized(connect):
    text = f"客户张伟来电，身份证{ID_NUMBER}，手机13812345678。"
    answer = connect("analyst").tokens.anonymize_text(text, "mask", language="zh")
    assert ID_NUMBER not in answer["text"] and "138****5678" in answer["text"]
    assert [e["type"] for e in answer["entities"]] == ["name", "cn_resident_id", "cn_mobile"]


def test_a_refused_later_batch_names_items_by_their_index_in_the_whole_input(service):
    items = [
        {"field_type": "cn_mobile", "value": f"139{i:08d}", "subject_id": "cust-batch-01"}
        for i in range(1_500)
    ]
    items[1_200] = {"field_type": "cn_mobile", "subject_id": "cust-batch-01"}
    with pytest.raises(ValidationFailed) as e:
        service.tokenize(items)
    assert e.value.item_errors == [ItemError(1_200, "invalid", "Missing data for required field.", "value")]
    assert len(e.value.completed) == 1_000 and all("token" in r for r in e.value.completed)
