"""Authentication on every route, API keys, roles and the failed-attempt limiter."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify

from api.auth import Principal, current_principal, require_roles
from api.ratelimit import FailureLimiter
from identity.clients import keys
from identity.clients import tables as ct
from identity.clients.errors import Unauthenticated
from tests.api.conftest import bearer

# The console checks its own session cookie instead (tests/console/test_signin.py).
PUBLIC_BLUEPRINTS = {"health", "api-docs", "docs-assets", "console"}


def _assert_401(resp, code: str) -> None:
    assert resp.status_code == 401, resp.data
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="piivault"')
    assert resp.json["status"] == 401
    assert resp.json["type"].endswith("/" + code)


def _protected_requests(app: Flask) -> list[tuple[str, str]]:
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            blueprint = rule.endpoint.rpartition(".")[0]
            if blueprint in PUBLIC_BLUEPRINTS:
                continue
            path = rule.rule
            for arg in rule.arguments:
                path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", "abcd1234", path)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((method, path))
    return found


def test_every_route_without_a_key_is_401(app, client):
    requests = _protected_requests(app)
    assert ("POST", "/v1/clients") in requests and ("DELETE", "/v1/clients/abcd1234") in requests
    for method, path in requests:
        resp = client.open(path, method=method, json={})
        _assert_401(resp, "unauthenticated")
    # Unknown paths too: without a key nobody learns which routes exist.
    _assert_401(client.get("/v1/no-such-thing"), "unauthenticated")
    _assert_401(client.put("/v1/clients"), "unauthenticated")


def test_every_route_with_a_wrong_key_is_401(container, admin_key):
    from api.app import create_app

    container.settings = container.settings.replace(auth_failure_limit=0)  # no 429 however many routes
    app = create_app(container)
    client = app.test_client()
    wrong = admin_key[:-4] + ("AAAA" if not admin_key.endswith("AAAA") else "BBBB")
    for method, path in _protected_requests(app):
        _assert_401(client.open(path, method=method, json={}, headers=bearer(wrong)), "invalid_api_key")


def test_public_routes_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "pvk_abcd1234_x",
    ],
)
def test_malformed_authorization_is_401(client, header):
    resp = client.get("/v1/clients", headers={"Authorization": header})
    _assert_401(resp, "malformed_authorization")
    assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "presented",
    [
        "not-a-key",
        "pvk_ABCDEFGH_" + "a" * 43,  # public id must be lowercase
        "pvk_abcd1234_" + "a" * 42,  # secret too short
        "pvk_abcd1234_" + "a" * 43,  # well-formed, no such client
    ],
)
def test_invalid_keys_are_401(client, admin_key, presented):
    resp = client.get("/v1/clients", headers=bearer(presented))
    _assert_401(resp, "invalid_api_key")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_right_id_wrong_secret_is_401(client, admin_key):
    key = keys.parse(admin_key)
    forged = str(keys.ApiKey(key.public_id, keys.generate().secret))
    _assert_401(client.get("/v1/clients", headers=bearer(forged)), "invalid_api_key")
    assert client.get("/v1/clients", headers=bearer(admin_key)).status_code == 200


def test_revoked_key_is_401_at_once(client, admin_key, make_key):
    key = make_key("admin", name="soon-revoked")
    assert client.get("/v1/clients", headers=bearer(key)).status_code == 200
    client_id = keys.parse(key).public_id
    resp = client.delete(f"/v1/clients/{client_id}", headers=bearer(admin_key))
    assert resp.status_code == 200 and resp.json["state"] == "revoked"
    _assert_401(client.get("/v1/clients", headers=bearer(key)), "api_key_revoked")


def test_expired_key_is_401(container, client, make_key):
    key = make_key("admin", name="expiring", expires_in=dt.timedelta(days=1))
    assert client.get("/v1/clients", headers=bearer(key)).status_code == 200
    store = container.clients
    real_clock = store.clock
    store.clock = lambda: real_clock() + dt.timedelta(days=1, seconds=1)
    _assert_401(client.get("/v1/clients", headers=bearer(key)), "api_key_expired")


def test_expiry_set_in_the_database_is_honoured(container, client, make_key):
    key = make_key("admin", name="expired-by-hand")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with container.session_factory() as s:
        s.execute(
            ct.clients.update().where(ct.clients.c.id == keys.parse(key).public_id).values(expires_at=past)
        )
        s.commit()
    _assert_401(client.get("/v1/clients", headers=bearer(key)), "api_key_expired")


@pytest.mark.parametrize("role", ["service", "dpo", "analyst", "auditor"])
def test_wrong_role_is_403(client, make_key, role):
    key = make_key(role)
    for method, path, body in [
        ("GET", "/v1/clients", None),
        ("GET", "/v1/clients/abcd1234", None),
        ("DELETE", "/v1/clients/abcd1234", None),
        # The role is checked before the body: a bad body still gets 403, not 422.
        ("POST", "/v1/clients", {"unknown": "field"}),
    ]:
        resp = client.open(path, method=method, json=body, headers=bearer(key))
        assert resp.status_code == 403, (method, path)
        assert resp.mimetype == "application/problem+json"
        assert resp.json["type"].endswith("/forbidden")
        assert "admin" in resp.json["detail"]


def test_views_see_the_principal(container, app, client, make_key):
    seen = []

    @require_roles("service", "analyst")
    def whoami():
        principal = current_principal()
        seen.append(principal)
        return jsonify(client_id=principal.client_id, role=principal.role)

    app.add_url_rule("/v1/test-whoami", view_func=whoami)
    key = make_key("service", name="crm", purposes=["aml_kyc", "risk_scoring"], field_types=["cn_mobile"])
    resp = client.get("/v1/test-whoami", headers=bearer(key))
    assert resp.status_code == 200
    (principal,) = seen
    assert principal == Principal(
        client_id=keys.parse(key).public_id,
        name="crm",
        role="service",
        purposes=frozenset({"aml_kyc", "risk_scoring"}),
        field_types=frozenset({"cn_mobile"}),
    )
    assert principal.actor == f"client:{principal.client_id}"
    assert principal.allows_purpose("aml_kyc") and not principal.allows_purpose("marketing")
    assert principal.allows_field_type("cn_mobile") and not principal.allows_field_type("email")
    unlimited = Principal("c", "n", "service", frozenset(), None)
    assert unlimited.allows_field_type("email")
    assert client.get("/v1/test-whoami", headers=bearer(make_key("admin"))).status_code == 403


def test_current_principal_fails_closed_without_one(app):
    with app.test_request_context("/healthz"), pytest.raises(Unauthenticated):
        current_principal()


def test_require_roles_rejects_unknown_roles():
    with pytest.raises(ValueError):
        require_roles("superuser")
    with pytest.raises(ValueError):
        require_roles()


def test_last_used_is_written_at_most_once_a_minute(container, client, make_key):
    key = make_key("admin", name="busy")
    client_id = keys.parse(key).public_id
    store = container.clients
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    now = [t0]
    store.clock = lambda: now[0]

    def last_used():
        with container.session_factory() as s:
            return s.scalar(sa.select(ct.clients.c.last_used_at).where(ct.clients.c.id == client_id))

    assert last_used() is None
    client.get("/v1/clients", headers=bearer(key))
    assert last_used() == t0
    now[0] = t0 + dt.timedelta(seconds=59)
    client.get("/v1/clients", headers=bearer(key))
    assert last_used() == t0
    now[0] = t0 + dt.timedelta(seconds=61)
    client.get("/v1/clients", headers=bearer(key))
    assert last_used() == t0 + dt.timedelta(seconds=61)


# -- the failed-attempt limiter ----------------------------------------------------


@pytest.fixture
def limited_app(container):
    from api.app import create_app

    container.settings = container.settings.replace(auth_failure_limit=3, auth_failure_window=60.0)
    app = create_app(container)
    now = [1000.0]
    app.extensions["piivault.auth"].limiter._clock = lambda: now[0]
    return app, now


def test_too_many_failed_attempts_is_429(limited_app, admin_key):
    app, now = limited_app
    client = app.test_client()
    wrong = bearer("pvk_abcd1234_" + "a" * 43)
    for _ in range(3):
        assert client.get("/v1/clients", headers=wrong).status_code == 401
    # Requests without any key are not guessing attempts and do not count.
    assert client.get("/v1/clients").status_code == 401
    resp = client.get("/v1/clients", headers=wrong)
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/too_many_failed_attempts")
    assert int(resp.headers["Retry-After"]) == 60
    # Failing keys from the address are refused until the window has passed...
    assert client.get("/v1/clients", headers=bearer("pvk_zzzz9999_" + "b" * 43)).status_code == 429
    # ...but a key that verifies never is (issue 14, item 8: a NAT shared with a scanner).
    assert client.get("/v1/clients", headers=bearer(admin_key)).status_code == 200
    now[0] += 30
    assert int(client.get("/v1/clients", headers=wrong).headers["Retry-After"]) == 30
    now[0] += 31
    assert client.get("/v1/clients", headers=wrong).status_code == 401


def test_limiter_uses_the_forwarded_address_only_behind_trusted_proxies(container, admin_key):
    from api.app import create_app

    container.settings = container.settings.replace(auth_failure_limit=1, trusted_proxies=1)
    client = create_app(container).test_client()
    wrong = bearer("pvk_abcd1234_" + "a" * 43)
    via = {"X-Forwarded-For": "203.0.113.5"}
    assert client.get("/v1/clients", headers={**wrong, **via}).status_code == 401
    assert client.get("/v1/clients", headers={**wrong, **via}).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.6", **bearer("pvk_efgh5678_" + "a" * 43)}
    assert client.get("/v1/clients", headers=other).status_code == 401


def test_a_valid_key_from_an_address_full_of_failures_gets_through(container, admin_key, make_key):
    """Issue 14, item 8: 20+ bad keys from one address, then a valid key from the same address."""
    from api.app import create_app

    assert container.settings.auth_failure_limit == 20  # the default
    client = create_app(container).test_client()
    nat = {"REMOTE_ADDR": "198.51.100.7"}
    for i in range(25):
        bad = bearer(f"pvk_{i:08d}_" + "a" * 43)
        assert client.get("/v1/clients", headers=bad, environ_base=nat).status_code in (401, 429)
    assert client.get("/v1/clients", headers=bad, environ_base=nat).status_code == 429
    assert client.get("/v1/clients", headers=bearer(admin_key), environ_base=nat).status_code == 200
    service = make_key("service", name="crm", purposes=["aml_kyc"])
    assert (
        client.get("/v1/subjects/nobody-here", headers=bearer(service), environ_base=nat).status_code == 404
    )


def test_guessing_one_client_ids_secret_is_limited_from_any_address(limited_app, admin_key):
    """A brute force on one client id is refused after the limit, however many addresses it uses;
    the id's holder, presenting the real key, is not."""
    app, now = limited_app
    client = app.test_client()
    client_id = admin_key.split("_")[1]
    guess = bearer(f"pvk_{client_id}_" + "g" * 43)
    for n in range(3):
        resp = client.get("/v1/clients", headers=guess, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
        assert resp.status_code == 401
    resp = client.get("/v1/clients", headers=guess, environ_base={"REMOTE_ADDR": "192.0.2.200"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) == 60
    assert client.get("/v1/clients", headers=bearer(admin_key)).status_code == 200
    # Other client ids from those addresses are not limited by it.
    other = bearer("pvk_abcd1234_" + "a" * 43)
    assert (
        client.get("/v1/clients", headers=other, environ_base={"REMOTE_ADDR": "192.0.2.201"}).status_code
        == 401
    )


def test_failure_limiter_counts_a_sliding_window():
    now = [0.0]
    limiter = FailureLimiter(2, 10, clock=lambda: now[0], max_tracked=2)
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    now[0] = 4
    limiter.failed("a")
    assert limiter.retry_after("a") == 6
    now[0] = 10.5
    assert limiter.retry_after("a") is None  # the first failure left the window
    limiter.failed("b")
    limiter.failed("c")  # beyond max_tracked: the stalest address is forgotten
    assert "a" not in limiter._failures
    off = FailureLimiter(0, 10)
    for _ in range(100):
        off.failed("x")
    assert off.retry_after("x") is None
