"""The tokenization API's HTTP fixtures (app, client, keys), for the operations tests."""

from tests.api_tokens.conftest import app, client, make_key, service_key  # noqa: F401


def round_trip(container) -> None:
    """A service client created, five values tokenized and the resident ID detokenized, over HTTP."""
    from api.app import create_app
    from tests.api_tokens.conftest import ID_NUMBER, bearer, customer_items
    from tests.approved import create_client

    _, key = create_client(container, name="crm", role="service", purposes=["aml_kyc"])
    http = create_app(container).test_client()
    resp = http.post(
        "/v1/tokenize", json={"purpose": "aml_kyc", "items": customer_items()}, headers=bearer(key)
    )
    assert resp.status_code == 200, resp.json
    tokens = [item["token"] for item in resp.json["items"]]
    resp = http.post("/v1/detokenize", json={"purpose": "aml_kyc", "tokens": tokens}, headers=bearer(key))
    assert resp.status_code == 200 and resp.json["items"][0]["value"] == ID_NUMBER  # unwrapped
    assert http.get("/readyz").status_code == 200
