"""The customer's copy of an access request (PIPL art. 45): a document a bank hands to the person.

The DPO's access package (:mod:`consent.access`) is the complete, machine-checkable record
(codes, tokens, audit entries with proofs); this is the same package put in words for its
subject, in Chinese or English: what the bank holds (values masked unless the DPO chooses plain;
risk attributes named, their content hidden whole in a masked copy), for which purposes and on
which legal basis, who used the data, when and why (local time to the minute, by the system's
name or "a member of our staff", never a client id; refused attempts left out), the consents
with their dates, the holds and why data is kept. A print stylesheet makes it an A4 document;
:func:`piivault.printing.html_to_pdf` turns it into a PDF.

It is reached only through :func:`consent.access.download` (format ``customer`` or ``pdf``):
the same four-eyes grant (``dsr.package``) and the same audit event as the internal package.
"""

from __future__ import annotations

import datetime as dt
import html
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consent import model as m
from tokenization.policy.purposes import DEFAULT_PURPOSES

_DEFAULTS = {p.code: p for p in DEFAULT_PURPOSES}

LANGUAGES = ("zh-CN", "en")
VALUE_MODES = ("masked", "plain")
# A risk attribute's content in a masked copy, whatever its length.
ATTRIBUTE_MASK = "****"

# The built-in purposes' English texts in both languages (a DPO's own texts are shown as written).
BUILTIN = {
    "account_service": {
        "description": ("开立和维护您的账户与合同", "opening and servicing your accounts and contracts"),
        "retention": ("业务关系存续期间", "for the duration of our relationship"),
    },
    "aml_kyc": {
        "description": (
            "依《反洗钱法》开展客户尽职调查并保存记录",
            "customer due diligence and record keeping under the Anti-Money Laundering Law",
        ),
        "retention": ("业务关系终止后 5 年", "5 years after our relationship ends"),
    },
    "risk_scoring": {
        "description": ("信用与欺诈风险评估", "credit and fraud risk assessment"),
        "retention": (
            "同意有效期间，最长至业务关系终止",
            "while your consent stands, at most until our relationship ends",
        ),
    },
    "marketing": {
        "description": ("向您推荐本行自己的产品", "offers of our own products"),
        "retention": ("直至您撤回同意", "until you withdraw your consent"),
    },
    "third_party_sharing": {
        "description": (
            "向其他个人信息处理者提供您的个人信息（《个人信息保护法》第 23 条）",
            "providing your personal information to another processor (PIPL art. 23)",
        ),
        "retention": ("以单独同意中所述为准", "as stated in your separate consent"),
    },
}

WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "您的个人信息副本",
        "intro": (
            "根据《个人信息保护法》第四十五条，您有权查阅、复制我们处理的您的个人信息。"
            "本文件列出截至生成时我们持有的您的个人信息、处理目的与法律依据、使用记录、"
            "您的同意以及我们保存信息的原因。"
        ),
        "controller": "个人信息处理者",
        "reference": "请求编号",
        "generated": "生成时间",
        "tz": "时间均为{tz}。",
        "zones": {"Asia/Shanghai": "北京时间"},
        "held": "我们持有的您的个人信息",
        "held_masked": "为保护您的信息，部分内容以 * 遮盖显示。如需完整内容，请联系我们。",
        "type": "信息类型",
        "value": "内容",
        "since": "登记日期",
        "attributes": "用于风险评估的信息",
        "attributes_masked": "为保护您的信息，以下项目的内容未在本副本中显示。如需查看，请联系我们。",
        "attribute": "项目",
        "yes_no": ("是", "否"),
        "purposes": "我们为什么处理您的信息",
        "purpose": "目的",
        "basis": "法律依据",
        "uses_types": "涉及的信息",
        "retention": "保存期限",
        "all_types": "全部类型",
        "uses": "谁在何时为何使用了您的信息",
        "uses_note": (
            "以下列出实际使用（查看或查询）您信息的记录；未获准的访问尝试没有取得您的信息，不在此列。"
        ),
        "when": "时间",
        "who": "使用者",
        "what": "使用了什么",
        "why": "目的",
        "consents": "您的同意",
        "state": "状态",
        "given": "日期",
        "expires": "有效期至",
        "consent_history": "同意记录",
        "channel": "方式",
        "action": "事项",
        "holds": "我们为何仍保存您的信息",
        "holds_none": "目前没有要求我们继续保存您信息的保存义务或法律程序。",
        "hold_kind": "原因",
        "hold_until": "保存至",
        "requests": "您提出的请求",
        "request_type": "请求",
        "received": "收到日期",
        "contact": "如对本文件有疑问，或希望更正、删除您的信息、撤回同意，请联系：",
        "none": "无",
        "page": "第 {page} 页",
        "list_sep": "、",
        "times": "{what}（{n} 次）",
        "states": {
            "granted": "已同意",
            "withdrawn": "已撤回",
            "expired": "已过期",
            "reconsent_required": "需重新确认",
        },
        "consent_actions": {"grant": "同意", "renew": "续期", "withdraw": "撤回", "expire": "到期"},
        "channels": {"app": "手机银行 App", "branch": "营业网点", "phone": "电话", "web": "网上银行"},
        "bases": {
            "consent": "您的同意",
            "contract": "订立、履行与您的合同所必需",
            "legal_obligation": "履行法定职责或法定义务",
            "emergency": "应对突发事件、保护生命财产安全",
            "public_interest": "为公共利益实施新闻报道、舆论监督",
            "public_information": "处理已合法公开的信息",
            "other_law": "法律、行政法规规定的其他情形",
        },
        "actions": {
            "detokenize": "查看了您的{types}",
            "lookup": "按{types}查找了您的记录",
            "dsr.access_package": "为答复您的查阅请求准备了您的信息副本",
        },
        "actors": {
            "client": "本行系统「{name}」",
            "system": "本行系统",
            "staff": "本行工作人员",
            "dpo": "本行个人信息保护负责人",
        },
        "hold_reasons": {
            "retention_rule": "法律规定的保存期限",
            "litigation": "诉讼",
            "regulatory_investigation": "监管调查",
            "law_enforcement": "执法机关依法要求",
            "audit": "审计",
            "other": "其他法定原因",
        },
        "hold_ends": "业务关系终止后 {years} 年",
        "hold_open": "至法律程序结束",
        "dsr_types": {
            "access": "查阅、复制",
            "correction": "更正",
            "erasure": "删除",
            "restriction": "限制处理",
            "withdraw_all": "撤回全部同意",
        },
        "dsr_states": {
            "received": "已收到",
            "identity_verified": "已核实身份",
            "approved": "处理中",
            "completed": "已完成",
            "rejected": "未予办理",
        },
        "attributes_names": {
            "age": "年龄",
            "income": "收入",
            "credit_grade": "信用等级",
            "occupation": "职业",
            "gender": "性别",
            "debt_ratio": "负债比率",
            "default_24m": "近 24 个月违约记录",
        },
    },
    "en": {
        "title": "A copy of your personal information",
        "intro": (
            "Under article 45 of the Personal Information Protection Law you may see and copy the "
            "personal information we process about you. This document lists what we held when it was "
            "made, why we process it and on which legal basis, who used it, your consents, and why we "
            "keep it."
        ),
        "controller": "Personal information processor",
        "reference": "Request reference",
        "generated": "Made on",
        "tz": "Times are {tz}.",
        "zones": {"Asia/Shanghai": "Beijing time (UTC+8)"},
        "held": "Personal information we hold about you",
        "held_masked": (
            "To protect you, parts of some values are hidden with *. Contact us for the full values."
        ),
        "type": "Kind of information",
        "value": "Value",
        "since": "Recorded on",
        "attributes": "Information used to assess risk",
        "attributes_masked": (
            "To protect you, the contents of these items are not shown in this copy. Contact us to see them."
        ),
        "attribute": "Item",
        "yes_no": ("yes", "no"),
        "purposes": "Why we process your information",
        "purpose": "Purpose",
        "basis": "Legal basis",
        "uses_types": "Information involved",
        "retention": "Kept for",
        "all_types": "all kinds",
        "uses": "Who used your information, when and why",
        "uses_note": (
            "These are the times your information was actually used (seen or looked up); attempts that "
            "were refused obtained nothing and are not listed."
        ),
        "when": "When",
        "who": "Who",
        "what": "What",
        "why": "Purpose",
        "consents": "Your consents",
        "state": "State",
        "given": "Date",
        "expires": "Valid until",
        "consent_history": "Consent history",
        "channel": "How",
        "action": "What",
        "holds": "Why we still keep your information",
        "holds_none": "No retention duty or legal proceeding currently requires us to keep your information.",
        "hold_kind": "Reason",
        "hold_until": "Kept until",
        "requests": "Your requests",
        "request_type": "Request",
        "received": "Received on",
        "contact": (
            "For questions about this document, or to correct or erase your information or withdraw a "
            "consent, contact:"
        ),
        "none": "None",
        "page": "Page {page}",
        "list_sep": ", ",
        "times": "{what} ({n} times)",
        "states": {
            "granted": "given",
            "withdrawn": "withdrawn",
            "expired": "expired",
            "reconsent_required": "to be confirmed again",
        },
        "consent_actions": {
            "grant": "given",
            "renew": "renewed",
            "withdraw": "withdrawn",
            "expire": "expired",
        },
        "channels": {
            "app": "mobile banking app",
            "branch": "branch",
            "phone": "telephone",
            "web": "online banking",
        },
        "bases": {
            "consent": "your consent",
            "contract": "needed to conclude or perform our contract with you",
            "legal_obligation": "our statutory duties or obligations",
            "emergency": "an emergency, to protect life or property",
            "public_interest": "news reporting or public opinion supervision in the public interest",
            "public_information": "information already lawfully made public",
            "other_law": "another ground provided by law",
        },
        "actions": {
            "detokenize": "viewed your {types}",
            "lookup": "looked up your record by {types}",
            "dsr.access_package": "prepared this copy to answer your access request",
        },
        "actors": {
            "client": 'our system "{name}"',
            "system": "our systems",
            "staff": "a member of our staff",
            "dpo": "our personal information protection officer",
        },
        "hold_reasons": {
            "retention_rule": "a retention period required by law",
            "litigation": "litigation",
            "regulatory_investigation": "a regulatory investigation",
            "law_enforcement": "a lawful request of law enforcement",
            "audit": "an audit",
            "other": "another legal reason",
        },
        "hold_ends": "{years} years after our relationship ends",
        "hold_open": "until the proceeding ends",
        "dsr_types": {
            "access": "access and copy",
            "correction": "correction",
            "erasure": "erasure",
            "restriction": "restriction of processing",
            "withdraw_all": "withdrawal of every consent",
        },
        "dsr_states": {
            "received": "received",
            "identity_verified": "identity checked",
            "approved": "in progress",
            "completed": "done",
            "rejected": "not carried out",
        },
        "attributes_names": {
            "age": "age",
            "income": "income",
            "credit_grade": "credit grade",
            "occupation": "occupation",
            "gender": "gender",
            "debt_ratio": "debt ratio",
            "default_24m": "defaults in the last 24 months",
        },
    },
}


