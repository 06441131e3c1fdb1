"""Signing in and out: sessions, cookies, lock-out, and the wall between console and API."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from api.app import create_app
from identity.users import lockout
from identity.users import tables as ct
from tests.conftest import make_container
from tests.console.conftest import PASSWORD, Console, audit_payloads, csrf_of, sign_in

GENERIC = "用户名或密码不正确"


def _login_error(html: str) -> str:
    found = re.search(r'id="login-error"[^>]*>([^<]*)<', html)
    assert found, "no sign-in error on the page"
    return found.group(1)


def _sign_in_events(container) -> list[dict]:
    return [e for e in audit_payloads(container) if e["action"] == "console.sign_in"]


def test_sign_in_opens_a_server_side_session_and_is_audited(app, container, make_user):
    make_user("alice", "dpo")
    client = app.test_client()
    response = sign_in(client, "alice")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    cookie = client.get_cookie("pv_console")
    assert cookie is not None and len(cookie.value) == 43
    with container.session_factory() as s:
        stored = s.execute(sa.select(ct.sessions)).one()
    # Only the SHA-256 of the cookie's 32 random bytes is stored.
    assert stored.id_hash != cookie.value.encode()
    assert len(stored.id_hash) == 32 and stored.username == "alice"
    assert client.get("/console/").status_code == 200
    [event] = _sign_in_events(container)
    assert event["actor"] == "user:alice" and event["outcome"] == "success"


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(app, make_user, secure):
    make_user("alice", "dpo")
    client = app.test_client()
    base = "https://console.example" if secure else "http://console.example"
    response = sign_in(client, "alice", base_url=base)
    assert response.status_code == 303
    header = next(h for h in response.headers.getlist("Set-Cookie") if "pv_console=" in h)
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")}
    assert {"httponly", "path"} <= attributes
    assert "samesite=strict" in header.lower()
    if secure:
        assert header.startswith("__Host-pv_console=") and "secure" in attributes
        assert "domain" not in attributes and "Path=/" in header
    else:
        assert header.startswith("pv_console=") and "secure" not in attributes


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_cookie_is_secure_behind_a_trusted_tls_proxy_only(container, make_user, trusted_proxies):
    make_user("alice", "dpo")
    behind_proxy = make_container(container.settings.replace(trusted_proxies=trusted_proxies))
    try:
        client = create_app(behind_proxy).test_client()
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        response = sign_in(client, "alice", headers=forwarded)
        assert response.status_code == 303
        header = next(h for h in response.headers.getlist("Set-Cookie") if "pv_console=" in h)
        # An untrusted X-Forwarded-Proto must not decide anything.
        assert header.startswith("__Host-pv_console=") is bool(trusted_proxies)
    finally:
        behind_proxy.close()


def test_wrong_password_unknown_user_and_disabled_get_the_same_answer(app, container, console, make_user):
    make_user("alice", "dpo")
    make_user("bob", "dpo")
    console.users.set_disabled("bob", True, actor="test")
    client = app.test_client()
    pages = [
        sign_in(client, "alice", "not the right password"),
        sign_in(client, "nobody", PASSWORD),
        sign_in(client, "bob", PASSWORD),
    ]
    messages = {_login_error(p.get_data(as_text=True)) for p in pages}
    assert all(p.status_code == 401 for p in pages)
    assert len(messages) == 1
    assert GENERIC in messages.pop()
    assert client.get_cookie("pv_console") is None
    reasons = [(e["actor"], e["outcome"], e["reason"]) for e in _sign_in_events(container)]
    assert reasons == [
        ("user:alice", "denied", "wrong_password"),
        ("console:unknown", "denied", "unknown_user"),
        ("user:bob", "denied", "disabled"),
    ]
    # What was typed as an unknown username is nowhere: not in the log, not in the lock-out table.
    assert "nobody" not in str(audit_payloads(container))
    with container.session_factory() as s:
        keys = set(s.scalars(sa.select(ct.lockouts.c.key_hash)))
        user_key, _ = lockout.keys(s, container.keyring, "nobody", "127.0.0.1")
    assert user_key in keys
    # Keyed: the plain digest of what was typed, which anyone could recompute, is not stored.
    assert hashlib.sha256(b"user:nobody").hexdigest() not in keys


def test_five_failures_lock_the_username_for_fifteen_minutes(app, container, make_user, clock):
    make_user("alice", "dpo")
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "alice", "wrong password!!").status_code == 401
    locked = sign_in(client, "alice", PASSWORD)
    assert locked.status_code == 401 and GENERIC in locked.get_data(as_text=True)
    assert client.get_cookie("pv_console") is None
    assert [e["reason"] for e in _sign_in_events(container)][-2:] == ["wrong_password", "locked"]
    assert _sign_in_events(container)[4]["details"]["locked"] == ["user"]
    clock.advance(minutes=14)
    assert sign_in(client, "alice", PASSWORD).status_code == 401
    clock.advance(minutes=2)
    assert sign_in(client, "alice", PASSWORD).status_code == 303


def test_failures_spread_beyond_the_window_do_not_lock(app, make_user, clock):
    make_user("alice", "dpo")
    client = app.test_client()
    for _ in range(4):
        sign_in(client, "alice", "wrong password!!")
    clock.advance(minutes=16)
    sign_in(client, "alice", "wrong password!!")
    assert sign_in(client, "alice", PASSWORD).status_code == 303


def test_a_successful_sign_in_clears_the_user_count(app, make_user):
    make_user("alice", "dpo")
    client = app.test_client()
    for _ in range(4):
        sign_in(client, "alice", "wrong password!!")
    assert sign_in(client, "alice", PASSWORD).status_code == 303
    other = app.test_client()
    sign_in(other, "alice", "wrong password!!")
    assert sign_in(other, "alice", PASSWORD).status_code == 303


def test_one_address_trying_many_usernames_is_locked(settings):
    from api.app import create_app
    from api.console.services import console_service
    from tests.conftest import make_container

    container = make_container(settings.replace(console_address_failures=3))
    try:
        console_service(container).users.create(username="alice", role="dpo", password=PASSWORD, actor="t")
        app = create_app(container)
        client = app.test_client()
        for i in range(3):
            sign_in(client, f"guess{i}", "wrong password!!")
        refused = sign_in(client, "alice", PASSWORD)
        assert refused.status_code == 401
        assert _sign_in_events(container)[-1]["reason"] == "address_locked"
        # Another address is not affected.
        other = app.test_client()
        assert sign_in(other, "alice", PASSWORD, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 303
    finally:
        container.close()


def test_sign_out_ends_the_session_for_good(app, container, signed_in):
    dpo = signed_in("dpo")
    stolen = dpo.client.get_cookie("pv_console").value
    response = dpo.post("/console/logout")
    assert response.status_code == 303 and response.headers["Location"].startswith("/console/login")
    assert dpo.client.get_cookie("pv_console") is None
    replay = app.test_client()
    replay.set_cookie("pv_console", stolen)
    assert replay.get("/console/").status_code == 302
    with container.session_factory() as s:
        assert s.scalar(sa.select(ct.sessions.c.ended_reason)) == "signed_out"
    assert [e["actor"] for e in audit_payloads(container) if e["action"] == "console.sign_out"] == [
        "user:dpo"
    ]


def test_idle_and_absolute_timeouts(app, signed_in, clock):
    dpo = signed_in("dpo")
    clock.advance(minutes=29)
    assert dpo.get("/console/").status_code == 200
    clock.advance(minutes=31)
    expired = dpo.get("/console/")
    assert expired.status_code == 302 and "expired=1" in expired.headers["Location"]

    again = signed_in("dpo", "dpo2")
    for _ in range(25):  # active all along, every 29 minutes, for over 12 hours
        clock.advance(minutes=29)
        last = again.get("/console/")
    assert last.status_code == 302


def test_disabling_a_user_ends_their_sessions(app, console, signed_in):
    dpo = signed_in("dpo")
    console.users.set_disabled("dpo", True, actor="test")
    assert dpo.get("/console/").status_code == 302


def test_the_console_does_not_take_api_keys(app, container):

    _, key = container.clients.create(name="t-dpo", role="dpo", actor="test")
    client = app.test_client()
    response = client.get("/console/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def test_the_api_does_not_take_console_cookies(app, signed_in):
    dpo = signed_in("dpo")
    response = dpo.get("/v1/purposes")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_security_headers_on_console_pages(app, signed_in):
    dpo = signed_in("dpo")
    for path in ("/console/login", "/console/", "/console/no-such-page"):
        headers = dpo.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(app, signed_in, make_user):
    dpo = signed_in("dpo")
    for path in ("/console/", "/console/subjects", "/console/dsr", "/console/purposes", "/console/audit"):
        html = dpo.get(path).get_data(as_text=True)
        assert "<script>" not in html and "style=" not in html and "<style" not in html
        assert " on" + "click=" not in html and "javascript:" not in html


def test_sign_in_form_needs_its_token(app, make_user, container):
    make_user("alice", "dpo")
    client = app.test_client()
    client.get("/console/login")
    forged = client.post(
        "/console/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 400
    assert client.get_cookie("pv_console") is None
    assert _sign_in_events(container) == []


def test_next_only_leads_inside_the_console(app, make_user):
    make_user("alice", "dpo")
    client = app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    for target, expected in (
        ("/console/purposes", "/console/purposes"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console", "/console/"),
        ("/v1/clients", "/console/"),
    ):
        client.delete_cookie("pv_console")
        token = csrf_of(client.get("/console/login").get_data(as_text=True))
        response = client.post(
            "/console/login",
            data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": target},
        )
        assert response.headers["Location"] == expected


def test_next_with_nul_is_a_bad_request_before_anything_else(app):
    # U+0000 is refused in any console request (PostgreSQL's text cannot hold it).
    client = app.test_client()
    response = client.get("/console/login", query_string={"next": "/console/purposes\x00"})
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "/console/purposes\r\nSet-Cookie: pv_console=stolen",
        "/console/\nX-Injected: 1",
        "/console/purposes\x7f",
        "/console/pur\u2028poses",
        "/console/\\evil.example",
    ],
)
def test_next_with_control_characters_is_refused_not_a_500(app, make_user, target):
    """Issue 14 (low): a CR/LF in ``next`` gave a 500 after sign-in (a header split)."""
    make_user("alice", "dpo")
    client = app.test_client()
    token = csrf_of(client.get("/console/login", query_string={"next": target}).get_data(as_text=True))
    response = client.post(
        "/console/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": target},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    assert "X-Injected" not in response.headers
    token = csrf_of(client.get("/console/").get_data(as_text=True))
    switched = client.post("/console/lang", data={"csrf_token": token, "lang": "en", "next": target})
    assert switched.status_code == 303 and switched.headers["Location"] == "/console/"


def test_signed_in_user_sees_their_name(signed_in):
    auditor = signed_in("auditor")
    assert isinstance(auditor, Console)
    html = auditor.get("/console/").get_data(as_text=True)
    assert 'data-testid="current-user">auditor<' in html


def test_every_console_route_needs_a_session(app):
    """As every API route needs a key: each console URL but sign-in, language and static files
    sends an anonymous caller to sign in, whatever the method, and runs nothing."""
    client = app.test_client()
    open_endpoints = {"console.login", "console.language", "console.static"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in open_endpoints:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", "abcd1234", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={})
            assert response.status_code == 302, (method, path)
            assert response.headers["Location"].startswith("/console/login"), (method, path)
            checked += 1
    assert checked > 30


def test_old_failure_counters_are_forgotten(container, app, make_user, clock):
    client = app.test_client()
    for i in range(3):
        sign_in(client, f"typo{i}", "wrong password!!")
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ct.lockouts)) == 4  # 3 names, 1 address
    clock.advance(hours=1)
    sign_in(client, "typo9", "wrong password!!")
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ct.lockouts)) == 2
