"""Bad input in the forms of a subject's pages and requests: a clear message, and nothing changed.

The search, consents, holds, restriction and closing, data-subject requests; the audit search
and the sign-in form. The forms of purposes, notices, users and one's own settings are in
test_forms_purposes_users.py; the check both run, on the database itself, is in conftest.py.
"""

from __future__ import annotations

import pytest

from tests.consent.conftest import ID_NUMBER, MOBILE, customer
from tests.console.conftest import (
    SUBJECT,
    FormCase,
    audit_payloads,
    form_cases,
    granted,
    new_dsr,
    placed_hold,
    refused_unchanged,
)

CASES: list[FormCase] = [
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
        lambda c: granted(c, "marketing"),
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
        lambda c: {"hold": placed_hold(c)},
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
        lambda c: {"dsr": new_dsr(c, "access")},
    ),
    (
        "dsr-approve-too-early",
        "dpo",
        "/console/dsr/{dsr}/approve",
        {},
        409,
        "该请求处于“已收到”状态，下一步只能是“身份已核验”或拒绝",
        lambda c: {"dsr": new_dsr(c, "access")},
    ),
    (
        "dsr-reject-no-reason",
        "dpo",
        "/console/dsr/{dsr}/reject",
        {"note": "no"},
        422,
        "此项为必填",
        lambda c: {"dsr": new_dsr(c, "access")},
    ),
    (
        "dsr-erase-unconfirmed",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {},
        422,
        "请勾选确认后再执行",
        lambda c: {"dsr": new_dsr(c, "erasure", "approved")},
    ),
    (
        "dsr-correction-no-value",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {"token_0": "tok_x"},
        422,
        "此项为必填",
        lambda c: {"dsr": new_dsr(c, "correction", "approved")},
    ),
    (
        "dsr-correction-none",
        "dpo",
        "/console/dsr/{dsr}/execute",
        {},
        422,
        "完成更正请求需要填写至少一项更正",
        lambda c: {"dsr": new_dsr(c, "correction", "approved")},
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


@pytest.mark.parametrize(("role", "path", "form", "status", "text", "setup"), form_cases(CASES))
def test_bad_input_says_why_and_changes_nothing(container, signed_in, role, path, form, status, text, setup):
    refused_unchanged(container, signed_in, role, path, form, status, text, setup)


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
