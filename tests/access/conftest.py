"""Fixtures for separation of duties: the access service on a real container, a movable clock, persons."""

from __future__ import annotations

import pytest

from access import AccessService, Acting, Scope
from piivault.container import Container
from tests.consent.conftest import Clock

# Persons acting in roles, through credentials (the audit actor).
ADMIN_ANN = Acting("ann", "admin", "client:ann00001")
DPO_DAI = Acting("dai", "dpo", "client:dai00001")
DPO_DAI_SECOND_KEY = Acting("dai", "dpo", "client:dai00002")
DPO_DON = Acting("don", "dpo", "user:don")
DPO_DEE = Acting("dee", "dpo", "user:dee")
AUDITOR_AL = Acting("al", "auditor", "user:al")
NOBODY = Acting(None, "dpo", "client:anon0001")

SUBJECT = "subj_0123456789abcdef"
REVEAL = Scope(subjects=(SUBJECT,), purpose="aml_kyc", field_types=("name",), minutes=30)


@pytest.fixture
def clock(container: Container) -> Clock:
    c = Clock()
    container.access.clock = c
    return c


@pytest.fixture
def access(container: Container, clock: Clock) -> AccessService:
    return container.access
