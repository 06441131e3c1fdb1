"""Purposes in the database: versions, notices, retirement, and what the policy decision point sees."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from piivault.db import utcnow
from privacy import catalogue
from privacy import purposes as p
from privacy import tables as t
from privacy.errors import ConsentConflict, InvalidConsent, NotAllowed
from tests.consent.conftest import ADMIN, DPO, SERVICE, call

SPEC = {
    "code": "insurance_offers",
    "name_zh": "保险产品推荐",
    "name_en": "Insurance offers",
    "legal_basis": "consent",
    "field_types": ["name", "cn_mobile"],
    "retention": "until the consent is withdrawn",
    "notice": {"text_zh": "我们会向您推荐合作保险公司的产品。", "text_en": "We will offer insurance."},
}


def test_create_update_and_history(container, svc):
    created = call(container, "create_purpose", DPO, SPEC)
    assert (created.version, created.consent_required, created.notice_version) == (1, True, 1)
    assert svc.catalogue.get("insurance_offers").covers("cn_mobile")
    same, _ = created, None
    again = call(
        container,
        "update_purpose",
        ADMIN,
        "insurance_offers",
        {"retention": "until the consent is withdrawn"},
    )
    assert again.version == same.version  # nothing changed: no new version
    changed = call(container, "update_purpose", DPO, "insurance_offers", {"field_types": ["name"]})
    assert changed.version == 2 and changed.field_types == ("name",)
    assert not svc.catalogue.get("insurance_offers").covers("cn_mobile")  # seen at once in this process
    history = call(container, "purpose_history", "insurance_offers")
    assert [(h["version"], h["change"]) for h in history] == [(1, "created"), (2, "updated")]
    assert history[0]["definition"]["field_types"] == ["cn_mobile", "name"]


def test_the_rules_of_a_purpose(container, svc):
    with pytest.raises(ConsentConflict):
        call(container, "create_purpose", DPO, {**SPEC, "code": "marketing"})
    with pytest.raises(NotAllowed):
        call(container, "create_purpose", SERVICE, SPEC)
    for bad in (
        {"legal_basis": "consent", "consent_required": False},
        {"separate_consent_required": True},  # without grounds
        {"separate_grounds": ["sensitive_pi"]},  # without separate_consent_required
        {"field_types": ["no_such_type"]},
        {"retention_anchor": "relationship_end"},  # without years
        {"hold_roles": ["analyst"]},
        {"code": "Bad Code"},
    ):
        with pytest.raises(InvalidConsent):
            call(container, "create_purpose", DPO, {**SPEC, **bad})


def test_retired_purposes_are_unknown_to_the_decision_point(container, svc):
    call(container, "update_purpose", DPO, "marketing", {"retired": True})
    assert svc.catalogue.get("marketing") is None and "marketing" not in svc.catalogue
    with pytest.raises(InvalidConsent, match="retired"):
        call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    # Making it active again widens access: four eyes (purpose.widen), another DPO approves.
    from access import model as am
    from access.errors import ApprovalRequired

    with pytest.raises(ApprovalRequired):
        call(container, "update_purpose", DPO, "marketing", {"retired": False})
    assert svc.catalogue.get("marketing") is None
    dai = am.Acting("dai", "dpo", "user:dai")
    asked = call(container, "change_purpose", DPO, "marketing", {"retired": False}, acting=dai)
    assert asked.approval.state == am.PENDING and asked.widens == ("retired",)
    container.access.approve(am.Acting("don", "dpo", "user:don"), asked.approval.id)
    assert svc.catalogue.get("marketing") is not None


def test_history_tables_refuse_updates(container, svc):
    call(container, "list_purposes")
    for table, change in ((t.purpose_versions, {"changed_by": "x"}), (t.notices, {"text_zh": "x"})):
        with container.engine.connect() as conn, pytest.raises(exc.DatabaseError):
            conn.execute(table.update().values(**change))
        with container.engine.connect() as conn, pytest.raises(exc.DatabaseError):
            conn.execute(table.delete())


def test_seeding_twice_at_once_seeds_once(container):
    from privacy import DEFAULT_PURPOSES, PurposeCatalogue

    counts, errors = [], []
    start = threading.Barrier(2)

    def seed():
        try:
            start.wait()
            with container.session_factory() as s:
                counts.append(catalogue.seed(s, PurposeCatalogue(DEFAULT_PURPOSES), utcnow()))
                s.commit()
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=seed) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and sum(counts) == len(DEFAULT_PURPOSES)
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(t.purposes)) == len(DEFAULT_PURPOSES)
        assert s.scalar(sa.select(sa.func.count()).select_from(t.notices)) == len(DEFAULT_PURPOSES)


def test_the_configuration_adds_purposes_but_never_overrides_the_dpo(container, svc):
    import dataclasses

    from privacy import DEFAULT_PURPOSES, PurposeCatalogue

    call(container, "update_purpose", DPO, "marketing", {"description": "the DPO's wording"})
    changed = [dataclasses.replace(x, description="config wording") for x in DEFAULT_PURPOSES]
    extra = dataclasses.replace(DEFAULT_PURPOSES[0], code="loan_servicing")
    with container.session_factory() as s:
        assert catalogue.seed(s, PurposeCatalogue([*changed, extra]), utcnow()) == 1
        s.commit()
        assert p.require(s, "marketing").description == "the DPO's wording"
        assert p.require(s, "loan_servicing").version == 1
