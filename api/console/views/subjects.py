"""Subjects: find one (by id, token, or a value through the blind index), see what is held
for it, its consents, holds, restriction and who used its data; grant and withdraw consent,
place and release holds, lift a restriction, close the relationship.

A value typed into the search is used for one blind-index lookup and never
shown again: not in the results, not in the search box, not in a URL.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from flask import Response, redirect, request, url_for

from api.console.context import actor, caller, container, domain, request_id, service, signed_in, time_zone
from api.console.forms import FieldError, Form, end_of_day
from api.console.views.approvals import plain_grant
from api.console.web import blp, done, page, read_form, requires
from api.console.wording import error_text, ft, purpose_options
from audit.service import READ_ACTION
from consent import dsr
from consent.subject_state import LIFT_REASONS
from piivault.errors import Conflict, NotFound, ValidationFailed
from privacy import holds as _holds
from privacy.model import CHANNELS, HOLD_ROLES, MAX_NOTE
from tokenization.errors import SubjectNotFound

SEARCH_BY = ("subject_id", "token", "value")
ACCESS_LOG_ROWS = 50
ACCESS_LOG_PAGE = 10  # rows per page: the page stays one screen tall
_ACCESS_LOG_PAGES = 20
_FIXABLE = (ValidationFailed, Conflict, NotFound)


# -- search -----------------------------------------------------------------------------
@blp.route("/subjects", methods=["GET", "POST"])
@requires("subjects")
def subjects() -> Response:
    if request.method == "GET":
        return _search_page()
    form = read_form({"by", "q", "field_type"})
    by = form.choice("by", SEARCH_BY)
    field_types = domain("tokenization").field_types
    field_type = form.choice("field_type", field_types.codes(), required=by == "value")
    query = form.text("q", required=True, max_length=16_384)
    if not form.ok or query is None:
        return _search_page(errors=form.errors, by=by, field_type=field_type, status=422)
    if by == "subject_id":
        try:
            domain("consent").check_subject_id(query)
        except ValidationFailed:
            form.fail("q", "subjects.not_an_id")
            return _search_page(errors=form.errors, by=by, status=422)
        return redirect(url_for("console.subject", subject_id=query), code=303)
    if by == "token":
        found = service().find_by_token(signed_in().user, query, request_id=request_id())
        if found is None:
            return _search_page(by=by, no_match=True, status=404)
        return redirect(url_for("console.subject", subject_id=found), code=303)
    try:
        with container().uow() as uow:
            matches = domain("tokenization").lookup(uow, caller(), field_type, query, request_id=request_id())
    except ValidationFailed:
        # The service's message names the rule broken; still, say it without any of the value.
        form.fail("q", "subjects.invalid_value")
        return _search_page(errors=form.errors, by=by, field_type=field_type, status=422)
    owners = list(dict.fromkeys(m["subject_id"] for m in matches if m["subject_id"]))
    service().found_by_value(signed_in().user, owners, field_type, request_id=request_id())
    if len(owners) == 1:
        return redirect(url_for("console.subject", subject_id=owners[0]), code=303)
    return _search_page(
        by=by,
        field_type=field_type,
        results=owners,
        no_match=not owners,
        standalone=sum(1 for m in matches if not m["subject_id"]),
        status=200 if owners else 404,
    )


def _search_page(*, status: int = 200, **context: Any) -> Response:
    options = [(code, ft(code)) for code in domain("tokenization").field_types.codes()]
    return page(
        "subject_search.html", status=status, section="subjects", field_type_options=options, **context
    )


# -- the subject page --------------------------------------------------------------------
@blp.route("/subjects/<subject_id>")
@requires("subjects")
def subject(subject_id: str) -> Response:
    return _subject_page(subject_id)


def _subject_page(
    subject_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, dict[str, FieldError]] | None = None,
    masked: list[dict[str, Any]] | None = None,
    reveal_purpose: str | None = None,
) -> Response:
    consent, rid = domain("consent"), request_id()
    try:
        with container().uow() as uow:
            info = domain("tokenization").subject_info(uow, caller(), subject_id, request_id=rid)
            consents = consent.consents_of(uow, actor(), subject_id, request_id=rid)
            holds = consent.list_holds(uow, actor(), subject_id, request_id=rid)
            purposes = consent.list_purposes(uow)
            requests = consent.search_requests(uow, actor(), subject_id=subject_id, limit=50)
    except (SubjectNotFound, ValidationFailed):
        return page(
            "error.html", status=404, title_key="subjects.not_found_title", message_key="subjects.not_found"
        )
    history: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for record in sorted(consents["history"], key=lambda r: r["recorded_at"], reverse=True):
        history[record["purpose"]].append(record)
    names = {p.code: p for p in purposes}
    withdrawable = [c["purpose"] for c in consents["consents"] if c["state"] != "withdrawn"]
    return page(
        "subject.html",
        status=status,
        section="subjects",
        error=error,
        errors=errors or {},
        info=info,
        consents=consents["consents"],
        history=dict(history),
        holds=holds,
        active_holds=[h for h in holds if h["released_at"] is None],
        requests=requests,
        access_log=_access_log(subject_id, _log_page()),
        lift_blocked=info["state"] == "restricted" and domain("consent").erasure_waits(subject_id),
        open_states=dsr.OPEN,
        purposes=names,
        purpose_options=purpose_options(purposes),
        grant_options=purpose_options([p for p in purposes if p.consent_required]),
        withdraw_options=purpose_options([names[c] for c in withdrawable if c in names]),
        withdrawable=withdrawable,
        masked=masked,
        reveal_purpose=reveal_purpose,
        channels=CHANNELS,
        hold_reasons=_holds.LEGAL_REASONS,
        release_reasons=_holds.RELEASE_REASONS,
        lift_reasons=LIFT_REASONS,
        hold_roles=HOLD_ROLES,
    )


def _log_page() -> int:
    """The access log's page asked for (``?log=N``); anything else is the first."""
    raw = request.args.get("log", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= ACCESS_LOG_ROWS else 1


def _access_log(subject_id: str, page_no: int = 1) -> dict[str, Any]:
    """The subject's newest audit events, a page of them at a time; reading them is itself
    audited (audit.read)."""
    audit = domain("audit")
    newest: collections.deque[Any] = collections.deque(maxlen=ACCESS_LOG_ROWS)
    cursor, total = None, 0
    for _ in range(_ACCESS_LOG_PAGES):
        found = audit.search_events(subject=subject_id, limit=1_000, cursor=cursor)
        newest.extend(found.events)
        total += len(found.events)
        cursor = found.next_cursor
        if cursor is None:
            break
    with container().uow() as uow:
        audit.record_access(
            uow,
            signed_in().actor,
            READ_ACTION,
            subject_id=subject_id,
            request_id=request_id(),
            details={"operation": "search", "returned": len(newest)},
        )
    events = list(reversed(newest))
    pages = max(1, -(-len(events) // ACCESS_LOG_PAGE))
    page_no = min(page_no, pages)
    shown = events[(page_no - 1) * ACCESS_LOG_PAGE : page_no * ACCESS_LOG_PAGE]
    return {
        "events": shown,
        # Reveals under a grant or break-glass: by whose approval (from the events' details).
        "grants": {e.seq: g for e in shown if (g := _under_grant(e)) is not None},
        "shown": len(events),
        "total": total,
        "more": cursor is not None,
        "page": page_no,
        "pages": pages,
    }


def _under_grant(event: Any) -> dict[str, Any] | None:
    """The grant a logged reveal was made under (id, kind, approvers), or None."""
    if event.action != "detokenize":
        return None
    details = (json.loads(event.entry).get("details") or {}) if event.entry else {}
    grant = details.get("grant")
    if not isinstance(grant, str):
        return None
    return {
        "grant": grant,
        "break_glass": details.get("grant_kind") == "break_glass",
        "approved_by": ", ".join(str(p) for p in details.get("approved_by") or []) or "—",
    }


def _retry(subject_id: str, form_name: str, error: Exception | None = None, form: Any = None) -> Response:
    """The subject page again, with the failed form's errors; nothing was changed."""
    status = getattr(error, "http_status", 422) if error is not None else 422
    return _subject_page(
        subject_id,
        status=status,
        error=error_text(error) if error is not None else None,
        errors={form_name: form.errors} if form is not None else {},
    )


# -- masked values -----------------------------------------------------------------------
@blp.route("/subjects/<subject_id>/reveal", methods=["POST"])
@requires("subjects")
def reveal(subject_id: str) -> Response:
    """Masked values, under a declared purpose: one audited detokenize. A DPO sees masks only,
    unless they hold a grant (approved by another person, or break-glass) for plain values of
    this subject and purpose: then plain, for the field types the grant covers (issue 15)."""
    form = read_form({"purpose"})
    purpose = form.choice("purpose", [p.code for p in _purposes()])
    if not form.ok:
        return _retry(subject_id, "reveal", form=form)
    level = "plain" if plain_grant(subject_id, purpose) else "masked"
    tokens = service().tokens_of(subject_id)
    answers: list[dict[str, Any]] = []
    if tokens:
        with container().uow() as uow:
            answers = domain("tokenization").detokenize(
                uow, caller(), purpose, [tok for tok, _ in tokens], level, request_id=request_id()
            )
    masked = [
        {
            "field_type": field_type,
            "masked": a.get("masked"),
            "value": a.get("value"),
            "reason": a.get("reason") or a.get("error"),
        }
        for (_, field_type), a in zip(tokens, answers, strict=True)
    ]
    return _subject_page(subject_id, masked=masked, reveal_purpose=purpose)


def _purposes() -> list[Any]:
    with container().uow() as uow:
        return domain("consent").list_purposes(uow)


# -- changes: consent, holds, restriction, closing ------------------------------------------
def _change(
    subject_id: str, form: Form, form_name: str, ok: str, anchor: str, use_case: str, **kw: Any
) -> Response:
    """Run one consent-service use case for the subject, or show the page again saying why not.

    The form's own errors come first (nothing is called); a use case that
    refuses leaves nothing changed, as its unit of work rolls back.
    """
    if not form.ok:
        return _retry(subject_id, form_name, form=form)
    try:
        with container().uow() as uow:
            getattr(domain("consent"), use_case)(uow, actor(), subject_id, request_id=request_id(), **kw)
    except _FIXABLE as e:
        return _retry(subject_id, form_name, e)
    return done("console.subject", ok, subject_id=subject_id, _anchor=anchor)


@blp.route("/subjects/<subject_id>/consents/grant", methods=["POST"])
@requires("consent_change")
def grant(subject_id: str) -> Response:
    form = read_form({"purpose", "channel", "separate", "notice_version", "expires_on", "evidence"})
    purpose = form.choice("purpose", [p.code for p in _purposes() if p.consent_required])
    channel = form.choice("channel", CHANNELS)
    notice_version = form.integer("notice_version", lo=1, hi=1_000_000)
    expires_on = form.date("expires_on")
    evidence = form.text("evidence", max_length=140)
    return _change(
        subject_id,
        form,
        "grant",
        "consent_granted",
        "consents",
        "grant",
        purpose=purpose,
        channel=channel,
        separate=form.flag("separate"),
        notice_version=notice_version,
        expires_at=end_of_day(expires_on, time_zone()) if expires_on else None,
        evidence=evidence,
    )


@blp.route("/subjects/<subject_id>/consents/withdraw", methods=["POST"])
@requires("consent_change")
def withdraw(subject_id: str) -> Response:
    form = read_form({"purpose", "channel", "evidence"})
    purpose = form.choice("purpose", [p.code for p in _purposes()])
    channel = form.choice("channel", CHANNELS)
    evidence = form.text("evidence", max_length=140)
    return _change(
        subject_id,
        form,
        "withdraw",
        "consent_withdrawn",
        "consents",
        "withdraw",
        purpose=purpose,
        channel=channel,
        evidence=evidence,
    )


@blp.route("/subjects/<subject_id>/holds", methods=["POST"])
@requires("holds_change")
def place_hold(subject_id: str) -> Response:
    form = read_form({"reason_code", "ends_on", "note", "purpose", "roles"})
    reason = form.choice("reason_code", _holds.LEGAL_REASONS)
    ends_on = form.date("ends_on", required=True)
    note = form.text("note", max_length=MAX_NOTE)
    purpose = form.choice("purpose", [p.code for p in _purposes()], required=False)
    roles = form.choices("roles", HOLD_ROLES) or ["dpo"]
    return _change(
        subject_id,
        form,
        "hold",
        "hold_placed",
        "holds",
        "place_hold",
        reason_code=reason,
        ends_at=end_of_day(ends_on, time_zone()) if ends_on else None,
        note=note,
        purpose=purpose,
        roles=roles,
    )


@blp.route("/subjects/<subject_id>/holds/<hold_id>/release", methods=["POST"])
@requires("holds_change")
def release_hold(subject_id: str, hold_id: str) -> Response:
    form = read_form({"reason_code"})
    reason = form.choice("reason_code", _holds.RELEASE_REASONS)
    return _change(
        subject_id,
        form,
        f"release:{hold_id}",
        "hold_released",
        "holds",
        "release_hold",
        hold_id=hold_id,
        reason_code=reason,
    )


@blp.route("/subjects/<subject_id>/lift-restriction", methods=["POST"])
@requires("holds_change")
def lift_restriction(subject_id: str) -> Response:
    form = read_form({"reason_code", "note"})
    reason = form.choice("reason_code", LIFT_REASONS)
    note = form.text("note", max_length=MAX_NOTE)
    return _change(
        subject_id,
        form,
        "lift",
        "restriction_lifted",
        "state",
        "lift_restriction",
        reason_code=reason,
        note=note,
    )


@blp.route("/subjects/<subject_id>/close", methods=["POST"])
@requires("holds_change")
def close(subject_id: str) -> Response:
    form = read_form({"confirm"})
    if not form.flag("confirm"):
        form.fail("confirm", "subjects.confirm_close")
    return _change(subject_id, form, "close", "relationship_closed", "state", "close_relationship")
