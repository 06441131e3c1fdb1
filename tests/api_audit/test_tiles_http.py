"""``/v1/audit/tiles/...``: the tiles directory over HTTP, for auditors and DPOs."""

from __future__ import annotations

import pytest

from tests.api_audit.conftest import logged
from tests.audit.test_tiles import _bulk


@pytest.fixture
def audit_log(container):
    return container.audit


def test_tiles_over_http(app, client, keys, container, audit_log, tmp_path):
    audit_log.sequencer.checkpoints.tiles_dir = tmp_path
    _bulk(container, 300)
    audit_log.publish_tiles()
    auditor = keys["auditor"]
    resp = client.get("/v1/audit/tiles/checkpoint", headers=auditor)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.get_data(as_text=True) == (tmp_path / "checkpoint").read_text("utf-8")
    assert "max-age=5" in resp.headers["Cache-Control"]
    full = client.get("/v1/audit/tiles/tile/0/000", headers=auditor)
    assert full.status_code == 200 and full.headers["Content-Type"] == "application/octet-stream"
    assert "immutable" in full.headers["Cache-Control"] and len(full.data) == 8192
    size = int(resp.get_data(as_text=True).split("\n")[1])
    partial = client.get(f"/v1/audit/tiles/tile/0/001.p/{size - 256}", headers=auditor)
    assert partial.status_code == 200 and "immutable" not in partial.headers["Cache-Control"]
    bundle = client.get("/v1/audit/tiles/tile/entries/000", headers=auditor)
    assert bundle.status_code == 200 and bundle.data == (tmp_path / "tile/entries/000").read_bytes()
    reads = [e for e in logged(container) if e["action"] == "audit.read"]
    assert [r["details"] for r in reads] == [{"operation": "tiles.entries", "index": 0, "width": 256}]
    for bad in ("tile/0/5", "tile/0/../../etc/passwd", "tile/9/000", "tile/0/000.p/300"):
        resp = client.get(f"/v1/audit/tiles/{bad}", headers=auditor)
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json", bad
    assert client.get("/v1/audit/tiles/checkpoint").status_code == 401
    assert client.get("/v1/audit/tiles/tile/0/000", headers=keys["service"]).status_code == 403


def test_tiles_when_none_are_published_are_404(client, keys, audit_log):
    audit_log.sequencer.checkpoints.tiles_dir = None
    resp = client.get("/v1/audit/tiles/checkpoint", headers=keys["dpo"])
    assert resp.status_code == 404 and resp.json["type"].endswith("audit_tiles_not_found")


def test_verify_over_http_reports_the_event_macs(client, keys, container):
    _bulk(container, 5)
    body = client.post("/v1/audit/verify", json={}, headers=keys["auditor"]).json
    assert (
        body["ok"]
        and body["authenticity"]["valid"] == body["events"]
        and body["authenticity"]["invalid"] == 0
    )
