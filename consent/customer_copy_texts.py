"""The words of the customer's copy (:mod:`consent.customer_copy`), in Chinese and English.

Data, not logic: the built-in purposes' texts (a DPO's own purposes are shown as they wrote
them) and every label, heading and sentence of the document, by language. A translator
edits this module alone; :mod:`consent.customer_copy` puts the words on the page.
"""

from __future__ import annotations

from typing import Any

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
