"""Typed errors: the class says the status, the attributes carry the problem+json fields, never a value."""

from __future__ import annotations

import pytest

from piivault_client import (
    Conflict,
    Forbidden,
    NotFound,
    PiivaultClient,
    PiivaultError,
    Unauthorized,
    ValidationFailed,
)
from tests.api_tokens.conftest import ID_NUMBER, customer_items


def test_a_422_carries_type_title_status_detail_and_the_field_errors(service):
    with pytest.raises(ValidationFailed) as e:
        service.consents.grant("cust-errors-01", "marketing", "carrier_pigeon")
    err = e.value
    assert (err.status, err.title) == (422, "Unprocessable Entity")
    assert err.type == "https://piivault.dev/problems/422" and err.code == "422"
    assert err.detail == "the request body or parameters are invalid"
    assert "channel" in err.errors["json"]
    assert err.problem["status"] == 422 and isinstance(err, PiivaultError)


def test_the_class_follows_the_status_and_the_code_names_the_problem(service, connect, base_url):
    with pytest.raises(NotFound) as e:
        service.subjects.get("cust-nobody-01")
    assert e.value.status == 404 and e.value.code.endswith("not_found") and e.value.detail
    with pytest.raises(Forbidden):
        connect("analyst").subjects.create()
    with pytest.raises(Unauthorized) as e:
        PiivaultClient(base_url, "pvk_nope_nope").tokenize(customer_items())
    assert e.value.status == 401 and "pvk_nope" not in str(e.value)
    sid = service.subjects.create()["subject_id"]
    service.subjects.open(sid)
    service.subjects.close(sid)
    with pytest.raises(Conflict) as e:
        service.subjects.close(sid)
    assert e.value.status == 409 and e.value.type.startswith("https://piivault.dev/problems/")


def test_errors_never_carry_the_value_that_was_refused(service):
    with pytest.raises(ValidationFailed) as e:
        service.lookup("aml_kyc", "cn_resident_id", ID_NUMBER[:-1] + "0")
    assert ID_NUMBER[:-1] not in str(e.value) and ID_NUMBER[:-1] not in repr(e.value.problem)
    assert "pvk_" not in repr(service)
