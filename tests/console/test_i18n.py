"""Chinese by default, English on request, from every page; times in the user's time zone."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from api.console import i18n
from tests.console.conftest import audit_payloads, csrf_of

TEMPLATES = Path(i18n.__file__).parent / "templates"
PYTHON = [p for p in Path(i18n.__file__).parent.rglob("*.py") if p.name != "i18n.py"]


def test_every_message_exists_in_both_languages():
    assert set(i18n.ZH) == set(i18n.EN)
    for key in i18n.ZH:
        assert i18n.ZH[key].strip() and i18n.EN[key].strip(), key
        # The same parameters in both, so neither language can fail to format.
        assert set(re.findall(r"{(\w+)}", i18n.ZH[key])) == set(re.findall(r"{(\w+)}", i18n.EN[key])), key


def test_every_key_the_code_names_is_in_the_catalogue():
    prefixes = {key.split(".")[0] for key in i18n.ZH}
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_.]+)'", template.read_text()))
    for module in PYTHON:
        used |= {
            key
            for key in re.findall(r'"([a-z_]+\.[a-z_.]+)"', module.read_text())
            if key.split(".")[0] in prefixes
        }
    # Keys completed at run time (a prefix and a code) are checked in the next test.
    used = {k for k in used if not k.endswith((".", "_", ".html"))}
    assert len(used) > 100, "the scan found too few keys"
    assert sorted(used - set(i18n.ZH)) == []


def test_keys_built_from_codes_exist():
    from consent import dsr
    from consent.subject_state import LIFT_REASONS
    from privacy import holds
    from privacy.model import CHANNELS, LEGAL_BASES, SEPARATE_GROUNDS

    prefixes = {
        "dsr.type.": dsr.TYPES,
        "dsr.method.": dsr.IDENTITY_METHODS,
        "dsr.reject.": dsr.REJECT_REASONS,
        "hold.reason.": (*holds.LEGAL_REASONS, "retention_rule"),
        "hold.release.": holds.RELEASE_REASONS,
        "lift.reason.": LIFT_REASONS,
        "channel.": CHANNELS,
        "legal_basis.": tuple(LEGAL_BASES),
        "separate_ground.": tuple(SEPARATE_GROUNDS),
        "state.": (
            *dsr.OPEN,
            dsr.COMPLETED,
            dsr.REJECTED,
            "active",
            "restricted",
            "erased",
            "granted",
            "expired",
            "withdrawn",
            "reconsent_required",
        ),
        "role.": ("dpo", "auditor", "admin"),
    }
    missing = [p + c for p, codes in prefixes.items() for c in codes if p + c not in i18n.ZH]
    assert missing == []


def test_chinese_by_default_and_switchable_before_signing_in(app):
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "登录" in page
    response = client.post(
        "/console/lang", data={"csrf_token": csrf_of(page), "lang": "en", "next": "/console/login"}
    )
    assert response.status_code == 303
    english = client.get("/console/login").get_data(as_text=True)
    assert '<html lang="en">' in english and "Sign in" in english


@pytest.mark.parametrize(
    "path", ["/console/", "/console/dsr", "/console/purposes", "/console/audit", "/console/me"]
)
def test_every_page_has_the_switch_and_switching_sticks_to_the_user(app, container, signed_in, path):
    dpo = signed_in("dpo")
    html = dpo.get(path).get_data(as_text=True)
    assert 'id="lang-switch"' in html and 'lang="zh-CN"' in html
    response = dpo.post("/console/lang", {"lang": "en", "next": path})
    assert response.status_code == 303 and response.headers["Location"] == path
    assert '<html lang="en">' in dpo.get(path).get_data(as_text=True)
    # A preference of the user: a new session (another browser) is in English too.
    from tests.console.conftest import Console

    other = Console(app.test_client(), "dpo")
    assert '<html lang="en">' in other.get("/console/").get_data(as_text=True)
    [event] = [e for e in audit_payloads(container) if e["action"] == "console.preferences"]
    assert event["actor"] == "user:dpo" and event["details"] == {"language": "en"}


def test_times_are_shown_in_the_users_time_zone(container, console, signed_in, clock):
    clock.now = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    dpo = signed_in("dpo")
    me = dpo.get("/console/me").get_data(as_text=True)
    assert "2026-03-02 07:30" in me  # last sign-in, Asia/Shanghai (UTC+8)
    console.users.set_preferences("dpo", time_zone="Europe/London")
    assert "2026-03-01 23:30" in dpo.get("/console/me").get_data(as_text=True)
    assert dpo.post("/console/me", {"language": "zh", "time_zone": "America/New_York"}).status_code == 303
    assert "2026-03-01 18:30" in dpo.get("/console/me").get_data(as_text=True)
