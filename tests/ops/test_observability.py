"""Issue 19, observability: /metrics (families, protection, multiprocess) and structured logs.

The attack on both: an identifier leaking into what operators collect. Requests
carry known PII (values, a subject id in the path, a mobile as X-Request-Id);
/metrics and the JSON log lines are then scanned for every form of it and for
the tokens the requests got.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from piivault import logs
from tests import pii
from tests.api_tokens.conftest import MOBILE, PII, bearer, customer_items
from tests.conftest import make_container, make_settings

FAMILIES = (
    "piivault_http_requests_total",
    "piivault_http_request_duration_seconds",
    "piivault_token_items_total",
    "piivault_dek_cache_requests_total",
    "piivault_vault_errors_total",
    "piivault_database_errors_total",
    "piivault_erasure_ledger_writes_total",
    "piivault_auth_failure_limiter_refusals_total",
    "piivault_answer_budget_events_total",
    "piivault_break_glass_grants_total",
    "piivault_audit_queue_depth",
    "piivault_audit_queue_oldest_seconds",
    "piivault_audit_merge_delay_bound_seconds",
    "piivault_audit_checkpoint_age_seconds",
    "piivault_audit_forged_events",
    "piivault_extract_jobs",
    "piivault_database_up",
)
SUBJECT = "cust-obs-7731"


def _traffic(client, key: str) -> list[str]:
    """Tokenize, detokenize (found and not found), a subject path: returns the tokens handed out."""
    resp = client.post(
        "/v1/tokenize",
        json={"purpose": "aml_kyc", "items": customer_items(SUBJECT)},
        headers=bearer(key, **{"X-Request-Id": MOBILE}),
    )
    assert resp.status_code == 200, resp.json
    assert resp.headers["X-Request-Id"] != MOBILE  # an id that is a mobile is replaced
    tokens = [item["token"] for item in resp.json["items"]]
    resp = client.post(
        "/v1/detokenize",
        json={"purpose": "aml_kyc", "tokens": [*tokens, "tok_doesnotexist0000"]},
        headers=bearer(key),
    )
    assert resp.status_code == 200
    assert client.get(f"/v1/subjects/{SUBJECT}", headers=bearer(key)).status_code in (200, 403, 404)
    return tokens


def _scan(text: str, tokens: list[str]) -> None:
    patterns = {**pii.REGISTRY.patterns(), **{f.upper(): pii.mask(v) for v in PII for f in pii.forms(v)}}
    assert pii.find(text, patterns) == []
    for secret in (*tokens, SUBJECT):
        assert secret not in text


def _scrape_token(container, tmp_path) -> dict[str, str]:
    """Give ``container`` a metrics token file; return the scraper's header."""
    token_file = tmp_path / "metrics-token"
    token_file.write_text("scrape-token-for-tests\n")
    settings = container.settings.replace(metrics_token_file=str(token_file))
    object.__setattr__(container, "settings", settings)
    return {"Authorization": "Bearer scrape-token-for-tests"}


def test_metrics_show_every_family_and_no_identifier(container, client, service_key, tmp_path):
    tokens = _traffic(client, service_key)
    resp = client.get("/metrics", headers=_scrape_token(container, tmp_path))
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    for family in FAMILIES:
        assert f"# TYPE {family}" in text or f"# HELP {family}" in text, family
    # The route template, not the path; items by outcome and reason.
    assert 'route="/v1/subjects/<subject_id>"' in text
    assert 'piivault_token_items_total{operation="tokenize",outcome="ok",reason="none"}' in text
    assert 'operation="detokenize",outcome="not_found"' in text
    assert "piivault_database_up 1.0" in text
    assert 'piivault_extract_jobs{state="queued"}' in text
    _scan(text, tokens)


def test_metrics_need_the_token_from_the_file(database_url, bao, tmp_path):
    token_file = tmp_path / "metrics-token"
    token_file.write_text("s3cr3t-scrape-token\n")
    settings = make_settings(database_url, bao, tmp_path, metrics_token_file=str(token_file))
    container = make_container(settings)
    try:
        client = create_app(container).test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        resp = client.get("/metrics", headers={"Authorization": "Bearer s3cr3t-scrape-token"})
        assert resp.status_code == 200 and b"piivault_http_requests_total" in resp.data
        token_file.write_text("rotated")  # read at each scrape: rotation needs no restart
        assert client.get("/metrics", headers={"Authorization": "Bearer rotated"}).status_code == 200
        token_file.unlink()
        resp = client.get("/metrics", headers={"Authorization": "Bearer rotated"})
        assert resp.status_code == 503 and "Retry-After" in resp.headers
    finally:
        container.close()


@pytest.mark.parametrize("env", ["production", "development"])
def test_metrics_are_not_served_without_a_token_file(container, service_key, env):
    settings = container.settings.replace(env=env, metrics_token_file=None)
    object.__setattr__(container, "settings", settings)
    client = create_app(container).test_client()
    for headers in ({}, bearer(service_key)):  # an API key is no scraper token either
        resp = client.get("/metrics", headers=headers)
        assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
        assert b"piivault_" not in resp.data


def test_metrics_can_be_switched_off(container):
    object.__setattr__(container, "settings", container.settings.replace(metrics=False))
    resp = create_app(container).test_client().get("/metrics")
    # No such route: like any unknown path, refused before routing (401 without an API key).
    assert resp.status_code == 401 and b"piivault_" not in resp.data


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_request_logs_carry_the_fields_and_no_pii(container, client, service_key, log_format):
    out = io.StringIO()  # not a terminal: no colour codes either
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter(log_format))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        tokens = _traffic(client, service_key)
        assert client.post("/v1/tokenize", json={"items": []}, headers=bearer("bad")).status_code == 401
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = out.getvalue()
    assert "\x1b[" not in text
    _scan(text, tokens)
    if log_format == "plain":
        assert "request POST /v1/tokenize 200" in text
        return
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [r for r in lines if r.get("logger") == "piivault.request"]
    tokenize = next(r for r in requests if r["route"] == "/v1/tokenize" and r["status"] == 200)
    assert set(tokenize) >= {"time", "level", "request_id", "client_id", "route", "method", "duration_ms"}
    assert tokenize["client_id"] and tokenize["request_id"] and tokenize["duration_ms"] >= 0
    subject = next(r for r in requests if r["route"] == "/v1/subjects/<subject_id>")
    assert subject["method"] == "GET"
    refused = next(r for r in requests if r["status"] == 401)
    assert refused["client_id"] is None and refused["request_id"]


_INCREMENT = """
from piivault import metrics
metrics.TOKEN_ITEMS.labels(operation="tokenize", outcome="ok", reason="none").inc({n})
"""
_RENDER = "import sys; from piivault import metrics; sys.stdout.write(metrics.render().decode())"


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_multiprocess_mode_adds_up_every_worker(tmp_path: Path):
    """Under gunicorn each worker is a process: a scrape answered by one counts all of them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _python(_INCREMENT.format(n=3), env)
    _python(_INCREMENT.format(n=4), env)
    text = _python(_RENDER, env)
    assert 'piivault_token_items_total{operation="tokenize",outcome="ok",reason="none"} 7.0' in text
    from piivault import metrics

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    try:
        metrics.reset_multiprocess_dir()  # `piivault serve` at start: a restart does not add up the dead
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert not list(tmp_path.glob("*.db"))
