"""Every form's bad input: a clear message on the page, and nothing changed.

"Nothing changed" is checked on the database itself: the rows of every table a
form could write, and the audit events of every action that changes something
(reads, which are audited too, are left out).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from consent import tables as consent_tables
from identity.users import tables as ct
from privacy import tables as privacy_tables
from privacy.model import Actor
from tests.consent.conftest import ID_NUMBER, MOBILE, customer
from tests.console.conftest import audit_payloads
from tokenization import tables as tt

# Three English words in a row: a service's message shown as it is, not in the page's language.
ENGLISH = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}")
READS = {"subject.read", "consent.read", "audit.read", "dsr.read", "lookup", "detokenize", "subject.find"}
SUBJECT = "cust-0001"
DPO_ACTOR = Actor("client:dpo", "dpo")


def snapshot(container) -> dict[str, Any]:
    tables = [
        privacy_tables.records,
        privacy_tables.holds,
        consent_tables.dsr_requests,
        consent_tables.dsr_steps,
        privacy_tables.purpose_versions,
        privacy_tables.notices,
        consent_tables.jobs,
        ct.users,
        tt.tokens,
    ]
    with container.session_factory() as s:
        state = {t.name: s.execute(sa.select(t)).all() for t in tables}
        state["subjects"] = s.execute(sa.select(privacy_tables.subjects)).all()
        state["sessions"] = s.scalar(sa.select(sa.func.count()).select_from(ct.sessions))
    state["changes"] = [e["action"] for e in audit_payloads(container) if e["action"] not in READS]
    return state


def _dsr(container, kind: str, to: str | None = None) -> str:
    svc = container.consent
    with container.uow() as uow:
        dsr_id = svc.create_request(uow, DPO_ACTOR, SUBJECT, kind, channel="branch")["dsr_id"]
    steps = {"identity_verified": ["identity_verified"], "approved": ["identity_verified", "approved"]}
    for state in steps.get(to or "", []):
        with container.uow() as uow:
            svc.advance_request(uow, DPO_ACTOR, dsr_id, state, method="in_person")
    return dsr_id


def _granted(container, purpose: str) -> dict[str, str]:
    with container.uow() as uow:
        container.consent.grant(uow, DPO_ACTOR, SUBJECT, purpose, channel="app")
    return {}


def _hold(container) -> str:
    svc = container.consent
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with container.uow() as uow:
        return svc.place_hold(uow, DPO_ACTOR, SUBJECT, reason_code="litigation", ends_at=ends)["hold_id"]


# (case id, role, path (may use {dsr} / {hold}), form, status, text on the page, setup)
Setup = Callable[[Any], dict[str, str]] | None
CASES: list[tuple[str, str, str, dict[str, str], int, str, Setup]] = [
    ("search-no-query", "dpo", "/console/subjects", {"by": "subject_id", "q": ""}, 422, "此项为必填", None),
    ("search-bad-by", "dpo", "/console/subjects", {"by": "email", "q": "x"}, 422, "请从列表中选择", None),
    (
        "search-value-no-type",
        "dpo",
        "/console/subjects",
        {"by": "value", "q": MOBILE},
        422,
        "此项为必填",
        None,
    ),
    (
        "search-invalid-value",
        "dpo",
        "/console/subjects",
        {"by": "value", "field_type": "cn_resident_id", "q": "110105199003071230"},
        422,
        "该值不符合所选字段类型",
        None,
    ),
    (
        "search-id-is-pii",
        "dpo",
        "/console/subjects",
        {"by": "subject_id", "q": ID_NUMBER},
        422,
        "这不是有效的主体 ID",
        None,
    ),
    (
        "grant-no-purpose",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"channel": "app"},
        422,
        "此项为必填",
        None,
    ),
    (
        "grant-unknown-purpose",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "aml_kyc", "channel": "app"},
        422,
        "请从列表中选择",
        None,
    ),
    (
        "grant-bad-channel",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "fax"},
        422,
        "请从列表中选择",
        None,
    ),
    (
        "grant-bad-evidence",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "evidence": "the signed form"},
        422,
        "证据须为摘要",
        None,
    ),
    (
        "grant-notice-not-number",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "notice_version": "v2"},
        422,
        "请输入 1 到",
        None,
    ),
    (
        "grant-unknown-notice",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "notice_version": "7"},
        422,
        "告知版本须在",
        None,
    ),
    (
        "grant-expired",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "expires_on": "2020-01-01"},
        422,
        "该时间须晚于现在",
        None,
    ),
    (
        "grant-bad-date",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "expires_on": "31/12/2030"},
        422,
        "请输入有效日期",
        None,
    ),
    (
        "grant-separate-missing",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "third_party_sharing", "channel": "app"},
        422,
        "该处理目的需要单独同意",
        None,
    ),
    (
        "withdraw-nothing",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/withdraw",
        {"purpose": "marketing", "channel": "app"},
        409,
        "没有可撤回的同意",
        None,
    ),
    (
        "withdraw-no-channel",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/withdraw",
        {"purpose": "marketing"},
        422,
        "此项为必填",
        lambda c: _granted(c, "marketing"),
    ),
    (
        "hold-no-end",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds",
        {"reason_code": "litigation"},
        422,
        "此项为必填",
        None,
    ),
    (
        "hold-past-end",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds",
        {"reason_code": "litigation", "ends_on": "2001-01-01"},
        422,
        "该时间须晚于现在",
        None,
    ),
    (
        "hold-bad-reason",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds",
        {"reason_code": "whim", "ends_on": "2099-01-01"},
        422,
        "请从列表中选择",
        None,
    ),
    (
        "hold-long-note",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds",
        {"reason_code": "litigation", "ends_on": "2099-01-01", "note": "x" * 1001},
        422,
        "不能超过 1000 个字符",
        None,
    ),
    (
        "release-bad-reason",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds/{{hold}}/release",
        {"reason_code": "bored"},
        422,
        "请从列表中选择",
        lambda c: {"hold": _hold(c)},
    ),
    (
        "release-unknown-hold",
        "dpo",
        f"/console/subjects/{SUBJECT}/holds/hld_nope/release",
        {"reason_code": "ended"},
        404,
        "没有这个保全",  # in the page's language (issue 21)
        None,
    ),
    (
        "lift-not-restricted",
        "dpo",
        f"/console/subjects/{SUBJECT}/lift-restriction",
        {"reason_code": "dpo_decision"},
        409,
        "该主体未被限制处理",
        None,
    ),
    ("close-unconfirmed", "dpo", f"/console/subjects/{SUBJECT}/close", {}, 422, "请勾选确认", None),
    (
        "dsr-no-subject",
        "dpo",
        "/console/dsr/new",
        {"type": "access", "channel": "app"},
        422,
        "此项为必填",
        None,
    ),
    (
        "dsr-bad-type",
        "dpo",
        "/console/dsr/new",
        {"subject_id": SUBJECT, "type": "delete", "channel": "app"},
        422,
        "请从列表中选择",
        None,
    ),
    (
        "dsr-subject-is-pii",
        "dpo",
        "/console/dsr/new",
        {"subject_id": MOBILE, "type": "access", "channel": "app"},
        422,
        "主体 ID 看起来像个人身份标识",
        None,
    ),
    (
        "dsr-verify-bad-method",
        "dpo",
        "/console/dsr/{dsr}/verify",
        {"method": "gut_feeling"},
        422,
        "请从列表中选择",
        lambda c: {"dsr": _dsr(c, "access")},
    ),
    (
        "dsr-approve-too-early",
        "dpo",
        "/console/dsr/{dsr}/approve",
        {},
        409,
        "该请求处于“已收到”状态，下一步只能是“身份已核验”或拒绝",
        lambda c: {"dsr": _dsr(c, "access")},
    ),
    (
        "dsr-reject-no-reason",
        "dpo",
        "/console/dsr/{dsr}/reject",
        {"note": "no"},
        422,
        "此项为必填",
        lambda c: {"dsr": _dsr(c, "access")},
    ),
    (
        "dsr-erase-unconfirmed",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {},
        422,
        "请勾选确认后再执行",
        lambda c: {"dsr": _dsr(c, "erasure", "approved")},
    ),
    (
        "dsr-correction-no-value",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {"token_0": "tok_x"},
        422,
        "此项为必填",
        lambda c: {"dsr": _dsr(c, "correction", "approved")},
    ),
    (
        "dsr-correction-none",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {},
        422,
        "完成更正请求需要填写至少一项更正",
        lambda c: {"dsr": _dsr(c, "correction", "approved")},
    ),
    (
        "purpose-bad-code",
        "dpo",
        "/console/purposes/new",
        {
            "code": "Bad Code",
            "name_zh": "甲",
            "name_en": "A",
            "legal_basis": "contract",
            "retention": "1 year",
            "all_field_types": "on",
            "notice_zh": "告知",
        },
        422,
        "代码须为 2–64 个小写字母",
        None,
    ),
    (
        "purpose-consent-basis",
        "dpo",
        "/console/purposes/new",
        {
            "code": "loyalty",
            "name_zh": "甲",
            "name_en": "A",
            "legal_basis": "consent",
            "retention": "1 year",
            "all_field_types": "on",
            "notice_zh": "告知",
        },
        422,
        "法律依据为同意的处理目的必须要求同意",
        None,
    ),
    (
        "purpose-no-notice",
        "dpo",
        "/console/purposes/new",
        {
            "code": "loyalty",
            "name_zh": "甲",
            "name_en": "A",
            "legal_basis": "contract",
            "retention": "1 year",
            "all_field_types": "on",
        },
        422,
        "此项为必填",
        None,
    ),
    (
        "purpose-years-zero",
        "dpo",
        "/console/purposes/new",
        {
            "code": "loyalty",
            "name_zh": "甲",
            "name_en": "A",
            "legal_basis": "contract",
            "retention": "1 year",
            "retention_anchor": "relationship_end",
            "retention_years": "0",
            "all_field_types": "on",
            "notice_zh": "告知",
        },
        422,
        "请输入 1 到 100",
        None,
    ),
    (
        "purpose-code-taken",
        "dpo",
        "/console/purposes/new",
        {
            "code": "marketing",
            "name_zh": "甲",
            "name_en": "A",
            "legal_basis": "contract",
            "retention": "1 year",
            "all_field_types": "on",
            "notice_zh": "告知",
        },
        409,
        "已有使用此代码的处理目的",
        None,
    ),
    (
        "purpose-edit-anchor-alone",
        "dpo",
        "/console/purposes/marketing",
        {
            "name_zh": "营销",
            "name_en": "Marketing",
            "legal_basis": "consent",
            "consent_required": "on",
            "retention": "until withdrawn",
            "retention_anchor": "relationship_end",
            "field_types": "name",
        },
        422,
        "保存期限的起算点与年数须同时填写",
        None,
    ),
    (
        "notice-empty",
        "dpo",
        "/console/purposes/marketing/notices",
        {"text_zh": " ", "material": "on"},
        422,
        "此项为必填",
        None,
    ),
    (
        "user-short-password",
        "admin",
        "/console/users",
        {"username": "carol", "role": "dpo", "password": "short", "confirm": "short", "language": "zh"},
        422,
        "密码至少需要 12 个字符",
        None,
    ),
    (
        "user-long-password",
        "admin",
        "/console/users",
        {"username": "carol", "role": "dpo", "password": "p" * 1025, "confirm": "p" * 1025, "language": "zh"},
        422,
        "密码不能超过 1024 个字符",
        None,
    ),
    (
        "user-password-mismatch",
        "admin",
        "/console/users",
        {"username": "carol", "role": "dpo", "password": "a" * 12, "confirm": "b" * 12, "language": "zh"},
        422,
        "两次输入的密码不一致",
        None,
    ),
    (
        "user-bad-name",
        "admin",
        "/console/users",
        {
            "username": "Carol Smith",
            "role": "dpo",
            "password": "a" * 14,
            "confirm": "a" * 14,
            "language": "zh",
        },
        422,
        "用户名须为",
        None,
    ),
    (
        "user-taken",
        "admin",
        "/console/users",
        {"username": "admin", "role": "dpo", "password": "a" * 14, "confirm": "a" * 14, "language": "zh"},
        409,
        "该用户名已存在",
        None,
    ),
    (
        "user-bad-zone",
        "admin",
        "/console/users",
        {
            "username": "carol",
            "role": "dpo",
            "password": "a" * 14,
            "confirm": "a" * 14,
            "language": "zh",
            "time_zone": "Mars/Olympus",
        },
        422,
        "未知的时区",
        None,
    ),
    (
        "user-reset-short",
        "admin",
        "/console/users/admin/password",
        {"password": "abc", "confirm": "abc"},
        422,
        "密码至少需要 12 个字符",
        None,
    ),
    (
        "me-bad-zone",
        "dpo",
        "/console/me",
        {"language": "zh", "time_zone": "Moon/Base"},
        422,
        "未知的时区",
        None,
    ),
    (
        "me-wrong-password",
        "dpo",
        "/console/me/password",
        {"current": "not my password", "new": "n" * 14, "confirm": "n" * 14},
        422,
        "当前密码不正确",
        None,
    ),
    (
        "grant-unexpected-field",
        "dpo",
        f"/console/subjects/{SUBJECT}/consents/grant",
        {"purpose": "marketing", "channel": "app", "subject_id": "someone-else"},
        400,
        "表单无效",
        None,
    ),
]


@pytest.mark.parametrize(
    ("role", "path", "form", "status", "text", "setup"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_says_why_and_changes_nothing(container, signed_in, role, path, form, status, text, setup):
    customer(container, SUBJECT)
    user = signed_in(role)
    path = path.format(**(setup(container) if setup else {}))
    before = snapshot(container)
    response = user.post(path, form)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:3000]
    assert text in html
    flash = re.search(r'id="form-error"[^>]*>(.*?)</div>', html, re.S)
    assert flash is None or not ENGLISH.search(flash.group(1)), flash.group(1)  # a Chinese page
    assert snapshot(container) == before


def test_a_value_typed_into_the_search_is_never_shown_back(container, signed_in):
    customer(container, SUBJECT)
    dpo = signed_in("dpo")
    bad = "110105199003071230"  # fails the check digit
    for form in (
        {"by": "value", "field_type": "cn_resident_id", "q": bad},
        {"by": "value", "field_type": "cn_mobile", "q": "13900000000"},  # valid, held by no one
        {"by": "subject_id", "q": ID_NUMBER},
        {"by": "token", "q": MOBILE},
    ):
        response = dpo.post("/console/subjects", form)
        html = response.get_data(as_text=True)
        assert form["q"] not in html
        assert 'name="q" type="text" value=""' in html
        assert response.status_code in (404, 422)


def test_the_audit_search_refuses_identifiers_as_filters(container, signed_in):
    auditor = signed_in("auditor")
    before = [e["action"] for e in audit_payloads(container)]
    response = auditor.get(f"/console/audit?subject={MOBILE}")
    assert response.status_code == 422
    assert "请填写 ID" in response.get_data(as_text=True)
    assert MOBILE not in response.get_data(as_text=True)
    window = auditor.get("/console/audit?since=2026-02-01T00:00&until=2026-01-01T00:00")
    assert window.status_code == 422 and "截止时间不能早于起始时间" in window.get_data(as_text=True)
    assert [e["action"] for e in audit_payloads(container)] == before


def test_the_sign_in_form_says_what_is_missing(app, container):
    from tests.console.conftest import csrf_of

    client = app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    response = client.post("/console/login", data={"csrf_token": token, "username": "", "password": ""})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("此项为必填") == 2
    assert not [e for e in audit_payloads(container) if e["action"] == "console.sign_in"]
