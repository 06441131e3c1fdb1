"""Four eyes on re-identification (issue 15 item 4): one DPO alone never learns who is behind an
extract pseudonym, through the API or the CLI; another DPO's approval lets them, once, for a while."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from piivault.cli import main
from tests.api.conftest import settings_env
from tests.api_extracts.conftest import SPEC, seed_customers
from tests.api_extracts.test_expiry_and_cli import _submit
from tests.approved import SECOND_DPO, TEST_DPO, create_client
from tests.consent.conftest import audit_payloads

REASON = "model score above 0.95: manual review of the application"


@pytest.fixture
def released(client, keys, base_url, tmp_path) -> tuple[str, str]:
    """A succeeded extract and one of its subject pseudonyms."""
    seed_customers(base_url, keys, 30, tmp_path / "demo")
    job = _submit(client, keys, SPEC)
    csv = client.get(f"/v1/extracts/{job['extract_id']}/files/extract.csv", headers=keys["analyst"]).data
    return job["extract_id"], pd.read_csv(io.BytesIO(csv), dtype=str)["subject_id"][0]


def _ask(client, headers, extract_id, pseudonym):
    body = {"column": "subject_id", "pseudonym": pseudonym, "reason": REASON}
    return client.post(f"/v1/extracts/{extract_id}/reidentify", json=body, headers=headers)


def _refused(resp) -> str:
    assert resp.status_code == 403, resp.json
    assert resp.json["type"].endswith("/approval_required") and "subject_ids" not in resp.json
    return resp.json["approval_id"]


def test_one_dpo_alone_cannot_reidentify_by_any_credential(client, keys, container, released):
    extract_id, pseudonym = released
    approval_id = _refused(_ask(client, keys["dpo"], extract_id, pseudonym))
    asked = client.get(f"/v1/approvals/{approval_id}", headers=keys["dpo"]).json
    assert (asked["action"], asked["scope"]["target"], asked["requester"]) == (
        "extract.reidentify",
        extract_id,
        TEST_DPO,
    )
    # A second key of the same person: one person, refused both as approver and as re-identifier.
    _, key = create_client(container, name="dpo-laptop", role="dpo", person=TEST_DPO)
    laptop = {"Authorization": f"Bearer {key}"}
    own = client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=laptop)
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    assert _refused(_ask(client, laptop, extract_id, pseudonym)) == approval_id
    # Nothing was re-identified: no successful attempt in the audit log.
    attempts = [e for e in audit_payloads(container) if e["action"] == "extract.reidentify"]
    assert attempts == []


def test_the_cli_alone_is_refused_too(client, keys, container, released):
    extract_id, pseudonym = released
    env = settings_env(container) | {"PIIVAULT_EXTRACT_DIR": str(container.settings.extract_dir)}
    args = ["extract", "reidentify", extract_id, "--column", "subject_id", "--pseudonym", pseudonym]
    runner = CliRunner()
    alone = runner.invoke(main, [*args, "--reason", REASON, "--as", TEST_DPO], env=env)
    assert alone.exit_code != 0 and "needs approval request apr_" in alone.output, alone.output
    approval_id = alone.output.split("request ")[1].split()[0]
    assert container.access.get(approval_id).requester == TEST_DPO
    nobody = runner.invoke(main, [*args, "--reason", REASON], env=env)
    assert nobody.exit_code != 0 and "must name its person" in nobody.output, nobody.output
    assert "demo-" not in alone.output + nobody.output


def test_approved_by_another_dpo_it_works_names_both_and_stops_when_revoked(
    client, keys, container, released
):
    extract_id, pseudonym = released
    approval_id = _refused(_ask(client, keys["dpo"], extract_id, pseudonym))
    approved = client.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=keys["dpo2"])
    assert approved.status_code == 200 and approved.json["state"] == "approved", approved.json
    found = _ask(client, keys["dpo"], extract_id, pseudonym)
    assert found.status_code == 200 and found.json["subject_ids"][0].startswith("demo-")
    # The approver has no grant of their own: their own attempt is a request of theirs.
    assert _refused(_ask(client, keys["dpo2"], extract_id, pseudonym)) != approval_id
    (event,) = [e for e in audit_payloads(container) if e["action"] == "extract.reidentify"]
    assert event["outcome"] == "success" and event["details"]["holder"] == TEST_DPO
    assert event["details"]["approved_by"] == [SECOND_DPO] and event["details"]["approval_id"] == approval_id
    # Revoked: the very next attempt is refused.
    revoked = client.delete(f"/v1/grants/{approved.json['grant_id']}", headers=keys["dpo2"])
    assert revoked.status_code == 200
    _refused(_ask(client, keys["dpo"], extract_id, pseudonym))
