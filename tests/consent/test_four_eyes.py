"""Four eyes on data-subject requests (issue 15 item 3): the access package with plain values and
completing an erasure need a second DPO, another person, whatever credential the first one uses."""

from __future__ import annotations

import json

import sqlalchemy as sa

from access import model as m
from privacy import subjects
from tests.approved import SECOND_DPO, TEST_DPO, actor_of, create_client
from tests.consent.conftest import MOBILE, NAME, audit_payloads, package_approved, second_dpo_approves
from tests.consent.test_api_scenarios import SUBJECT, detok, dsr, grant, tokenize, work


def _refused(resp) -> str | None:
    """The request a refusal names (403 approval_required); None when none is pending."""
    assert resp.status_code == 403, resp.json
    assert resp.json["type"].endswith("/approval_required"), resp.json
    if "approval_id" not in resp.json:
        return None
    assert resp.json["approval_id"] in resp.json["detail"]
    return resp.json["approval_id"]


def _ask(client, dsr_id: str, headers: dict[str, str], status: int = 201) -> str:
    """The DPO asks to download the package (POST .../package/approval): the request's id."""
    resp = client.post(f"/v1/dsr/{dsr_id}/package/approval", headers=headers)
    assert resp.status_code == status, resp.json
    return resp.json["id"]


def _access_request(client, keys) -> str:
    tokenize(client, keys)
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    return dsr_id


def _same_person_key(container, person: str = TEST_DPO) -> dict[str, str]:
    """A second key of the same person (another client, same ``person``)."""
    _, key = create_client(container, name="t-dpo-laptop", role="dpo", person=person)
    return {"Authorization": f"Bearer {key}"}


def test_one_dpo_alone_cannot_download_a_package(client, keys, container):
    dsr_id = _access_request(client, keys)
    first = client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])
    assert _refused(first) is None and f"POST /v1/dsr/{dsr_id}/package/approval" in first.json["detail"]
    assert NAME not in first.get_data(as_text=True) and MOBILE not in first.get_data(as_text=True)
    approval_id = _ask(client, dsr_id, keys["dpo"])
    # The refusal names the pending request now; asking again gives it back, never a second one.
    assert _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])) == approval_id
    assert _ask(client, dsr_id, keys["dpo"], status=200) == approval_id
    asked = client.get(f"/v1/approvals/{approval_id}", headers=keys["dpo"]).json
    assert (asked["action"], asked["scope"]["target"], asked["requester"], asked["state"]) == (
        "dsr.package",
        dsr_id,
        TEST_DPO,
        "pending",
    )
    # The requester approving their own request is refused, so the download still is.
    own = client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=keys["dpo"])
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"]))
    refusals = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert refusals == []  # nothing was handed out


def test_a_get_of_the_package_writes_nothing(client, keys, container):
    """A GET without a grant files no approval request and changes nothing (safe): only the
    POST asks."""
    dsr_id = _access_request(client, keys)
    before = [e["action"] for e in audit_payloads(container)]
    for _ in range(2):
        assert _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])) is None
    assert client.get("/v1/approvals?action=dsr.package", headers=keys["dpo"]).json == []
    assert [e["action"] for e in audit_payloads(container)] == before
    # The POST checks what the GET checks: an access request that is approved.
    erasure = dsr(client, keys, "erasure")
    refused = client.post(f"/v1/dsr/{erasure}/package/approval", headers=keys["dpo"])
    assert refused.status_code == 409 and refused.json["type"].endswith("/invalid_transition")
    missing = client.post("/v1/dsr/dsr_nonexistent0000/package/approval", headers=keys["dpo"])
    assert missing.status_code == 404
    assert client.post(f"/v1/dsr/{dsr_id}/package/approval", headers=keys["service"]).status_code == 403


def test_a_grant_revoked_while_the_package_is_prepared_lets_nothing_through(
    client, keys, container, monkeypatch
):
    """The grant is checked in the transaction that reads the package: revoked after the first
    check (here: while the audit checkpoint is cut, before the values are read), nothing leaves."""
    dsr_id = _access_request(client, keys)
    approved = package_approved(client, keys, dsr_id)
    consent = container.consent
    checkpoint = consent.audit.checkpoint_now
    second = m.Acting(SECOND_DPO, "dpo", actor_of(SECOND_DPO))

    def revoke_then_checkpoint():
        container.access.revoke(second, approved["grant_id"])
        return checkpoint()

    monkeypatch.setattr(consent.audit, "checkpoint_now", revoke_then_checkpoint)
    resp = client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])
    assert _refused(resp) is None
    assert NAME not in resp.get_data(as_text=True) and MOBILE not in resp.get_data(as_text=True)
    assert not [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert container.access.get_grant(approved["grant_id"]).revoked_at is not None


def test_the_same_person_through_a_second_key_is_one_person(client, keys, container):
    dsr_id = _access_request(client, keys)
    approval_id = _ask(client, dsr_id, keys["dpo"])
    laptop = _same_person_key(container)
    again = client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=laptop)
    assert again.status_code == 403 and again.json["type"].endswith("/self_approval")
    # Nor does the second key download with the first one's pending request.
    assert _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=laptop)) == approval_id
    denied = [
        e
        for e in audit_payloads(container)
        if e["action"] == "approval.approve" and e["details"]["action"] == "dsr.package"
    ]
    assert [(e["outcome"], e["reason"]) for e in denied] == [("denied", "self_approval")]


