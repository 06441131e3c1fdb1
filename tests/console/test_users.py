"""Console users: argon2id hashes, password rules, and ``piivault users ...``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from identity.users import passwords
from identity.users import tables as ct
from identity.users.errors import InvalidInput, UserExists
from piivault.cli import main
from tests.api.conftest import settings_env
from tests.console.conftest import PASSWORD, Console, audit_payloads, sign_in


def _stored_hash(container, username: str) -> str:
    with container.session_factory() as s:
        return s.scalar(sa.select(ct.users.c.password_hash).where(ct.users.c.username == username))


def test_passwords_are_stored_as_argon2id_only(container, console):
    console.users.create(username="alice", role="dpo", password=PASSWORD, actor="test")
    stored = _stored_hash(container, "alice")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(stored, "x" * 5000)  # over-long: refused before hashing
    assert not passwords.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize(
    ("password", "key"),
    [
        ("a" * 11, "error.password_short"),
        (" " * 12, "error.password_short"),
        ("b" * 1025, "error.password_long"),
        ("Alice.Smith ", "error.password_username"),
    ],
)
def test_password_rules(console, password, key):
    with pytest.raises(InvalidInput) as caught:
        console.users.create(username="alice.smith", role="dpo", password=password, actor="test")
    assert caught.value.key == key
    assert console.users.list_users() == []


def test_twelve_and_1024_characters_are_accepted(console):
    console.users.create(username="short", role="dpo", password="a" * 12, actor="test")
    console.users.create(username="long", role="dpo", password="b" * 1024, actor="test")
    assert [u.username for u in console.users.list_users()] == ["long", "short"]


@pytest.mark.parametrize("username", ["a", "1alice", "alice smith", "ali$e", "x" * 65, ""])
def test_username_rules(console, username):
    with pytest.raises(InvalidInput):
        console.users.create(username=username, role="dpo", password=PASSWORD, actor="test")


def test_usernames_are_unique_and_lowercase(console):
    console.users.create(username="Alice", role="dpo", password=PASSWORD, actor="test")
    with pytest.raises(UserExists):
        console.users.create(username="alice", role="auditor", password=PASSWORD, actor="test")
    with pytest.raises(InvalidInput):
        console.users.create(username="bob", role="service", password=PASSWORD, actor="test")


def test_reset_password_ends_sessions_and_the_old_password(container, app, console, make_user):
    make_user("alice", "dpo")
    session = Console(app.test_client(), "alice")
    console.users.reset_password("alice", "a brand new password", actor="user:admin")
    assert session.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "alice", PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "alice", "a brand new password").status_code == 303
    [event] = [e for e in audit_payloads(container) if e["action"] == "console.password_reset"]
    assert event["actor"] == "user:admin" and event["details"] == {"username": "alice", "sessions_ended": 1}


def test_admin_manages_users_in_the_console(container, app, signed_in):
    admin = signed_in("admin")
    created = admin.post(
        "/console/users",
        {"username": "carol", "role": "auditor", "password": PASSWORD, "confirm": PASSWORD, "language": "en"},
    )
    assert created.status_code == 303 and "ok=user_created" in created.headers["Location"]
    carol = Console(app.test_client(), "carol")
    assert '<html lang="en">' in carol.get("/console/").get_data(as_text=True)
    assert admin.post("/console/users/carol/disable").status_code == 303
    assert carol.get("/console/").status_code == 302
    assert admin.post("/console/users/admin/disable").status_code == 409  # not yourself
    assert admin.post("/console/users/carol/enable").status_code == 303
    reset = admin.post(
        "/console/users/carol/password", {"password": "another password!", "confirm": "another password!"}
    )
    assert reset.status_code == 303
    by_admin = [
        (e["action"], e["details"]["username"])
        for e in audit_payloads(container)
        if e["actor"] == "user:admin" and e["action"].startswith(("console.user", "console.password"))
    ]
    assert by_admin == [
        ("console.user_create", "carol"),
        ("console.user_disable", "carol"),
        ("console.user_enable", "carol"),
        ("console.password_reset", "carol"),
    ]


def test_a_user_changes_their_own_password(app, signed_in):
    dpo = signed_in("dpo")
    response = dpo.post(
        "/console/me/password",
        {"current": PASSWORD, "new": "my new passphrase", "confirm": "my new passphrase"},
    )
    assert response.status_code == 303 and "ok=password_changed" in response.headers["Location"]
    assert dpo.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "dpo", "my new passphrase").status_code == 303


def test_cli_create_list_disable_reset(container, app):
    env = settings_env(container)
    runner = CliRunner()
    created = runner.invoke(
        main,
        ["users", "create", "--username", "wang", "--role", "dpo", "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    assert "created console user wang (role dpo)" in created.output and PASSWORD not in created.output
    assert sign_in(app.test_client(), "wang").status_code == 303

    listed = runner.invoke(main, ["users", "list"], env=env)
    line = next(line for line in listed.output.splitlines() if line.startswith("wang"))
    assert "dpo" in line and "active" in line and "Asia/Shanghai" in line and "$argon2" not in listed.output

    prompted = runner.invoke(
        main,
        ["users", "create", "--username", "li", "--role", "auditor"],
        env=env,
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # the prompt is hidden

    short = runner.invoke(
        main,
        ["users", "create", "--username", "zhao", "--role", "dpo", "--password-stdin"],
        env=env,
        input="short\n",
    )
    assert short.exit_code == 2 and "at least 12 characters" in short.output

    assert runner.invoke(main, ["users", "disable", "wang"], env=env).exit_code == 0
    assert "disabled" in runner.invoke(main, ["users", "list"], env=env).output
    assert sign_in(app.test_client(), "wang").status_code == 401

    reset = runner.invoke(
        main, ["users", "reset-password", "li", "--password-stdin"], env=env, input="li's new password\n"
    )
    assert reset.exit_code == 0, reset.output
    assert sign_in(app.test_client(), "li", "li's new password").status_code == 303
    unknown = runner.invoke(main, ["users", "disable", "nobody"], env=env)
    assert unknown.exit_code == 2 and "no such console user" in unknown.output
    actors = {e["actor"] for e in audit_payloads(container) if e["action"].startswith("console.user")}
    assert all(a.startswith("cli:") for a in actors)
