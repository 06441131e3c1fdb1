"""Extracts through the client: submit a spec, wait, download (checked against Repr-Digest), re-identify."""

from __future__ import annotations

import base64
import hashlib
import io

import pandas as pd
import pytest
import requests

from anonymize.demo import seed
from piivault_client import Forbidden, IntegrityError, NotFound, ValidationFailed
from piivault_client.resources.extracts import Extracts
from piivault_client.transport import Transport
from tests.api_extracts.conftest import SPEC
from tests.client.test_transport import ScriptedSession, _response

REASON = "score 0.97 flagged for manual fraud review, case 2026-117"


def test_submit_wait_download_and_reidentify(service, connect, tmp_path):
    analyst, dpo, other_dpo = connect("analyst"), connect("dpo", person="dora"), connect("dpo", person="dee")
    seed(service, 60, 0, tmp_path / "demo", seed=3)
    job = analyst.extracts.submit(SPEC)
    assert job["state"] in ("queued", "running", "succeeded")
    done = analyst.extracts.wait(job["extract_id"], interval=0.1)
    assert done["state"] == "succeeded", done
    assert [e["extract_id"] for e in dpo.extracts.list(state="succeeded")] == [job["extract_id"]]
    csv = analyst.extracts.download(job["extract_id"], "extract.csv")
    saved = analyst.extracts.download(job["extract_id"], "extract.parquet", tmp_path / "x.parquet")
    rows = pd.read_csv(io.BytesIO(csv), dtype=str)
    assert len(rows) == len(pd.read_parquet(saved)) > 0
    # Four eyes: the first attempt files the request; another DPO approves it.
    with pytest.raises(Forbidden) as refused:
        dpo.extracts.reidentify(job["extract_id"], "subject_id", rows["subject_id"][0], REASON)
    assert refused.value.code == "approval_required"
    other_dpo.approvals.approve(refused.value.problem["approval_id"])
    found = dpo.extracts.reidentify(job["extract_id"], "subject_id", rows["subject_id"][0], REASON)
    assert len(found["subject_ids"]) == 1 and found["subject_ids"][0].startswith("demo-")
    with pytest.raises(Forbidden):
        analyst.extracts.reidentify(job["extract_id"], "subject_id", rows["subject_id"][0], REASON)
    with pytest.raises(NotFound):
        analyst.extracts.download(job["extract_id"], "secret.txt")


def test_an_invalid_spec_names_its_problems_by_key(connect):
    with pytest.raises(ValidationFailed) as e:
        connect("analyst").extracts.submit(SPEC | {"privacy": {"k": 1}, "colour": "blue"})
    assert e.value.title == "invalid extract spec"
    assert {"privacy.k", "colour"} & set(e.value.errors["json"])


def test_wait_gives_up_after_its_timeout():
    """A job that stays running: the client's clock runs out (a scripted one, not the test's)."""
    session = ScriptedSession([_response(200, {"extract_id": "ext_x", "state": "running"})] * 4)
    ticks = iter(range(100))
    waited: list[float] = []
    extracts = Extracts(
        Transport("http://pv", "pvk_k", session=session, sleep=waited.append), clock=lambda: next(ticks)
    )
    with pytest.raises(TimeoutError, match="still running"):
        extracts.wait("ext_x", timeout=3, interval=0.5)
    assert waited == [0.5, 0.5] and len(session.seen) == 3  # polled at ticks 1, 2 and 3 (the deadline)


def _file(content: bytes, digest_of: bytes) -> requests.Response:
    r = requests.Response()
    r.status_code = 200
    r.raw = io.BytesIO(content)
    r.headers["Repr-Digest"] = (
        "sha-256=:" + base64.b64encode(hashlib.sha256(digest_of).digest()).decode() + ":"
    )
    return r


def test_a_download_that_does_not_match_its_digest_is_refused_and_not_kept(tmp_path):
    session = ScriptedSession([_file(b"a,b\n1,2\n", b"a,b\n1,2\n"), _file(b"a,b\n1,3\n", b"a,b\n1,2\n")])
    extracts = Extracts(Transport("http://pv", "pvk_k", session=session))
    assert extracts.download("ext_x", "extract.csv") == b"a,b\n1,2\n"
    with pytest.raises(IntegrityError, match="SHA-256"):
        extracts.download("ext_x", "extract.csv", tmp_path / "extract.csv")
    assert not (tmp_path / "extract.csv").exists()
