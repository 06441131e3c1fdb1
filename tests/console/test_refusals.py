"""The services' refusals in the console's words (issue 21, api/console/refusals.py): on a Chinese
page a Chinese sentence, states, purposes, legal bases and field types by name, never the
service's English; a refusal no pattern knows is a Chinese sentence of its kind with its code."""

from __future__ import annotations

import ast
import importlib
import pathlib
import re

import pytest

from api.console import i18n, refusals
from tests.consent.conftest import customer
from tests.console.conftest import ENGLISH, SUBJECT, new_dsr

ROOT = pathlib.Path(__file__).resolve().parents[2]
PURPOSE_FORM = {
    "name_zh": "营销",
    "name_en": "Marketing",
    "legal_basis": "consent",
    "consent_required": "on",
    "retention": "until withdrawn",
    "field_types": "name",
}


def _flash(html: str) -> str:
    found = re.search(r'id="form-error"[^>]*>(.*?)</div>', html, re.S)
    assert found, html[:2000]
    return found.group(1)


def _refusals(container) -> list[tuple[str, dict, int, str, str]]:
    """(path, form, status, the Chinese sentence, the service's English) of refusals the DPO meets."""
    dsr_id = new_dsr(container, "access")
    correction = new_dsr(container, "correction", "approved")
    return [
        (
            f"/console/dsr/{dsr_id}/approve",
            {},
            409,
            "该请求处于“已收到”状态，下一步只能是“身份已核验”或拒绝",
            "can move to",
        ),
        (
            f"/console/dsr/{correction}/execute",
            {},
            422,
            "完成更正请求需要填写至少一项更正",
            "needs corrections",
        ),
        (
            f"/console/subjects/{SUBJECT}/consents/withdraw",
            {"purpose": "marketing", "channel": "app"},
            409,
            "没有可撤回的同意",
            "no consent to withdraw",
        ),
        (
            f"/console/subjects/{SUBJECT}/consents/grant",
            {"purpose": "marketing", "channel": "app", "evidence": "the signed form"},
            422,
            "证据须为摘要",
            "evidence must be",
        ),
        (
            f"/console/subjects/{SUBJECT}/lift-restriction",
            {"reason_code": "dpo_decision"},
            409,
            "该主体未被限制处理",
            "is not restricted",
        ),
        (
            "/console/purposes/marketing",
            PURPOSE_FORM | {"retention_anchor": "relationship_end"},
            422,
            "保存期限的起算点与年数须同时填写",
            "go together",
        ),
    ]


def test_refusals_on_a_chinese_page_are_chinese_sentences(container, signed_in):
    customer(container, SUBJECT)
    dpo = signed_in("dpo")
    for path, form, status, said, english in _refusals(container):
        response = dpo.post(path, form)
        html = response.get_data(as_text=True)
        assert response.status_code == status, (path, html[:2000])
        text = _flash(html)
        assert said in text, (path, text)
        assert english not in html and not ENGLISH.search(text), (path, text)


def test_the_same_refusals_on_an_english_page_are_english(container, signed_in):
    customer(container, SUBJECT)
    dpo = signed_in("dpo")
    assert dpo.post("/console/lang", {"lang": "en", "next": "/console/"}).status_code == 303
    path, form, status, _, _ = _refusals(container)[0]
    text = _flash(dpo.post(path, form).get_data(as_text=True))
    assert "Received" in text and "Identity verified" in text and not re.search(r"[\u4e00-\u9fff]", text)


def test_variable_parts_are_named_in_the_users_language():
    def purpose(code: str) -> str:
        return {"marketing": "营销"}.get(code, code)

    said = refusals.sentence(
        "zh",
        "invalid_request",
        "purpose marketing rests on contract, not consent: nothing to record",
        purpose,
    )
    assert said == f"处理目的“营销”的法律依据是{i18n.t('zh', 'legal_basis.contract')}，不是同意：无需记录。"
    said = refusals.sentence("zh", "invalid_request", "field_types: unknown 'cn_mobile'", purpose)
    assert said == f"未知的字段类型：{i18n.t('zh', 'ft.cn_mobile')}。"
    said = refusals.sentence(
        "zh", "invalid_transition", "the request is completed: it cannot change any more", purpose
    )
    assert said == "该请求的状态为“已完成”，不能再更改。"
    assert "“重大变更”" in refusals.sentence(
        "zh", "invalid_request", "material must be true or false", purpose
    )
    pending = "dsr.erasure needs approval request apr_1 approved by another person (dpo or admin) first"
    said = refusals.sentence("zh", "approval_required", pending, purpose)
    assert said == "须由另一人（个人信息保护负责人或管理员）先批准审批申请 apr_1。"


@pytest.mark.parametrize("code", ["invalid_request", "conflict", "invalid_transition", "something_new"])
def test_a_refusal_no_pattern_knows_is_a_chinese_sentence_with_its_code(code):
    message = "the frobnicator declined this request for reasons"
    said = refusals.sentence("zh", code, message, str)
    assert code in said and "frobnicator" not in said and not ENGLISH.search(said)
    assert refusals.sentence("en", code, message, str) == message  # an English page says it as it is


# Refusals the console never shows: consent imports and receipt checks are API and CLI only.
NOT_IN_THE_CONSOLE = {"consent/importer.py", "consent/receipts.py"}


def _literal_refusals():
    """(where, code, message) of every refusal (4xx) the consent service raises with a literal
    message."""
    for path in sorted((ROOT / "consent").glob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where in NOT_IN_THE_CONSOLE:
            continue
        module = importlib.import_module(where[:-3].replace("/", "."))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            name = getattr(node.exc.func, "id", None)
            first = node.exc.args[0]
            error = module.InvalidConsent if name == "_fail" else getattr(module, name or "", None)
            refusal = getattr(error, "http_status", 500) < 500
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and refusal:
                yield f"{where}:{node.lineno}", error.code, first.value


def test_every_literal_refusal_of_the_consent_service_has_its_own_chinese_sentence():
    found = list(_literal_refusals())
    assert len(found) > 30
    for where, code, message in found:
        said = refusals.sentence("zh", code, message, str)
        generic = {i18n.t("zh", key, code=code) for key in (f"refusal.kind.{code}", "refusal.kind.other")}
        assert said not in generic and not ENGLISH.search(said), (where, message, said)
