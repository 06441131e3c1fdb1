"""Production refuses to start half-configured: `piivault check` and `piivault serve` name
every missing setting, one line each, before anything is served."""

from __future__ import annotations

import secrets

import pytest

from piivault.errors import ConfigurationError
from piivault.settings import Settings
from tests.piivault.test_cli import _env, _run

CONTROLLER = {
    "PIIVAULT_CONTROLLER_NAME": "Example Bank Co., Ltd.",
    "PIIVAULT_CONTROLLER_CONTACT": "Data Protection Officer",
    "PIIVAULT_CONTROLLER_ADDRESS": "1 Example Road, Shanghai",
    "PIIVAULT_CONTROLLER_EMAIL": "dpo@bank.example",
    "PIIVAULT_CONTROLLER_PHONE": "+86 21 0000 0000",
    "PIIVAULT_PRIVACY_POLICY_URL": "https://bank.example/privacy",
}
REQUIRED = (
    "PIIVAULT_DATABASE_URL",
    "PIIVAULT_VAULT_ADDR",
    "PIIVAULT_VAULT_TOKEN",
    "PIIVAULT_ERASURE_LEDGER",
    "PIIVAULT_EXTRACT_DIR",
    *CONTROLLER,
)


@pytest.fixture
def production_env(bao, database_url, tmp_path):
    return _env(
        PIIVAULT_ENV="production",
        PIIVAULT_DATABASE_URL=database_url,
        PIIVAULT_VAULT_ADDR=bao.addr,
        PIIVAULT_VAULT_TOKEN=bao.token,
        PIIVAULT_TRANSIT_KEY="prod-" + secrets.token_hex(4),
        PIIVAULT_ERASURE_LEDGER=str(tmp_path / "ledger.jsonl"),
        PIIVAULT_EXTRACT_DIR=str(tmp_path / "extracts"),
        **CONTROLLER,
    )


def test_nothing_set_lists_every_required_setting_once():
    problems = Settings.from_env({"PIIVAULT_ENV": "production"}).production_problems()
    for name in REQUIRED:
        assert sum(line.startswith(f"set {name} ") for line in problems) == 1, name
    assert all(line.startswith("set PIIVAULT_") for line in problems)
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PIIVAULT_ENV": "production"}).require_production()
    assert raised.value.message.splitlines() == problems


def test_approle_needs_its_own_credentials_and_local_keys_are_named():
    approle = Settings.from_env({"PIIVAULT_ENV": "production", "PIIVAULT_VAULT_AUTH": "approle"})
    text = "\n".join(approle.production_problems())
    assert "set PIIVAULT_VAULT_ROLE_ID " in text and "set PIIVAULT_VAULT_SECRET_ID " in text
    assert "PIIVAULT_VAULT_TOKEN" not in text
    local = Settings.from_env({"PIIVAULT_ENV": "production", "PIIVAULT_KEY_PROVIDER": "local"})
    assert "set PIIVAULT_KEY_PROVIDER=transit" in "\n".join(local.production_problems())


def test_development_and_test_need_none_of_them():
    assert Settings.from_env({"PIIVAULT_ENV": "development"}).production_problems() == []
    assert Settings.from_env({"PIIVAULT_ENV": "test"}).production_problems() == []


def test_the_placeholder_controller_is_refused(production_env):
    env = production_env | {"PIIVAULT_CONTROLLER_NAME": "piivault controller"}
    problems = Settings.from_env(env).production_problems()
    assert len(problems) == 1 and problems[0].startswith("set PIIVAULT_CONTROLLER_NAME ")


def test_check_and_serve_refuse_production_without_an_extract_dir(production_env):
    """Attack (the issue's): production served with PIIVAULT_EXTRACT_DIR unset, every extract then failed."""
    env = dict(production_env)
    del env["PIIVAULT_EXTRACT_DIR"]
    for args in (["check"], ["serve", "--port", "1"]):
        done = _run(args, env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.strip().splitlines() == [
            "piivault: set PIIVAULT_EXTRACT_DIR (directory for extract files (default ./var/extracts "
            "outside production))"
        ]


def test_check_lists_every_missing_setting_one_line_each(production_env):
    env = {k: v for k, v in production_env.items() if k not in ("PIIVAULT_ERASURE_LEDGER", *CONTROLLER)}
    done = _run(["check"], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    missing = ["PIIVAULT_ERASURE_LEDGER", *CONTROLLER]
    assert len(lines) == len(missing)  # the controller's name: the placeholder, refused
    for name in missing:
        assert sum(line.startswith(f"piivault: set {name} ") for line in lines) == 1, name
    assert "Traceback" not in done.stderr


def test_a_fully_configured_production_passes_the_check(production_env):
    assert _run(["db", "upgrade"], production_env).returncode == 0
    assert _run(["keys", "bootstrap"], production_env).returncode == 0
    done = _run(["check"], production_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")


@pytest.mark.parametrize(
    ("env", "given", "inline"),
    [
        ("production", None, False),  # deploy/ runs `piivault audit sequence --loop` beside the API
        ("development", None, True),  # `piivault dev`: one process, nothing else sequences
        ("test", None, True),
        ("production", "true", True),
        ("development", "false", False),
    ],
)
def test_audit_events_are_sequenced_by_the_loop_in_production_and_inline_elsewhere(env, given, inline):
    environ = {"PIIVAULT_ENV": env}
    if given is not None:
        environ["PIIVAULT_AUDIT_SEQUENCE_INLINE"] = given
    assert Settings.from_env(environ).audit_sequence_inline is inline


def test_check_warns_when_queued_audit_events_wait_past_the_merge_delay(production_env):
    """Production requests only queue their events (issue 22): a queue nobody sequences is said
    by `piivault check`, as a warning (a check may run before the sequencer starts)."""
    import datetime as dt

    import sqlalchemy as sa

    from audit import tables as audit_tables

    assert _run(["db", "upgrade"], production_env).returncode == 0
    assert _run(["keys", "bootstrap"], production_env).returncode == 0
    engine = sa.create_engine(production_env["PIIVAULT_DATABASE_URL"])
    try:
        with engine.begin() as conn:  # bootstrap's own events, sequenced: the queue is empty
            conn.execute(audit_tables.queue.delete())
        quiet = _run(["check"], production_env)
        assert quiet.returncode == 0, quiet.stderr
        assert "sequence --loop" not in quiet.stderr

        an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        with engine.begin() as conn:  # an event no sequencer took
            conn.execute(audit_tables.queue.insert().values(enqueued_at=an_hour_ago, payload="{}", mac=None))
    finally:
        engine.dispose()
    done = _run(["check"], production_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")
    assert "is `piivault audit sequence --loop` running?" in done.stderr
