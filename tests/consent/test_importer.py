"""Bulk import: every row or none, per-row errors without values, effect order, the CLI."""

from __future__ import annotations

import getpass
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import tables as at
from piivault.cli import main
from privacy.errors import ImportRejected, InvalidConsent
from tests.api.conftest import settings_env
from tests.consent.conftest import ADMIN, DPO, SERVICE, call

HEADER = "subject_id,purpose,action,channel,effective_at,expires_at,notice_version,separate,evidence\n"


def _import(container, text, fmt="csv"):
    return call(container, "import_consents", ADMIN, text.encode("utf-8"), fmt)


def test_rows_are_checked_first_and_errors_name_row_column_and_rule(container, svc):
    text = HEADER + (
        "cust-0001,marketing,grant,app,2024-01-01T00:00:00+08:00,,,,\n"
        "13812345678,marketing,grant,app,2024-01-01T00:00:00+08:00,,,,\n"
        "cust-0002,marketing,grant,app,2024-01-01T00:00:00,,,,\n"
        "cust-0003,third_party_sharing,grant,app,2024-01-01T00:00:00Z,,,false,\n"
        "cust-0004,marketing,grant,app,2024-01-01T00:00:00Z,,,,my form says yes\n"
    )
    with pytest.raises(ImportRejected) as caught:
        _import(container, text)
    assert [(e["row"], e["column"]) for e in caught.value.row_errors] == [
        (2, "subject_id"),
        (3, "effective_at"),
        (4, "separate"),
        (5, "evidence"),
    ]
    assert "my form says yes" not in json.dumps(caught.value.row_errors)
    assert "13812345678" not in json.dumps(caught.value.row_errors)
    assert call(container, "consents_of", DPO, "cust-0001")["history"] == []


def test_history_follows_effect_time_not_file_order(container, svc):
    text = HEADER + (
        "cust-0001,marketing,withdraw,app,2024-06-01T00:00:00Z,,,,\n"
        "cust-0001,marketing,grant,branch,2024-01-01T00:00:00Z,,,,sha256:" + "ab" * 32 + "\n"
    )
    summary = _import(container, text)
    assert (summary["rows"], summary["grants"], summary["withdrawals"]) == (2, 1, 1)
    found = call(container, "consents_of", DPO, "cust-0001")
    assert [r["action"] for r in found["history"]] == ["grant", "withdraw"]
    assert found["consents"][0]["state"] == "withdrawn"
    # A grant made through the API today comes after both.
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    assert call(container, "consents_of", DPO, "cust-0001")["consents"][0]["state"] == "granted"


def test_json_import_and_malformed_documents(container, svc):
    rows = [
        {
            "subject_id": "cust-0001",
            "purpose": "risk_scoring",
            "channel": "web",
            "effective_at": "2024-01-01T00:00:00Z",
            "separate": True,
            "expires_at": "2030-01-01T00:00:00Z",
        }
    ]
    assert _import(container, json.dumps({"rows": rows}), "json")["rows"] == 1
    state = call(container, "consents_of", DPO, "cust-0001")["consents"][0]
    assert state["separate"] is True and state["expires_at"].year == 2030
    for bad, fmt in (("{", "json"), ('{"x": 1}', "json"), ("who,what\n1,2\n", "csv"), ("", "csv")):
        with pytest.raises(InvalidConsent):
            _import(container, bad, fmt)


def test_the_import_command(container, tmp_path):
    good = tmp_path / "consents.csv"
    good.write_text(HEADER + "cust-0001,marketing,grant,app,2024-01-01T00:00:00Z,,,,\n", encoding="utf-8")
    env = settings_env(container)
    result = CliRunner().invoke(main, ["consent", "import", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "cust-0001,marketing,grant,fax,2024-01-01T00:00:00Z,,,,\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["consent", "import", str(bad)], env=env)
    assert result.exit_code == 1 and "row 1: channel" in result.output


def test_the_import_command_without_a_user_name(container, tmp_path, monkeypatch):
    """A container without a passwd entry for its user: the import is recorded as by ``cli``
    (piivault.clikit.cli_actor, as every other command), not refused with a traceback."""

    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 1000")

    monkeypatch.setattr(getpass, "getuser", no_user)
    good = tmp_path / "consents.csv"
    good.write_text(HEADER + "cust-0001,marketing,grant,app,2024-01-01T00:00:00Z,,,,\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["consent", "import", str(good)], env=settings_env(container))
    assert result.exit_code == 0, result.output
    with container.session_factory() as s:
        actors = set(s.scalars(sa.select(at.events.c.actor)))
        actors |= {json.loads(p).get("actor") for p in s.scalars(sa.select(at.queue.c.payload))}
    assert "cli" in actors, actors
