"""Separation of duties in the console (issue 15): the approvals inbox and "my requests", the
grants a subject page shows while they last, break-glass with its banner and its review.

Views only: every rule (who may ask, approve, deny, revoke or review; never
one's own request, whatever the credential) is :class:`access.AccessService`'s,
called with the signed-in user as the person. A refusal is shown on the page
it came from, in the user's language, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for

from access import REASON_CODES, Acting, Scope
from access import model as m
from access.service import AccessService
from api.console import i18n
from api.console.context import container, domain, request_id, signed_in, t
from api.console.forms import Form
from api.console.web import blp, done, page, read_form, requires, safe_next
from api.console.wording import purpose_label, purpose_options, refusal
from piivault.errors import PiivaultError

LISTED = 50
_ASK_FIELDS = frozenset({"subject_id", "purpose", "minutes", "reason_code", "reason_text"})


def access() -> AccessService:
    return domain("access")


def acting() -> Acting:
    """The signed-in user as the person who acts (a user and their keys are one person)."""
    user = signed_in().user
    return Acting(user.username, user.role, user.actor)


def refusal_text(error: PiivaultError) -> str:
    """A refusal of the access service in the user's language (by its code), else as any other
    service's refusal (:func:`api.console.wording.refusal`)."""
    key = f"access.error.{error.code}"
    if i18n.has(key):
        return t(key)
    return t("error.service", detail=refusal(error))


# -- what every page may show (the banner, the dashboard, the subject page) ------------------
@blp.context_processor
def _access_context() -> dict[str, Any]:
    return {
        "break_glass_active": break_glass_active,
        "break_glass_unreviewed": break_glass_unreviewed,
        "approvals_waiting": approvals_waiting,
        "subject_grants": subject_grants,
        "may_revoke": may_revoke,
        "may_review": may_review,
        "scope_text": scope_text,
    }


def break_glass_active() -> list[m.Grant]:
    """Break-glass grants in force now, anyone's: everyone signed in sees the alert."""
    return access().list_grants(kind=m.BREAK_GLASS, active=True, limit=LISTED)


def approvals_waiting() -> int:
    """How many pending requests the signed-in user may decide (the dashboard points to them)."""
    return len(access().list_requests(approvable_by=acting(), limit=LISTED))


def break_glass_unreviewed() -> list[m.Grant]:
    return access().list_grants(unreviewed=True, limit=LISTED)


def subject_grants(subject_id: str) -> list[m.Grant]:
    """Reveal grants (approved or break-glass) in force now that name this subject."""
    found = access().list_grants(action=m.REVEAL, active=True, limit=500)
    return [g for g in found if subject_id in g.scope.subjects]


def plain_grant(subject_id: str, purpose: str | None) -> m.Grant | None:
    """The signed-in user's reveal grant in force for plain values of this subject and purpose.

    Only says which level to ask for: detokenize consults the grants itself
    (field types included) and answers masked for whatever a grant does not cover.
    """
    if purpose is None:
        return None
    held = access().list_grants(holder=signed_in().user.username, action=m.REVEAL, active=True)
    for grant in held:
        if (
            grant.scope.reveal == "plain"
            and subject_id in grant.scope.subjects
            and grant.scope.purpose == purpose
        ):
            return grant
    return None


def may_revoke(grant: m.Grant) -> bool:
    """The service's rule, to offer the button: the holder, or an approver of the action."""
    me = signed_in().user
    return me.username == grant.holder or me.role in access().rules[grant.action].approvers


def may_review(grant: m.Grant) -> bool:
    me = signed_in().user
    return me.username != grant.holder and me.role in access().rules[grant.action].approvers


def scope_text(scope: Scope) -> str:
    """A scope in words: the subjects, the purpose and the field types (never a value)."""
    parts = []
    if scope.target:
        parts.append(t("approvals.scope_target", target=scope.target))
    if scope.subjects:
        parts.append(t("approvals.scope_subjects", subjects=t("common.list_sep").join(scope.subjects)))
    if scope.purpose:
        parts.append(t("approvals.scope_purpose", purpose=purpose_label(scope.purpose)))
    if scope.field_types is not None:
        parts.append(t("approvals.scope_field_types", types=t("common.list_sep").join(scope.field_types)))
    if scope.minutes:
        parts.append(t("approvals.scope_minutes", minutes=scope.minutes))
    return t("common.list_sep").join(parts)


# -- the approvals page ------------------------------------------------------------------------
@blp.route("/approvals")
@requires("approvals")
def approvals() -> Response:
    return _approvals_page()


def _approvals_page(*, status: int = 200, **context: Any) -> Response:
    me = acting()
    svc = access()
    mine_to_decide = {r.id for r in svc.list_requests(approvable_by=me, limit=LISTED)}
    pending = svc.list_requests(state=m.PENDING, limit=LISTED)
    context.setdefault("errors", {})
    context.setdefault("values", {"subject_id": request.args.get("subject", "")[:64]})
    return page(
        "approvals.html",
        status=status,
        section="approvals",
        pending=pending,
        decidable=mine_to_decide,
        mine=svc.list_requests(requester=me.person, limit=LISTED),
        now=svc.clock(),
        may_ask=me.role in svc.rules[m.REVEAL].requesters,
        purpose_options=_purpose_options(),
        reason_codes=REASON_CODES,
        max_minutes=svc.limits.max_grant_minutes,
        **context,
    )


def _purpose_options() -> list[tuple[str, str]]:
    with container().uow() as uow:
        return purpose_options(domain("consent").list_purposes(uow))


