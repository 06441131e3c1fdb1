"""The audit page (verify, checkpoint, search) and the dashboard's figures and chart."""

from __future__ import annotations

import datetime as dt
import re

from privacy.model import Actor
from tests.consent.conftest import customer
from tests.console.conftest import audit_payloads

SERVICE = Actor("client:crm", "service", frozenset({"account_service", "risk_scoring", "marketing"}))


def test_verify_runs_records_the_result_and_the_dashboard_shows_it(container, signed_in):
    auditor = signed_in("auditor")
    dashboard = auditor.get("/console/").get_data(as_text=True)
    assert "尚未校验过" in dashboard
    response = auditor.post("/console/audit/verify")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="audit-verify-result" data-ok="true"', html)
    [event] = [e for e in audit_payloads(container) if e["action"] == "audit.verify"]
    assert event["actor"] == "user:auditor" and event["details"]["ok"] is True
    last = re.search(
        r'data-testid="last-verification">(.*?)</dd>', auditor.get("/console/").get_data(as_text=True), re.S
    )
    assert last and "通过" in last.group(1) and "由 auditor 校验" in last.group(1)  # by name


def test_a_tampered_log_fails_verification_on_the_page(container, signed_in):
    from tests.audit.conftest import tampering

    auditor = signed_in("auditor")
    container.audit.checkpoint_now()
    with tampering(container) as conn:  # what an operator with superuser rights could do
        conn.exec_driver_sql(
            "UPDATE audit_events SET payload = replace(payload, '\"user:auditor\"', '\"user:nobody\"')"
        )
    html = auditor.post("/console/audit/verify").get_data(as_text=True)
    assert re.search(r'id="audit-verify-result" data-ok="false"', html)
    assert "校验失败" in html
    dashboard = auditor.get("/console/").get_data(as_text=True)
    assert "card-alert" in dashboard.split('id="card-audit"')[0].rsplit("<div", 1)[1]


def test_the_latest_checkpoint_is_shown_and_downloadable(container, signed_in):
    dpo = signed_in("dpo")
    record = container.audit.checkpoint_now()
    page = dpo.get("/console/audit").get_data(as_text=True)
    assert record.note.splitlines()[0] in page and 'id="checkpoint-download"' in page
    download = dpo.get("/console/audit/checkpoint")
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert download.get_data(as_text=True) == record.note
    assert f"checkpoint-{record.size}.note" in download.headers["Content-Disposition"]


def test_searching_events_is_audited_with_the_filters(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    response = dpo.get("/console/audit?subject=cust-0001&action=tokenize")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="audit-results"' in html and "client:c-service" in html
    reads = [e for e in audit_payloads(container) if e["action"] == "audit.read"]
    assert reads[-1]["actor"] == "user:dpo" and reads[-1]["subject_id"] == "cust-0001"
    assert reads[-1]["details"]["action"] == "tokenize" and reads[-1]["details"]["returned"] == 1


def test_search_times_are_read_in_the_users_zone(container, signed_in):
    import zoneinfo

    dpo = signed_in("dpo")  # logged at the real time
    local = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)

    def search(since: dt.datetime, until: dt.datetime) -> str:
        query = f"actor=user:dpo&since={since:%Y-%m-%dT%H:%M}&until={until:%Y-%m-%dT%H:%M}"
        return dpo.get(f"/console/audit?{query}").get_data(as_text=True)

    minutes = dt.timedelta(minutes=5)
    signed = 'title="console.sign_in"'  # a result row's event (the action list names every action)
    assert signed in search(local - minutes, local + minutes)
    # The same wall-clock window read as UTC would be eight hours off: nothing in it.
    assert signed not in search(local - dt.timedelta(hours=8) - minutes, local - dt.timedelta(hours=7))


def test_the_dashboard_charts_consents_per_purpose(container, signed_in):
    customer(container, "cust-0001")
    consent = container.consent
    with container.uow() as uow:
        consent.grant(uow, SERVICE, "cust-0001", "marketing", channel="app")
    with container.uow() as uow:
        consent.grant(uow, SERVICE, "cust-0001", "risk_scoring", channel="app")
    with container.uow() as uow:
        consent.withdraw(uow, SERVICE, "cust-0001", "marketing", channel="app")
    html = signed_in("dpo").get("/console/").get_data(as_text=True)
    chart = html.split('id="consent-chart"')[1]
    assert chart.count("<svg") == 2 and 'id="chart-marketing"' in chart
    assert "+1 / −1" in chart and chart.count('class="bar-up"') == 2 and chart.count('class="bar-down"') == 1
    assert 'id="recent-extracts"' in html and "尚无数据提取记录" in html


def test_recent_extracts_come_from_the_audit_log(container, signed_in):
    from audit.events import AuditEvent

    with container.uow() as uow:
        uow.record(
            AuditEvent(  # the shape anonymize.extract records (counts and k among its details)
                action="extract.completed",
                actor="client:analyst",
                purpose="risk_scoring",
                details={"extract_id": "ext_1", "counts": {"rows_kept": 10}, "achieved": {"k": 5, "l": 1}},
            )
        )
        uow.commit()
    container.audit.sequence_pending()
    html = signed_in("auditor").get("/console/").get_data(as_text=True)
    extracts = html.split('id="recent-extracts"')[1]
    assert "数据提取完成" in extracts and "client:analyst" in extracts and "保留 10 行，k = 5" in extracts
    assert "rows_kept" not in extracts
