"""Sign-in, sign-out, language, and the signed-in user's own preferences and password."""

from __future__ import annotations

import zoneinfo

from flask import Response, g, redirect, request, url_for

from api.console import i18n
from api.console.context import request_id, service, signed_in, time_zone
from api.console.web import (
    LANG_CHOSEN_COOKIE,
    LANG_COOKIE,
    blp,
    clear_cookie,
    done,
    login_cookie,
    new_login_token,
    page,
    read_form,
    safe_next,
    session_cookie,
    set_cookie,
)
from api.console.wording import error_text
from identity.users.errors import ConsoleError, SignInFailed
from identity.users.users import LANGUAGES

# Offered in the preferences form; any other IANA zone is accepted too (see check_time_zone).
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)
LOGIN_COOKIE_SECONDS = 3_600


def _client_address() -> str:
    return request.remote_addr or "unknown"


@blp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """The sign-in page; a new sign-in token (CSRF, bound to a cookie) with every GET."""
    if request.method == "GET":
        if g.get("signed_in") is not None:
            return redirect(url_for("console.dashboard"))
        token = new_login_token()
        g.csrf_token = token
        response = page(
            "login.html",
            next=safe_next(request.args.get("next"), ""),
            expired=request.args.get("expired") == "1",
            username="",
        )
        set_cookie(response, login_cookie(), token, max_age=LOGIN_COOKIE_SECONDS)
        return response
    form = read_form({"username", "password", "next"})
    username = form.text("username", required=True, max_length=200)
    password = form.secret("password")
    target = safe_next(form.text("next", max_length=2_000), url_for("console.dashboard"))
    if not form.ok:
        return page("login.html", status=422, errors=form.errors, next=target, username=username or "")
    try:
        opened = service().sessions.sign_in(
            username, password, address=_client_address(), request_id=request_id()
        )
    except SignInFailed:
        # One message whatever the reason (unknown user, wrong password, locked, disabled).
        return page("login.html", status=401, failed=True, next=target, username=username or "")
    language = opened.signed_in.user.language
    chosen = request.cookies.get(LANG_CHOSEN_COOKIE)
    if chosen in LANGUAGES and chosen != language:
        # A language picked on the sign-in page is what the person wants now: keep it.
        username = opened.signed_in.user.username
        service().users.set_preferences(username, language=chosen, request_id=request_id())
        language = chosen
    response = redirect(target, code=303)
    set_cookie(response, session_cookie(), opened.cookie_value)
    clear_cookie(response, login_cookie())
    clear_cookie(response, LANG_CHOSEN_COOKIE)
    set_cookie(response, LANG_COOKIE, language, max_age=365 * 86_400)
    return response


@blp.route("/logout", methods=["POST"])
def logout() -> Response:
    service().sessions.sign_out(signed_in(), request_id=request_id())
    response = redirect(url_for("console.login", ok="signed_out"), code=303)
    clear_cookie(response, session_cookie())
    return response


@blp.route("/lang", methods=["POST"])
def language() -> Response:
    """Switch the language: the user's preference when signed in, a cookie before."""
    form = read_form({"lang", "next"})
    chosen = form.choice("lang", LANGUAGES)
    target = safe_next(form.text("next", max_length=2_000), url_for("console.dashboard"))
    if chosen is None:
        return redirect(target, code=303)
    if g.get("signed_in") is not None:
        service().users.set_preferences(signed_in().user.username, language=chosen, request_id=request_id())
    elif not target.startswith(url_for("console.login")):
        target = url_for("console.login")
    response = redirect(target, code=303)
    set_cookie(response, LANG_COOKIE, chosen, max_age=365 * 86_400)
    if g.get("signed_in") is None:
        set_cookie(response, LANG_CHOSEN_COOKIE, chosen, max_age=LOGIN_COOKIE_SECONDS)
    return response


@blp.route("/me", methods=["GET", "POST"])
def me() -> Response:
    """The user's own language and time zone."""
    user = signed_in().user
    if request.method == "GET":
        return _me_page()
    form = read_form({"language", "time_zone"})
    chosen_lang = form.choice("language", LANGUAGES)
    zone = form.text("time_zone", required=True, max_length=64)
    if form.ok:
        try:
            service().users.set_preferences(
                user.username, language=chosen_lang, time_zone=zone, request_id=request_id()
            )
        except ConsoleError as e:
            form.fail("time_zone", e.key, **e.params)
    if not form.ok:
        return _me_page(errors=form.errors, status=422)
    response = done("console.me", "preferences")
    set_cookie(response, LANG_COOKIE, chosen_lang or i18n.DEFAULT, max_age=365 * 86_400)
    return response


@blp.route("/me/password", methods=["POST"])
def change_password() -> Response:
    form = read_form({"current", "new", "confirm"})
    current = form.secret("current")
    new = form.secret("new")
    confirm = form.secret("confirm")
    if form.ok and new != confirm:
        form.fail("confirm", "error.password_mismatch")
    if not form.ok:
        return _me_page(password_errors=form.errors, status=422)
    try:
        service().users.change_own_password(signed_in().user.username, current, new, request_id=request_id())
    except ConsoleError as e:
        return _me_page(password_errors={}, status=422, error=error_text(e))
    # Every session of the user ended with the change: sign in again with the new password.
    response = redirect(url_for("console.login", ok="password_changed"), code=303)
    clear_cookie(response, session_cookie())
    return response


def _me_page(*, status: int = 200, **context: object) -> Response:
    zones = list(COMMON_ZONES)
    if time_zone() not in zones:
        zones.insert(0, time_zone())
    return page(
        "me.html",
        status=status,
        section="me",
        zones=zones,
        all_zones=sorted(zoneinfo.available_timezones()),
        **context,
    )
