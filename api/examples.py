"""Request body examples for the OpenAPI document: made-up but realistic values, not ``"string"``.

Every value here is invented (the resident ID, card and credit code are published test
numbers with valid check characters). The schemathesis test sends each example with every
role's key, so an example the server would reject fails the suite.
"""

from __future__ import annotations

from typing import Any

SUBJECT = "cust-20240117-0042"

REQUEST_EXAMPLES: dict[tuple[str, str], Any] = {
    ("/v1/clients", "post"): {
        "name": "crm-prod",
        "role": "service",
        "purposes": ["account_service", "aml_kyc"],
        "field_types": ["cn_mobile", "cn_resident_id", "name"],
        "expires_in_days": 365,
    },
    ("/v1/tokenize", "post"): {
        "items": [
            {"field_type": "cn_resident_id", "value": "11010519491231002X", "subject_id": SUBJECT},
            {
                "field_type": "cn_mobile",
                "value": "138 0013 8000",
                "subject_id": SUBJECT,
                "kind": "deterministic",
            },
            {"field_type": "name", "value": "张三", "subject_id": SUBJECT},
        ]
    },
    ("/v1/detokenize", "post"): {
        "purpose": "aml_kyc",
        "tokens": ["tok_7q3vzk2m4hx5nd6wby8cj9tre", "tok_k4m2q7x9vz3bn5hd8wc6jtyra"],
        "reveal": "masked",
    },
    ("/v1/tokens/lookup", "post"): {"field_type": "cn_mobile", "value": "13800138000", "purpose": "aml_kyc"},
    ("/v1/subjects", "post"): {},
    ("/v1/purposes", "post"): {
        "code": "credit_limit_review",
        "name_zh": "信用额度复审",
        "name_en": "Credit limit review",
        "legal_basis": "contract",
        "field_types": ["name", "cn_mobile"],
        "retention": "3 years after the review",
        "notice": {
            "text_zh": "我们将使用您的姓名和手机号复审信用额度。",
            "text_en": "We use your name and mobile.",
        },
    },
    ("/v1/purposes/{code}", "patch"): {"name_en": "Credit limit review (annual)"},
    ("/v1/purposes/{code}/notices", "post"): {
        "text_zh": "我们将在营销活动中使用您的手机号。",
        "text_en": "We use your mobile number for marketing campaigns.",
        "material": False,
    },
    ("/v1/subjects/{subject_id}/consents", "post"): {
        "purpose": "marketing",
        "channel": "app",
        "expires_at": "2027-01-31T16:00:00Z",
        "evidence": "app consent screen v3, session 5f2a",
    },
    ("/v1/subjects/{subject_id}/consents/{purpose}/renew", "post"): {
        "channel": "app",
        "expires_at": "2028-01-31T16:00:00Z",
    },
    ("/v1/subjects/{subject_id}/consents/{purpose}/withdraw", "post"): {"channel": "phone"},
    ("/v1/consents/import", "post"): [
        {
            "subject_id": SUBJECT,
            "purpose": "marketing",
            "action": "grant",
            "channel": "web",
            "effective_at": "2023-05-04T09:30:00+08:00",
            "notice_version": 1,
            "evidence": "legacy CRM consent flag, export 2024-01",
        }
    ],
    ("/v1/dsr", "post"): {
        "subject_id": SUBJECT,
        "type": "access",
        "channel": "app",
        "note": "asked by the customer in the app, ticket 2024-117",
    },
    ("/v1/dsr/{dsr_id}/verify-identity", "post"): {
        "method": "in_person",
        "note": "ID card checked at branch",
    },
    ("/v1/dsr/{dsr_id}/approve", "post"): {"note": "identity verified, no hold applies"},
    ("/v1/dsr/{dsr_id}/complete", "post"): {"note": "package sent by registered mail"},
    ("/v1/dsr/{dsr_id}/reject", "post"): {"reason_code": "identity_not_verified"},
    ("/v1/subjects/{subject_id}/open", "post"): {},
    ("/v1/subjects/{subject_id}/close", "post"): {},
    ("/v1/subjects/{subject_id}/lift-restriction", "post"): {"reason_code": "request_resolved"},
    ("/v1/subjects/{subject_id}/holds", "post"): {
        "reason_code": "litigation",
        "ends_at": "2027-06-30T16:00:00Z",
        "note": "court case 2024-京0105-民初-123",
    },
    ("/v1/subjects/{subject_id}/holds/{hold_id}/release", "post"): {"reason_code": "ended"},
    ("/v1/anonymize/text", "post"): {
        "text": "客户张三来电，手机号13800138000，要求更改地址。",
        "language": "zh",
        "operator": "mask",
    },
    ("/v1/anonymize/texts", "post"): {
        "texts": [
            "客户张三来电，手机号13800138000，要求更改地址。",
            "Spoke to Ms Turner about her card ending 4242; call back on 020 7946 0018.",
        ],
        "language": "auto",
        "operator": "mask",
    },
    ("/v1/anonymize/scan", "post"): {
        "columns": ["客户编号", "姓名", "手机号", "备注"],
        "rows": [["C10001", "张三", "13800138000", "贵宾客户"], ["C10002", "李四", "13900139000", None]],
    },
    ("/v1/attributes", "post"): {
        "items": [
            {"subject_id": SUBJECT, "attributes": {"income_band": "B", "risk_score": 0.42, "vip": False}}
        ]
    },
    ("/v1/extracts/{extract_id}/reidentify", "post"): {
        "column": "customer",
        "pseudonym": "p_3kq9x2vz7m",
        "reason": "score 0.97 flagged for manual fraud review, case 2024-117",
    },
    ("/v1/approvals", "post"): {
        "action": "reveal",
        "scope": {"subjects": [SUBJECT], "purpose": "aml_kyc", "field_types": ["cn_mobile"], "minutes": 30},
        "reason_code": "investigation",
        "reason_text": "suspicious transfers flagged by the AML engine, case 2024-117",
    },
    ("/v1/break-glass", "post"): {
        "action": "reveal",
        "scope": {"subjects": [SUBJECT], "purpose": "aml_kyc", "reveal": "masked", "minutes": 15},
        "reason_code": "incident",
        "reason_text": "fraud in progress reported by the call centre, incident 2024-033",
    },
    ("/v1/break-glass/{grant_id}/review", "post"): {
        "note": "access matched incident 2024-033; no further action",
    },
    ("/v1/audit/checkpoint", "post"): {},
    ("/v1/audit/verify", "post"): {},
}
