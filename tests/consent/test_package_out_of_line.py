"""The access package where the API does not sequence (the production default): its audit
log's proofs are against a checkpoint the sequencer loop cuts when asked
(:meth:`audit.service.AuditLog.await_checkpoint`), not one the API cuts itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from piivault.container import build_container
from tests.conftest import make_settings
from tests.consent.conftest import NAME, package_approved
from tests.consent.test_api_scenarios import detok, dsr, grant, tokenize, work


@pytest.fixture
def settings(database_url, bao, tmp_path):
    return make_settings(database_url, bao, tmp_path, audit_sequence_inline=False, audit_merge_delay=1.0)


@pytest.fixture
def loop(container) -> Iterator[None]:
    """`piivault audit sequence --loop` beside the API, as deploy/ runs it."""
    sequencer = build_container(container.settings)
    stop = threading.Event()
    thread = threading.Thread(target=sequencer.audit.sequencer.run, args=(stop,), kwargs={"interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sequencer.close()


def test_the_package_proves_every_use_against_a_checkpoint_the_loop_cut(client, keys, container, loop):
    assert not container.audit.sequences_inline
    tokens = tokenize(client, keys)
    grant(client, keys)
    detok(client, keys, "marketing", [tokens["cn_mobile"]])
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    package_approved(client, keys, dsr_id)
    resp = client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])
    assert resp.status_code == 200, resp.json
    package = resp.json
    assert NAME in {v["value"] for v in package["values"]}
    uses = [u for u in package["uses"] if u["action"] == "detokenize"]
    assert uses and all(u["proven"] for u in uses)
    assert package["audit_log"]["events"]
    assert all(e["inclusion_proof"] is not None for e in package["audit_log"]["events"])
    asked = container.audit.search_events(action="audit.checkpoint").events
    assert len(asked) == 1 and json.loads(asked[0].entry)["details"]["requested"] is True