def _read_ask(form: Form, max_minutes: int) -> tuple[Scope, str | None, str | None]:
    """A reveal's scope and reason from the form; the service checks them again."""
    subject_id = form.text("subject_id", required=True, max_length=64)
    purpose = form.choice("purpose", [code for code, _ in _purpose_options()])
    minutes = form.integer("minutes", lo=1, hi=max_minutes, required=True)
    reason_code = form.choice("reason_code", REASON_CODES)
    reason_text = form.text("reason_text", required=True, max_length=m.MAX_REASON_TEXT)
    scope = Scope(subjects=(subject_id,) if subject_id else (), purpose=purpose, minutes=minutes)
    return scope, reason_code, reason_text


@blp.route("/approvals", methods=["POST"])
@requires("approvals")
def approval_create() -> Response:
    """Ask for plain values of a subject (a reveal), for a purpose and some minutes."""
    form = read_form(_ASK_FIELDS)
    scope, reason_code, reason_text = _read_ask(form, access().limits.max_grant_minutes)
    # The reason text is not put back into the form: it may be what was refused (an identifier).
    values = {k: request.form.get(k, "") for k in _ASK_FIELDS - {"reason_text"}}
    if not form.ok:
        return _approvals_page(status=422, errors=form.errors, values=values)
    try:
        access().request(
            acting(), m.REVEAL, scope, reason_code or "", reason_text or "", request_id=request_id()
        )
    except PiivaultError as e:
        if e.http_status >= 500:
            raise
        return _approvals_page(status=e.http_status, error=refusal_text(e), values=values)
    return done("console.approvals", "approval_requested", _anchor="my-requests")


def _decide(approval_id: str, use_case: str, ok: str) -> Response:
    read_form(set())
    try:
        getattr(access(), use_case)(acting(), approval_id, request_id=request_id())
    except PiivaultError as e:
        if e.http_status >= 500:
            raise
        return _approvals_page(status=e.http_status, error=refusal_text(e))
    return done("console.approvals", ok)


@blp.route("/approvals/<approval_id>/approve", methods=["POST"])
@requires("approvals")
def approval_approve(approval_id: str) -> Response:
    return _decide(approval_id, "approve", "approval_approved")


@blp.route("/approvals/<approval_id>/deny", methods=["POST"])
@requires("approvals")
def approval_deny(approval_id: str) -> Response:
    return _decide(approval_id, "deny", "approval_denied")


@blp.route("/approvals/<approval_id>/withdraw", methods=["POST"])
@requires("approvals")
def approval_withdraw(approval_id: str) -> Response:
    return _decide(approval_id, "withdraw", "approval_withdrawn")


# -- grants --------------------------------------------------------------------------------------
@blp.route("/grants/<grant_id>/revoke", methods=["POST"])
@requires("approvals")
def grant_revoke(grant_id: str) -> Response:
    """End a grant early; back to the page the button was on (the subject's, usually)."""
    form = read_form({"next"})
    back = safe_next(form.text("next", max_length=500), url_for("console.approvals"))
    try:
        access().revoke(acting(), grant_id, request_id=request_id())
    except PiivaultError as e:
        if e.http_status >= 500:
            raise
        return _approvals_page(status=e.http_status, error=refusal_text(e))
    return redirect(_with_ok(back, "grant_revoked"), code=303)


def _with_ok(path: str, ok: str) -> str:
    path, _, anchor = path.partition("#")
    joined = f"{path}{'&' if '?' in path else '?'}ok={ok}"
    return f"{joined}#{anchor}" if anchor else joined


# -- break-glass ---------------------------------------------------------------------------------
@blp.route("/break-glass")
@requires("approvals")
def break_glass() -> Response:
    return _break_glass_page()


def _break_glass_page(*, status: int = 200, **context: Any) -> Response:
    svc, me = access(), acting()
    context.setdefault("errors", {})
    context.setdefault("values", {"subject_id": request.args.get("subject", "")[:64]})
    return page(
        "break_glass.html",
        status=status,
        section="approvals",
        uses=svc.list_grants(kind=m.BREAK_GLASS, limit=LISTED),
        now=svc.clock(),
        may_take=me.role in svc.rules[m.REVEAL].requesters,
        purpose_options=_purpose_options(),
        reason_codes=REASON_CODES,
        max_minutes=svc.limits.break_glass_max_minutes,
        **context,
    )


@blp.route("/break-glass", methods=["POST"])
@requires("approvals")
def break_glass_take() -> Response:
    """Take plain values of a subject now: an alert, a banner on every page, a review later."""
    form = read_form(_ASK_FIELDS)
    scope, reason_code, reason_text = _read_ask(form, access().limits.break_glass_max_minutes)
    values = {k: request.form.get(k, "") for k in _ASK_FIELDS - {"reason_text"}}
    if not form.ok:
        return _break_glass_page(status=422, errors=form.errors, values=values)
    try:
        access().break_glass(
            acting(), m.REVEAL, scope, reason_code or "", reason_text or "", request_id=request_id()
        )
    except PiivaultError as e:
        if e.http_status >= 500:
            raise
        return _break_glass_page(status=e.http_status, error=refusal_text(e), values=values)
    return done("console.break_glass", "break_glass_taken")


@blp.route("/break-glass/<grant_id>/review", methods=["POST"])
@requires("approvals")
def break_glass_review(grant_id: str) -> Response:
    """Review a break-glass use: another person, with a note (no identifiers)."""
    form = read_form({"note"})
    note = form.text("note", required=True, max_length=m.MAX_REASON_TEXT)
    if not form.ok or note is None:
        return _break_glass_page(status=422, review_errors={grant_id: form.errors})
    try:
        access().review(acting(), grant_id, note, request_id=request_id())
    except PiivaultError as e:
        if e.http_status >= 500:
            raise
        return _break_glass_page(status=e.http_status, error=refusal_text(e))
    return done("console.dashboard", "break_glass_reviewed", _anchor="break-glass-unreviewed")