class Wording:
    """What the copy needs to name things in words, given by the consent service."""

    def __init__(
        self,
        purposes: Sequence[m.PurposeDef],
        field_type_name: Callable[[str, str], str],
        mask: Callable[[str, str], str],
        client_names: Mapping[str, str],
        time_zone: str,
    ) -> None:
        self.purposes = {p.code: p for p in purposes}
        self.field_type_name = field_type_name  # (code, "zh"|"en") -> name
        self.mask = mask  # (field type code, value) -> masked value
        self.client_names = client_names  # client id -> the name an admin gave it
        self.zone = zoneinfo.ZoneInfo(time_zone)
        self.time_zone = time_zone


def render(
    package: Mapping[str, Any], wording: Wording, *, language: str = "zh-CN", values: str = "masked"
) -> str:
    """The customer's copy as one print-ready HTML page (every value escaped).

    Raises ValueError for a language or value mode not offered.
    """
    if language not in LANGUAGES or values not in VALUE_MODES:
        raise ValueError("language must be zh-CN or en and values masked or plain")
    return _Page(package, wording, language.split("-")[0], values == "masked").html(language)


class _Page:
    def __init__(self, package: Mapping[str, Any], wording: Wording, lang: str, masked: bool) -> None:
        self.p, self.w, self.lang, self.masked = package, wording, lang, masked
        self.t = WORDS[lang]

    # -- words ----------------------------------------------------------------------------
    def when(self, value: Any, *, minutes: bool = True) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.w.zone).strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")

    def day(self, value: Any) -> str:
        return self.when(value, minutes=False)

    def purpose_name(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.w.purposes.get(code)
        if found is None:
            return code
        return found.name_zh if self.lang == "zh" else found.name_en

    def purpose_text(self, purpose: m.PurposeDef, field: str) -> str:
        """A built-in purpose's unchanged English text in the page's language; a DPO's own as written."""
        text = getattr(purpose, field) or ""
        builtin = BUILTIN.get(purpose.code, {}).get(field)
        default = _DEFAULTS.get(purpose.code)
        if builtin is not None and default is not None and getattr(default, field) == text:
            return builtin[0 if self.lang == "zh" else 1]
        return text

    def type_name(self, code: str) -> str:
        return self.w.field_type_name(code, self.lang)

    def types(self, codes: Sequence[str]) -> str:
        return self.t["list_sep"].join(self.type_name(c) for c in codes)

    def actor(self, raw: str | None, action: str) -> str:
        actors = self.t["actors"]
        kind, _, ident = (raw or "").partition(":")
        if action == "dsr.access_package":
            return actors["dpo"]
        if kind == "client":
            name = self.w.client_names.get(ident)
            return actors["client"].format(name=name) if name else actors["system"]
        if kind in ("user", "cli"):
            return actors["staff"]
        return actors["system"]

    # -- sections -------------------------------------------------------------------------
    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        if not rows:
            body = f'<tr><td colspan="{len(headers)}" class="none">{html.escape(self.t["none"])}</td></tr>'
        else:
            # Each cell names its column: on a narrow screen a row becomes a card of labelled lines.
            labels = [html.escape(h, quote=True) for h in headers]
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td data-label="{lb}">{html.escape(c)}</td>' for lb, c in zip(labels, r, strict=True)
                )
                + "</tr>"
                for r in rows
            )
        return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def held(self) -> str:
        t = self.t
        rows = []
        for v in self.p["values"]:
            value = v["value"]
            if self.masked:
                try:
                    value = self.w.mask(v["field_type"], value)
                except Exception:  # a value its type no longer validates: hide it whole
                    value = "*" * min(len(value), 8)
            rows.append((self.type_name(v["field_type"]), value, self.day(v["stored_at"])))
        out = [f"<h2>{t['held']}</h2>"]
        if self.masked and rows:
            out.append(f'<p class="note">{html.escape(t["held_masked"])}</p>')
        out.append(self.table((t["type"], t["value"], t["since"]), rows, "held"))
        out.append(self.attributes())
        return "".join(out)

    def attributes(self) -> str:
        """The risk attributes held (PIPL art. 45: the person may know what is held). Each is
        named; in a masked copy its content is hidden whole, at one length: a score, an income or
        a default record has no harmless part to show, and its length would tell."""
        t = self.t
        attributes = self.p["attributes"]
        if not attributes:
            return ""
        names = t["attributes_names"]
        rows = [
            (names.get(a["name"], a["name"]), self.attribute_value(a["value"]), self.day(a["stored_at"]))
            for a in attributes
        ]
        note = f'<p class="note">{html.escape(t["attributes_masked"])}</p>' if self.masked else ""
        table = self.table((t["attribute"], t["value"], t["since"]), rows, "attributes")
        return f"<h3>{t['attributes']}</h3>{note}{table}"

    def attribute_value(self, value: Any) -> str:
        if self.masked:
            return ATTRIBUTE_MASK
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self.t["yes_no"][0 if value else 1]
        return str(value)

    def applicable_purposes(self) -> list[m.PurposeDef]:
        """The purposes the person's data is processed for: those with a consent that counts now,
        and the active ones that need none (contract, legal obligation) covering a kind held."""
        held = {v["field_type"] for v in self.p["values"]}
        consenting = {c["purpose"] for c in self.p["consents"]["current"] if c.get("counts")}
        found = []
        for purpose in self.w.purposes.values():
            if not purpose.active:
                continue
            if purpose.consent_required:
                if purpose.code in consenting:
                    found.append(purpose)
            elif any(purpose.covers(code) for code in held):
                found.append(purpose)
        return found

    def purposes(self) -> str:
        t = self.t
        held = sorted({v["field_type"] for v in self.p["values"]})
        rows = []
        for p in self.applicable_purposes():
            kinds = [code for code in held if p.covers(code)]
            rows.append(
                (
                    f"{self.purpose_name(p.code)}：{self.purpose_text(p, 'description')}"
                    if self.lang == "zh"
                    else f"{self.purpose_name(p.code)}: {self.purpose_text(p, 'description')}",
                    t["bases"].get(p.legal_basis, p.legal_basis),
                    self.types(kinds) if kinds else "—",
                    self.purpose_text(p, "retention"),
                )
            )
        return f"<h2>{t['purposes']}</h2>" + self.table(
            (t["purpose"], t["basis"], t["uses_types"], t["retention"]), rows, "purposes"
        )

    def uses(self) -> str:
        t = self.t
        # Newest first; the same use by the same user in the same minute is one line, with a count.
        counted: dict[tuple[str, str, str, str], int] = {}
        for use in sorted(self.p["uses"], key=lambda u: u["time"], reverse=True):
            if use["outcome"] != "success":
                continue  # a refused attempt obtained nothing
            action = use["action"]
            what = t["actions"].get(action, action).format(types=self.types(use["field_types"] or ()))
            line = (
                self.when(use["time"]),
                self.actor(use["who"], action),
                what,
                self.purpose_name(use["purpose"]),
            )
            counted[line] = counted.get(line, 0) + 1
        rows = [
            (when, who, what if n == 1 else t["times"].format(what=what, n=n), why)
            for (when, who, what, why), n in counted.items()
        ]
        return f'<h2>{t["uses"]}</h2><p class="note">{html.escape(t["uses_note"])}</p>' + self.table(
            (t["when"], t["who"], t["what"], t["why"]), rows, "uses"
        )

    def consents(self) -> str:
        t = self.t
        current = [
            (
                self.purpose_name(c["purpose"]),
                t["states"].get(c["state"], c["state"]),
                self.day(c["effective_at"]),
                self.day(c["expires_at"]) if c.get("expires_at") else "—",
            )
            for c in self.p["consents"]["current"]
        ]
        history = [
            (
                self.day(r["effective_at"]),
                self.purpose_name(r["purpose"]),
                t["consent_actions"].get(r["action"], r["action"]),
                t["channels"].get(r["channel"], r["channel"] or "—"),
            )
            for r in self.p["consents"]["history"]
        ]
        return (
            f"<h2>{t['consents']}</h2>"
            + self.table((t["purpose"], t["state"], t["given"], t["expires"]), current)
            + f"<h3>{t['consent_history']}</h3>"
            + self.table((t["given"], t["purpose"], t["action"], t["channel"]), history)
        )

    def holds(self) -> str:
        t = self.t
        rows = []
        for h in self.p["holds"]:
            if h.get("released_at") is not None:
                continue
            if h["ends_at"] is not None:
                until = self.day(h["ends_at"])
            elif h.get("retention_years"):
                until = t["hold_ends"].format(years=h["retention_years"])
            else:
                until = t["hold_open"]
            reason = t["hold_reasons"].get(h["reason_code"], t["hold_reasons"]["other"])
            if h.get("purpose"):
                reason = (
                    f"{reason}（{self.purpose_name(h['purpose'])}）"
                    if self.lang == "zh"
                    else (f"{reason} ({self.purpose_name(h['purpose'])})")
                )
            rows.append((reason, until))
        body = (
            self.table((t["hold_kind"], t["hold_until"]), rows)
            if rows
            else f"<p>{html.escape(t['holds_none'])}</p>"
        )
        return f"<h2>{t['holds']}</h2>{body}"

    def requests(self) -> str:
        t = self.t
        rows = [
            (
                t["dsr_types"].get(r["type"], r["type"]),
                self.day(r["received_at"]),
                t["dsr_states"].get(r["state"], r["state"]),
            )
            for r in self.p["requests"]
        ]
        return f"<h2>{t['requests']}</h2>" + self.table((t["request_type"], t["received"], t["state"]), rows)

    def html(self, language: str) -> str:
        t = self.t
        controller = self.p["controller"]
        contact = [
            controller.get(k)
            for k in ("piiController", "contact", "address", "email", "phone")
            if controller.get(k)
        ]
        zone = t["zones"].get(
            self.w.time_zone, f" {self.w.time_zone} " if self.lang == "zh" else self.w.time_zone
        )
        header = (
            f'<header><p class="org">{html.escape(controller.get("piiController") or "")}</p>'
            f"<h1>{html.escape(t['title'])}</h1>"
            f"<dl><dt>{t['reference']}</dt><dd>{html.escape(self.p['dsr_id'])}</dd>"
            f"<dt>{t['generated']}</dt><dd>{self.when(self.p['generated_at'])}</dd></dl>"
            f'<p class="note">{html.escape(t["tz"].format(tz=zone))}</p></header>'
        )
        parts = [
            header,
            f"<p>{html.escape(t['intro'])}</p>",
            self.held(),
            self.purposes(),
            self.uses(),
            self.consents(),
            self.holds(),
            self.requests(),
            f"<footer><p>{html.escape(t['contact'])}</p><p>"
            + "<br>".join(html.escape(str(c)) for c in contact)
            + "</p></footer>",
        ]
        title = f"{t['title']} · {self.p['dsr_id']}"
        return (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "".join(parts)
            + "</body></html>\n"
        )


