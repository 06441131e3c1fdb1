"""The audit log through the client: checkpoints, paged events, proofs, exposure, export, verification."""

from __future__ import annotations

import datetime as dt

import pytest

from piivault_client import NotFound, ValidationFailed
from tests.client.conftest import new_customer


def test_checkpoints_proofs_and_verification(service, connect):
    auditor = connect("auditor")
    new_customer(service, "cust-audit-0001")
    first = auditor.audit.cut_checkpoint()
    assert first["size"] > 0 and auditor.audit.checkpoint() == first
    note = auditor.audit.checkpoint_note()
    assert note == first["note"]
    found = service.lookup("aml_kyc", "cn_mobile", "13912345678")
    service.detokenize("marketing", [t["token"] for t in found])
    second = auditor.audit.cut_checkpoint()
    proof = auditor.audit.inclusion_proof(0)
    assert proof["size"] == second["size"] and proof["root_hash"] == second["root_hash"]
    with pytest.raises(NotFound):
        auditor.audit.inclusion_proof(10**12)
    consistency = auditor.audit.consistency_proof(first["size"], second["size"])
    assert (consistency["root1"], consistency["root2"]) == (first["root_hash"], second["root_hash"])
    key = auditor.audit.public_key()
    report = auditor.audit.verify(checkpoint=note, public_key=key["verifier_key"])
    assert report["ok"] is True and report["problem_count"] == 0
    assert auditor.audit.last_verification()["ok"] is True


def test_events_are_paged_and_the_iterator_walks_every_page(service, connect):
    dpo = connect("dpo")
    sid = new_customer(service, "cust-audit-0002")
    for _ in range(4):
        service.subjects.get(sid)
    everything = list(dpo.audit.iter_events(subject=sid, page_size=2))
    page = dpo.audit.events(subject=sid, limit=2)
    assert len(page["events"]) == 2 and page["next_cursor"]
    assert [e["seq"] for e in everything[:2]] == [e["seq"] for e in page["events"]]
    assert len(everything) == len({e["seq"] for e in everything}) >= 6
    assert [e["seq"] for e in everything] == sorted(e["seq"] for e in everything)
    with pytest.raises(ValidationFailed) as e:
        dpo.audit.events(action="Not An Action")
    assert "action" in e.value.errors["query"]


def test_exposure_and_a_subject_export(service, connect):
    auditor = connect("auditor")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    sid = new_customer(service, "cust-audit-0003")
    tokens = [t["token"] for t in service.lookup("aml_kyc", "cn_mobile", "13912345678")]
    service.detokenize("marketing", tokens)
    actor = next(e["actor"] for e in auditor.audit.iter_events(subject=sid, action="detokenize"))
    exposure = auditor.audit.exposure(actor, since)
    assert [s["subject_id"] for s in exposure["subjects"]] == [sid]
    auditor.audit.cut_checkpoint()
    export = auditor.audit.export_subject(sid)
    assert export["subject_id"] == sid and export["events"]
    assert all(e["inclusion_proof"] is not None for e in export["events"])
