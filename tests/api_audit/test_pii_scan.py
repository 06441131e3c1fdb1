"""Issue 3's scan: after the scenarios, no audit row and no log record holds a PII value the tests used.

``test_scenarios_leave_no_pii_in_the_audit_tables_or_logs`` drives every path
that handles values through the HTTP API on one database, then scans every
column of every audit table (queue, log, nodes, checkpoints, head) and the
captured log records for each value and its other spellings (tests/pii.py).
``test_the_scan_finds_a_planted_value`` shows the scan can fail. The same scan
runs after every test that uses the ``container`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import logging

import pytest

from access.model import DSR_ERASURE, DSR_PACKAGE
from audit.events import AuditEvent
from fieldtypes.checksums import GB11643, LUHN
from tests import pii
from tests.api_audit.conftest import logged
from tests.approved import four_eyes
from tests.conftest import make_container

OUR_LOGGERS = ("api", "audit", "tokenization", "consent", "anonymize", "vault", "piivault")

# The scenario's customer, as a front office would type it, and what the vault stores.
MOBILE_TYPED, MOBILE = "+86 139-8765-4321", "13987654321"
ID_NUMBER = GB11643.complete("44030619851224300")  # check digit X
CARD = LUHN.complete("621700000012345678")
CARD_TYPED = " ".join(CARD[i : i + 4] for i in range(0, len(CARD), 4))
NAME, EMAIL, ADDRESS = "李雷", "li.lei@example.cn", "北京市海淀区中关村大街1号"
NEW_MOBILE = "13600001111"  # the correction
OTHER_EMAIL = "han.meimei@example.cn"  # the erased customer's
NOTE_MOBILE, NOTE_NAME = "13712345678", "王芳"  # in a CRM note
NOTE = f"客户{NOTE_NAME}来电，身份证{ID_NUMBER}，手机{NOTE_MOBILE}。"
INVALID = ("1398765432", ID_NUMBER[:-1] + "1", CARD[:-1] + str((int(CARD[-1]) + 1) % 10), "li.lei-at-example")
SUBJECT, OTHER = "cust-scan-0001", "cust-scan-0002"
pii.register(
    MOBILE_TYPED,
    MOBILE,
    ID_NUMBER,
    CARD,
    NAME,
    EMAIL,
    ADDRESS,
    NEW_MOBILE,
    OTHER_EMAIL,
    NOTE_MOBILE,
    NOTE_NAME,
)
pii.register(*INVALID)

assert ID_NUMBER.endswith("X")


def post(client, url, body, headers, status=200):
    resp = client.post(url, json=body, headers=headers)
    assert resp.status_code == status, (url, resp.json)
    return resp.json


def work(client, keys, dsr_id, **complete):
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {})):
        post(client, f"/v1/dsr/{dsr_id}/{step}", body, keys["dpo"])
    return post(client, f"/v1/dsr/{dsr_id}/complete", complete, keys["dpo"])


def dsr(client, keys, subject_id, type_):
    body = {"subject_id": subject_id, "type": type_, "channel": "app"}
    return post(client, "/v1/dsr", body, keys["service"], 201)["dsr_id"]


def scenarios(client, keys, container) -> None:
    """Tokenize, detokenize (allowed, denied, masked), lookup, consent, DSRs, free text, audit reads."""
    svc, dpo = keys["service"], keys["dpo"]
    items = [
        {"field_type": "cn_mobile", "value": MOBILE_TYPED, "subject_id": SUBJECT, "kind": "deterministic"},
        {"field_type": "cn_resident_id", "value": ID_NUMBER.lower(), "subject_id": SUBJECT},
        {"field_type": "bank_card", "value": CARD_TYPED, "subject_id": SUBJECT, "kind": "format_preserving"},
        {"field_type": "name", "value": NAME, "subject_id": SUBJECT},
        {"field_type": "email", "value": EMAIL.upper(), "subject_id": SUBJECT},
        {"field_type": "address", "value": ADDRESS, "subject_id": SUBJECT},
        # Per-item errors: invalid values, and a subject id that is a mobile number.
        *(
            {"field_type": t, "value": v}
            for t, v in zip(("cn_mobile", "cn_resident_id", "bank_card", "email"), INVALID, strict=True)
        ),
        {"field_type": "name", "value": NAME, "subject_id": MOBILE},
    ]
    result = post(client, "/v1/tokenize", {"items": items}, {**svc, "X-Request-Id": MOBILE})["items"]
    assert [("token" in r) for r in result] == [True] * 6 + [False] * 5
    tokens = {i["field_type"]: r["token"] for i, r in zip(items[:6], result, strict=False)}

    def detokenize(purpose, names, headers=svc, reveal="plain"):
        body = {"purpose": purpose, "tokens": [tokens[n] for n in names], "reveal": reveal}
        return post(client, "/v1/detokenize", body, headers)["items"]

    assert detokenize("aml_kyc", ["cn_mobile", "cn_resident_id"]) == [{"value": MOBILE}, {"value": ID_NUMBER}]
    assert detokenize("marketing", ["name"])[0]["error"] == "denied"  # no consent yet
    assert "masked" in detokenize("aml_kyc", ["bank_card"], headers=dpo, reveal="masked")[0]
    found = post(
        client,
        "/v1/tokens/lookup",
        {"purpose": "aml_kyc", "field_type": "cn_mobile", "value": "0086" + MOBILE},
        svc,
    )
    assert [f["token"] for f in found["tokens"]] == [tokens["cn_mobile"]]

    post(client, f"/v1/subjects/{SUBJECT}/consents", {"purpose": "marketing", "channel": "app"}, svc, 201)
    assert detokenize("marketing", ["name"]) == [{"value": NAME}]
    post(client, f"/v1/subjects/{SUBJECT}/consents/marketing/withdraw", {"channel": "app"}, svc, 201)
    assert detokenize("marketing", ["name"])[0]["reason"] == "withdrawn"

    correction = [{"token": tokens["cn_mobile"], "value": NEW_MOBILE}]
    work(client, keys, dsr(client, keys, SUBJECT, "correction"), corrections=correction)
    bad = [{"token": tokens["cn_mobile"], "value": INVALID[0]}]
    bad_dsr = dsr(client, keys, SUBJECT, "correction")
    work_steps = (("verify-identity", {"method": "in_person"}), ("approve", {}))
    for step, body in work_steps:
        post(client, f"/v1/dsr/{bad_dsr}/{step}", body, dpo)
    post(client, f"/v1/dsr/{bad_dsr}/complete", {"corrections": bad}, dpo, 422)

    access = dsr(client, keys, SUBJECT, "access")
    work(client, keys, access)
    four_eyes(container, DSR_PACKAGE, access)  # a second DPO approved the download
    package = client.get(f"/v1/dsr/{access}/package", headers=dpo)
    assert package.status_code == 200 and NAME in package.get_data(as_text=True)  # the subject's own copy

    post(
        client,
        "/v1/tokenize",
        {"items": [{"field_type": "email", "value": OTHER_EMAIL, "subject_id": OTHER}]},
        svc,
    )
    erasure = dsr(client, keys, OTHER, "erasure")
    four_eyes(container, DSR_ERASURE, erasure)  # a second DPO approved it
    assert work(client, keys, erasure)["outcome"]["action"] == "erased"

    note = post(client, "/v1/anonymize/text", {"text": NOTE, "language": "zh", "operator": "tokenize"}, svc)
    assert NOTE_MOBILE not in note["text"] and len(note["entities"]) == 3
    masked = post(client, "/v1/anonymize/text", {"text": NOTE, "operator": "mask"}, keys["analyst"])
    assert ID_NUMBER not in masked["text"]

    auditor = keys["auditor"]
    assert client.get(f"/v1/audit/events?subject={SUBJECT}", headers=auditor).status_code == 200
    assert client.get(f"/v1/audit/subjects/{SUBJECT}/export", headers=dpo).status_code == 200
    post(client, "/v1/audit/checkpoint", {}, auditor, 201)
    assert post(client, "/v1/audit/verify", {}, auditor)["ok"] is True


def test_scenarios_leave_no_pii_in_the_audit_tables_or_logs(client, keys, container, caplog):
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    scenarios(client, keys, container)

    # Not a vacuous scan: every kind of event is there, and every table was read.
    actions = {e["action"] for e in logged(container)}
    assert {
        "tokenize",
        "detokenize",
        "lookup",
        "consent.grant",
        "consent.withdraw",
        "dsr.access_package",
        "audit.read",
        "audit.verify",
        "audit.checkpoint",
    } <= actions, actions
    assert {"audit_events", "audit_queue", "audit_nodes", "audit_checkpoints", "audit_state"} <= set(
        pii.audit_tables(container.engine)
    )
    # What was typed and what was stored are both searched for, invalid values included.
    for value in (MOBILE_TYPED, MOBILE, ID_NUMBER, ID_NUMBER.lower(), CARD_TYPED, EMAIL.upper(), *INVALID):
        assert value in pii.REGISTRY, value
    assert NOTE_MOBILE in pii.REGISTRY and len(pii.REGISTRY) >= 20

    cells = pii.assert_clean(container.engine, caplog.records)
    assert cells > 300


def test_the_scan_finds_a_planted_value(settings, caplog):
    """A value written into an event's details, in another spelling, and into a log line, is found."""
    container = make_container(settings)  # not the fixture: its teardown would (rightly) fail
    try:
        assert pii.assert_clean(container.engine) > 0
        for planted in (
            "+86 139 8765 4321",
            ID_NUMBER.lower(),
            f"tel:{MOBILE}",
            CARD_TYPED.replace(" ", "-"),
        ):
            with container.uow() as uow:
                uow.record(AuditEvent(action="test.plant", actor="test", details={"note": planted}))
                uow.commit()
        findings, _ = pii.scan_database(container.engine)
        rows = {f.where for f in findings}
        # Each planted event, in whichever table it is now (queued or sequenced), and nothing else.
        assert len(rows) == 4 and all(".payload[" in w for w in rows), rows
        assert all(MOBILE not in str(f) and ID_NUMBER not in str(f) for f in findings)  # masked
        with pytest.raises(AssertionError, match="PII found where it must never be"):
            pii.assert_clean(container.engine)
        mark = pii.LOGS.mark()
        with pytest.raises(AssertionError):  # what the container fixture runs after each test
            pii.check_after_test(container.engine, mark)

        caplog.set_level(logging.INFO, logger="tokenization")
        logging.getLogger("tokenization").info("looked up %s", EMAIL.title())
        assert [f.where for f in pii.scan_logs(caplog.records)] == ["log:tokenization"]
        assert pii.scan_logs(pii.LOGS.since(mark)) and not pii.scan_logs([("x", "nothing here 12345")])
    finally:
        container.close()


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("13812345678", "+86 138-1234-5678"),
        ("13812345678", "0086 13812345678"),
        (ID_NUMBER, ID_NUMBER.lower()),
        (CARD, CARD_TYPED),
        (NAME, '"\\u674e\\u96f7"'),
        (EMAIL, EMAIL.upper()),
        (EMAIL, EMAIL.encode().hex()),
    ],
)
def test_other_spellings_are_found(value, spelled):
    registry = pii.Registry([value])
    assert pii.find(f"x {spelled} y", registry.patterns()) == [pii.mask(value)]


def test_short_and_unrelated_values_are_not_searched():
    registry = pii.Registry(["ab", "12345", "张"])
    assert registry.patterns() == {}
    assert pii.find("2026-11-23T10:00:00Z 13812345670", pii.Registry(["13812345678"]).patterns()) == []


def test_many_values_are_searched_the_same_way():
    """Past 500 forms the scan indexes them instead of one search each: same answers."""
    mobiles = [f"1390000{i:04d}" for i in range(300)]
    many = pii.Registry(mobiles).patterns()
    assert len(many) > 500
    text = f'{{"details":{{"x":"{mobiles[123][:3]} {mobiles[123][3:7]} {mobiles[123][7:]}"}},"n":13900001}}'
    few = {form: label for form, label in many.items() if label == pii.mask(mobiles[123])}
    assert pii.present(text.upper(), many) == pii.present(text.upper(), few) != {}
    assert pii.find(text, many) == [pii.mask(mobiles[123])]
    assert pii.find(text.replace(mobiles[123][7:], "9999"), many) == []