def test_a_key_naming_nobody_cannot_take_part(client, keys, container):
    dsr_id = _access_request(client, keys)
    _, key = create_client(container, name="t-dpo-anon", role="dpo")
    resp = client.get(f"/v1/dsr/{dsr_id}/package", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 403 and resp.json["type"].endswith("/no_person")


def test_approved_by_a_second_dpo_the_package_downloads_and_the_audit_names_both(client, keys, container):
    tokens = tokenize(client, keys)
    grant(client, keys)
    detok(client, keys, "marketing", [tokens["cn_mobile"]])
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    approved = package_approved(client, keys, dsr_id)
    resp = client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])
    assert resp.status_code == 200 and MOBILE in {v["value"] for v in resp.json["values"]}
    # The grant is the first DPO's own: the approver downloading is a request of theirs.
    _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo2"]))
    (download,) = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    details = download["details"]
    assert details["holder"] == TEST_DPO and details["approved_by"] == [SECOND_DPO]
    assert details["approval_id"] == approved["id"] and details["grant_id"] == approved["grant_id"]
    assert MOBILE not in json.dumps(download)


def test_a_revoked_or_expired_package_grant_stops_the_next_download(client, keys, container):
    dsr_id = _access_request(client, keys)
    approved = package_approved(client, keys, dsr_id)
    assert client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"]).status_code == 200
    revoked = client.delete(f"/v1/grants/{approved['grant_id']}", headers=keys["dpo2"])
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked"
    assert _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])) is None
    # A new approval, then time passes beyond the grant's minutes.
    renewed = package_approved(client, keys, dsr_id)
    assert client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"]).status_code == 200
    access = container.access
    grant_row = access.get_grant(renewed["grant_id"])
    access.clock = lambda: grant_row.expires_at
    _refused(client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"]))


def _erasure_request(client, keys) -> tuple[str, dict[str, str]]:
    tokens = tokenize(client, keys)
    dsr_id = dsr(client, keys, "erasure")
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {})):
        assert client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"]).status_code == 200
    return dsr_id, tokens


def _state(container) -> str:
    with container.session_factory() as s:
        return subjects.get(s, SUBJECT).state


def test_one_dpo_alone_cannot_complete_an_erasure(client, keys, container):
    dsr_id, _ = _erasure_request(client, keys)
    approval_id = _refused(client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"]))
    laptop = _same_person_key(container)
    assert _refused(client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=laptop)) == approval_id
    own = client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=laptop)
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    assert client.get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json["state"] == "approved"
    assert _state(container) != subjects.ERASED
    assert not [e for e in audit_payloads(container) if e["action"] == "dsr.completed"]


def test_an_erasure_a_second_dpo_approved_goes_through_and_names_both(client, keys, container):
    dsr_id, tokens = _erasure_request(client, keys)
    approved = second_dpo_approves(
        client, keys, client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"])
    )
    done = client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"])
    assert done.status_code == 200 and done.json["state"] == "completed", done.json
    assert _state(container) == subjects.ERASED
    (completed,) = [e for e in audit_payloads(container) if e["action"] == "dsr.completed"]
    assert completed["actor"].startswith("client:")
    assert completed["details"]["holder"] == TEST_DPO
    assert completed["details"]["approved_by"] == [SECOND_DPO]
    assert completed["details"]["approval_id"] == approved["id"]
    (created,) = [
        e
        for e in audit_payloads(container)
        if e["action"] == "grant.create" and e["details"]["action"] == "dsr.erasure"
    ]
    assert created["details"]["person"] == SECOND_DPO and created["details"]["holder"] == TEST_DPO
    assert detok(client, keys, "account_service", [tokens["cn_mobile"]])[0]["error"] == "erased"


def test_a_revoked_erasure_grant_stops_the_completion(client, keys, container):
    dsr_id, _ = _erasure_request(client, keys)
    approved = second_dpo_approves(
        client, keys, client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"])
    )
    assert client.delete(f"/v1/grants/{approved['grant_id']}", headers=keys["dpo"]).status_code == 200
    _refused(client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"]))
    assert _state(container) != subjects.ERASED


def test_a_count_of_zero_lets_one_dpo_proceed(settings, container_with, clock):
    """A deployment with one DPO (PIIVAULT_APPROVALS=dsr.package=0,dsr.erasure=0) goes on alone;
    the start-up line and the dashboard say four-eyes is off (tests/access covers those)."""
    from api.app import create_app

    lone = container_with(approvals="dsr.package=0,dsr.erasure=0")
    assert set(lone.access.rules.four_eyes_off()) == {m.DSR_PACKAGE, m.DSR_ERASURE}
    lone.consent.clock = lone.tokenization.clock = clock
    http = create_app(lone).test_client()
    made = {}
    for name, role, purposes, person in (
        ("service", "service", ["account_service", "marketing"], None),
        ("dpo", "dpo", [], None),  # needs no person: nobody else takes part
    ):
        _, key = create_client(lone, name=f"t-{name}", role=role, purposes=purposes, person=person)
        made[name] = {"Authorization": f"Bearer {key}"}
    tokenize(http, made)
    access_id = dsr(http, made, "access")
    work(http, made, access_id)
    assert http.get(f"/v1/dsr/{access_id}/package", headers=made["dpo"]).status_code == 200
    erasure_id = dsr(http, made, "erasure")
    assert work(http, made, erasure_id)["state"] == "completed"
    events = audit_payloads(lone)
    (download,) = [e for e in events if e["action"] == "dsr.access_package"]
    assert download["details"]["four_eyes"] is False
    with lone.session_factory() as s:
        asked = sa.text("SELECT count(*) FROM approval_requests WHERE action LIKE 'dsr.%'")
        assert s.scalar(asked) == 0
