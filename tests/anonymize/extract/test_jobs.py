"""Extract jobs on a real container: one claim wins a race, failures destroy the key, stale jobs return,
and the sealed re-identification mapping opens only under its own extract's key."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa

from anonymize.extract import job_queue, reidentification
from anonymize.extract import tables as t
from anonymize.extract.service import MAX_ATTEMPTS, Requester, key_name, recent_extracts
from audit import tables as audit_tables
from tests.consent.conftest import SERVICE, call, customer
from vault import DataKey, InvalidSealedValue, system_owner

ANALYST = Requester("client:analyst-1", "analyst", frozenset({"risk_scoring"}))
SPEC = {
    "purpose": "risk_scoring",
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "name": {"role": "identifier", "action": "pseudonym"},
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands"}},
    },
    "privacy": {"k": 5},
}


@pytest.fixture
def service(container, tmp_path):
    svc = container.extracts
    svc.extract_dir = tmp_path / "extracts"
    return svc


def _customers(container, service, n: int) -> None:
    """``n`` customers who consented to risk scoring, each with an age (the spec's quasi column)."""
    for i in range(n):
        customer(container, f"subject-{i:04d}")
        call(container, "grant", SERVICE, f"subject-{i:04d}", "risk_scoring", channel="app")
    items = [{"subject_id": f"subject-{i:04d}", "attributes": {"age": 30 + i}} for i in range(n)]
    with container.uow() as uow:
        writer = Requester("client:svc-1", "service", permissions=frozenset({"write_attributes"}))
        service.put_attributes(uow, writer, items)


def _submit(container, service, spec=SPEC) -> str:
    with container.uow() as uow:
        return service.submit(uow, ANALYST, spec)["extract_id"]


def _row(container, extract_id):
    with container.session_factory() as s:
        return s.execute(sa.select(t.extracts).where(t.extracts.c.extract_id == extract_id)).one()


def _events(container, action: str) -> list[dict]:
    with container.session_factory() as s:
        payloads = list(s.scalars(sa.select(audit_tables.queue.c.payload))) + list(
            s.scalars(sa.select(audit_tables.events.c.payload))
        )
    return [e for e in map(json.loads, payloads) if e["action"] == action]


def test_two_workers_race_for_one_job_and_exactly_one_wins(container, service) -> None:
    _customers(container, service, 1)
    extract_id = _submit(container, service)
    barrier = threading.Barrier(2)
    won: list[str | None] = []

    def claim(name: str) -> None:
        barrier.wait()
        won.append(job_queue.claim(service.deps, name))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won, key=lambda w: w is None) == [extract_id, None]
    row = _row(container, extract_id)
    assert row.state == "running" and row.attempts == 1 and row.worker in ("w0", "w1")


def test_a_failed_job_destroys_its_key_and_says_why(container, service) -> None:
    _customers(container, service, 3)
    extract_id = _submit(container, service)
    assert service.run_next("w") == extract_id
    row = _row(container, extract_id)
    assert (row.state, row.error_code, row.key_name) == ("failed", "privacy_model_unsatisfiable", None)
    assert "k = 5" in row.error_detail and "subject-" not in row.error_detail
    with container.session_factory() as s:
        assert container.keyring.data_keys(s, [system_owner(key_name(extract_id))]) == {}
    (failed,) = _events(container, "extract.failed")
    assert failed["details"] == {
        "extract_id": extract_id,
        "error": "privacy_model_unsatisfiable",
        "key_destroyed": True,
    }
    assert not (service.extract_dir / extract_id).exists()
    assert recent_extracts_view(container)[0]["state"] == "failed"


def recent_extracts_view(container) -> list[dict]:
    with container.uow() as uow:
        return recent_extracts(uow, 5)


def test_a_job_whose_worker_died_is_queued_again_then_failed(container, service) -> None:
    _customers(container, service, 1)
    extract_id = _submit(container, service)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert job_queue.claim(service.deps, f"dead-{attempt}") == extract_id
        report = service.run_jobs(now=later, limit=0)  # nothing run: only the stale check
        if attempt < MAX_ATTEMPTS:
            assert report.requeued == 1 and _row(container, extract_id).state == "queued"
    row = _row(container, extract_id)
    assert (row.state, row.error_code, row.attempts) == ("failed", "worker_lost", MAX_ATTEMPTS)


def test_the_mapping_opens_only_under_its_own_extract_key() -> None:
    key, other = DataKey.generate("system:extract/a"), DataKey.generate("system:extract/b")
    pseudonyms = ["0" * 31 + "1", "ab" * 16, None]
    sealed = reidentification.seal_mapping(
        key, "ext_a", {"subject_id": pseudonyms}, ["subject-1", "subject-2", "subject-3"]
    )
    bucket = reidentification.bucket_of("ab" * 16)
    assert reidentification.find(key, "ext_a", "subject_id", "ab" * 16, sealed[bucket]) == ["subject-2"]
    assert reidentification.find(key, "ext_a", "mobile", "ab" * 16, sealed[bucket]) == []
    assert reidentification.find(key, "ext_a", "subject_id", "ab" * 16, None) == []
    assert b"subject-2" not in b"".join(sealed.values())
    with pytest.raises(InvalidSealedValue):
        reidentification.find(other, "ext_a", "subject_id", "ab" * 16, sealed[bucket])
    with pytest.raises(InvalidSealedValue):  # bound to its extract: a bucket copied elsewhere does not open
        reidentification.find(key, "ext_b", "subject_id", "ab" * 16, sealed[bucket])


def test_a_job_unwraps_data_keys_in_batches_never_per_value(container, service) -> None:
    """60 subjects, each with attributes and a mobile to pseudonymize: one unwrap call for them all."""
    requester = Requester("client:svc-1", "service", permissions=frozenset({"write_attributes"}))
    items = []
    for i in range(60):
        sid = f"subject-{i:04d}"
        customer(container, sid)
        call(container, "grant", SERVICE, sid, "risk_scoring", channel="app")
        items.append({"subject_id": sid, "attributes": {"age": 20 + i % 40, "grade": "ABCDE"[i % 5]}})
    with container.uow() as uow:
        assert service.put_attributes(uow, requester, items) == {"stored": 60}
    spec = {
        "purpose": "risk_scoring",
        "columns": {
            "subject_id": {"role": "identifier", "action": "drop"},
            "cn_mobile": {"role": "identifier", "action": "pseudonym"},
            "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 20}},
            "grade": {"role": "sensitive"},
        },
        "privacy": {"k": 5, "l": 2},
    }
    extract_id = _submit(container, service, spec)
    calls: list[int] = []
    unwrap = container.keyring.provider.unwrap

    def counting(wrapped):
        calls.append(len(wrapped))
        return unwrap(wrapped)

    container.keyring.cache.clear()  # tokenizing cached the keys: make the job unwrap them all
    container.keyring.provider.unwrap = counting
    try:
        assert service.run_next("w") == extract_id
    finally:
        del container.keyring.provider.unwrap
    row = _row(container, extract_id)
    assert row.state == "succeeded", row.error_detail
    assert calls == [60]  # the provider sends them to Transit in batches of PIIVAULT_TRANSIT_BATCH_SIZE
    assert json.loads(row.summary)["result"]["rows_in"] == 60
