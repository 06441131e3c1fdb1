"""Console users, for admins: create, disable and enable, reset a password."""

from __future__ import annotations

from typing import Any

from flask import Response

from access.identity import create_user, reset_password, user_approved
from access.model import PENDING, Acting
from api.console.context import container, domain, request_id, service, signed_in
from api.console.web import blp, done, page, read_form, requires
from api.console.wording import error_text, options
from identity.users.errors import ConsoleError, UserNotFound
from identity.users.users import LANGUAGES, ROLES
from piivault.errors import Forbidden, ValidationFailed


@blp.route("/users")
@requires("users")
def users() -> Response:
    return _page()


@blp.route("/users", methods=["POST"])
@requires("users")
def user_create() -> Response:
    form = read_form({"username", "role", "password", "confirm", "language", "time_zone"})
    username = form.text("username", required=True, max_length=64)
    role = form.choice("role", ROLES)
    password = form.secret("password")
    confirm = form.secret("confirm")
    language = form.choice("language", LANGUAGES)
    zone = form.text("time_zone", max_length=64)
    if form.ok and password != confirm:
        form.fail("confirm", "error.password_mismatch")
    kept = {"username": username, "role": role, "language": language, "time_zone": zone}
    if not form.ok:
        return _page(create_errors=form.errors, values=kept, status=422)
    try:
        _, approval = create_user(
            service().users,
            domain("access"),
            _acting(),
            request_id=request_id(),
            username=username,
            role=role,
            password=password,
            language=language or "zh",
            time_zone=zone,
        )
    except (ConsoleError, Forbidden, ValidationFailed) as e:
        return _page(values=kept, error=error_text(e), status=e.http_status)
    # A user in an approving role signs in once a DPO, another person, approves (access.identity).
    return done("console.users", "user_created_pending" if _pending(approval) else "user_created")


@blp.route("/users/<username>/disable", methods=["POST"])
@requires("users")
def user_disable(username: str) -> Response:
    return _set_disabled(username, True)


@blp.route("/users/<username>/enable", methods=["POST"])
@requires("users")
def user_enable(username: str) -> Response:
    return _set_disabled(username, False)


def _set_disabled(username: str, disabled: bool) -> Response:
    read_form(set())
    if disabled and username == signed_in().user.username:
        return _page(error=error_text(ConsoleError(key="users.not_yourself")), status=409)
    try:
        service().users.set_disabled(username, disabled, actor=signed_in().actor, request_id=request_id())
    except UserNotFound as e:
        return _page(error=error_text(e), status=404)
    return done("console.users", "user_disabled" if disabled else "user_enabled")


@blp.route("/users/<username>/password", methods=["POST"])
@requires("users")
def user_password(username: str) -> Response:
    form = read_form({"password", "confirm"})
    password = form.secret("password")
    confirm = form.secret("confirm")
    if form.ok and password != confirm:
        form.fail("confirm", "error.password_mismatch")
    if not form.ok:
        return _page(reset_errors={username: form.errors}, status=422)
    try:
        approval = reset_password(
            service().users, domain("access"), _acting(), username, password, request_id=request_id()
        )
    except (ConsoleError, Forbidden, ValidationFailed) as e:
        return _page(error=error_text(e), status=e.http_status)
    return done("console.users", "password_reset_pending" if _pending(approval) else "password_reset")


def _awaiting(users: list[Any]) -> set[str]:
    """Users in an approving role not (or no longer) approved: they cannot sign in yet."""
    access = domain("access")
    with container().uow() as uow:
        assert uow.session is not None
        now = access.clock()
        return {u.username for u in users if not user_approved(access, uow.session, u.username, now)}


def _acting() -> Acting:
    user = signed_in().user
    return Acting(user.username, user.role, user.actor)


def _pending(approval: Any) -> bool:
    return approval is not None and approval.state == PENDING


def _page(*, status: int = 200, **context: Any) -> Response:
    found = service().users.list_users()
    return page(
        "users.html",
        status=status,
        section="users",
        users=found,
        awaiting=_awaiting(found),
        roles=options("role.", ROLES),
        default_zone=service().users.default_time_zone,
        **context,
    )