STYLE = """
@page{size:A4;margin:18mm 16mm 20mm}
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;color:#1a1a1a;
line-height:1.55;font-size:10.5pt;max-width:180mm;margin:1.5em auto;padding:0 1em}
header{border-bottom:2px solid #2b4a6f;margin-bottom:1em;padding-bottom:.4em}
.org{font-weight:600;color:#2b4a6f;margin:0}
h1{font-size:18pt;margin:.2em 0 .4em}
h2{font-size:12.5pt;color:#2b4a6f;margin:1.4em 0 .4em;border-bottom:1px solid #c9d3df;padding-bottom:.15em;
break-after:avoid}
h3{font-size:11pt;margin:1em 0 .3em;break-after:avoid}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:0}
dt{color:#555}dd{margin:0}
.note{color:#555;font-size:9.5pt}
h2 + .note{break-after:avoid}
table{border-collapse:collapse;width:100%;margin:.3em 0 .8em;font-size:9.5pt}
th,td{border:1px solid #c9d3df;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.purposes th:nth-child(1){width:34%}table.purposes th:nth-child(2){width:20%}
table.purposes th:nth-child(3){width:26%}
table.uses th:nth-child(1){width:9em}
th{background:#eef2f7;font-weight:600}
thead{display:table-header-group}
tr{break-inside:avoid}
td.none{color:#777}
footer{margin-top:2em;border-top:1px solid #c9d3df;padding-top:.5em;font-size:9.5pt}
html:lang(en) body{font-family:"Noto Sans","DejaVu Sans",Arial,"Noto Sans CJK SC",sans-serif}
@media print{body{margin:0;max-width:none;padding:0}}
@media screen and (max-width:600px){
body{margin:.8em auto;padding:0 .8em}
table,tbody,tr,td{display:block;width:auto!important}
thead{display:none}
tr{border:1px solid #c9d3df;margin:0 0 .6em;padding:.2em 0}
td{border:0;padding:.15em .6em}
td::before{content:attr(data-label);display:block;color:#555;font-size:8.5pt}
td.none::before{content:none}
}
"""
