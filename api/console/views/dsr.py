"""Data-subject requests: list, file, verify identity, approve or reject, carry out, download.

Carrying a request out is two steps: the review page says what will happen
(for an erasure: whether a hold applies, so the subject is restricted and the
shred scheduled, or the data is shredded now), then the DPO confirms. An
erasure needs four eyes (:mod:`access.gate`): the first DPO's confirmation
files the ``dsr.erasure`` request and is refused naming it; a second DPO's
confirmation approves it and carries the erasure out. Downloading an access
package likewise needs the DPO's own grant, approved by another DPO: the
download link (a GET) only says so, naming the DPO's pending request; the
"ask for approval" button (a POST) files it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Response, request

from access.errors import ApprovalRequired, NoPerson
from access.gate import FourEyes
from access.model import DSR_ERASURE, Acting
from api.console import i18n
from api.console.context import actor, container, domain, lang, request_id, service, t
from api.console.web import blp, done, page, read_form, requires
from api.console.wording import error_text, ft, local_time, options, purpose_label
from api.dsr import package_file_name
from consent import access, dsr
from piivault.errors import Conflict, NotFound, PiivaultError, ValidationFailed
from piivault.printing import PrinterUnavailable
from privacy.model import CHANNELS, MAX_NOTE

FILTERS = ("open", "overdue", "completed", "rejected", "all")
CORRECTION_ROWS = 3
# Four eyes' refusals are shown on the page too: they name the request another DPO approves.
_FIXABLE = (ValidationFailed, Conflict, NotFound, ApprovalRequired, NoPerson)


def _error(error: PiivaultError) -> str:
    if isinstance(error, ApprovalRequired) and error.approval_id is None:
        return t("dsr.package_ask_first")  # nothing pending yet: the page's button asks
    if isinstance(error, ApprovalRequired):
        return t("dsr.approval_required", approval_id=error.approval_id)
    if isinstance(error, NoPerson):
        return t("dsr.no_person")
    return error_text(error)


@blp.route("/dsr")
@requires("dsr")
def dsr_list() -> Response:
    show = request.args.get("show", "open")
    kind = request.args.get("type") or None
    if show not in FILTERS or (kind is not None and kind not in dsr.TYPES):
        show, kind = "open", None
    consent = domain("consent")
    with container().uow() as uow:
        if show == "open":
            found = [
                r
                for state in dsr.OPEN
                for r in consent.search_requests(uow, actor(), state=state, type_=kind, limit=dsr.MAX_PAGE)
            ]
        elif show == "overdue":
            found = consent.search_requests(uow, actor(), overdue=True, type_=kind, limit=dsr.MAX_PAGE)
        else:
            state = None if show == "all" else show
            found = consent.search_requests(uow, actor(), state=state, type_=kind, limit=dsr.MAX_PAGE)
    found.sort(key=lambda r: (r["due_at"], r["dsr_id"]))
    return page(
        "dsr_list.html",
        section="dsr",
        requests=found,
        show=show,
        kind=kind,
        filters=FILTERS,
        types=dsr.TYPES,
    )


@blp.route("/dsr/new", methods=["GET", "POST"])
@requires("dsr")
def dsr_new() -> Response:
    if request.method == "GET":
        subject_id = request.args.get("subject_id", "")
        return _new_page(values={"subject_id": subject_id if len(subject_id) <= 64 else ""})
    form = read_form({"subject_id", "type", "channel", "note"})
    subject_id = form.text("subject_id", required=True, max_length=64)
    kind = form.choice("type", dsr.TYPES)
    channel = form.choice("channel", CHANNELS)
    note = form.text("note", max_length=MAX_NOTE)
    # Keep what was chosen, except the subject id field: it may hold a mistyped identifier.
    kept = {"type": kind, "channel": channel}
    if not form.ok:
        return _new_page(errors=form.errors, values=kept, status=422)
    try:
        with container().uow() as uow:
            created = domain("consent").create_request(
                uow, actor(), subject_id, kind, channel=channel, note=note, request_id=request_id()
            )
    except _FIXABLE as e:
        return _new_page(values=kept, error=_error(e), status=e.http_status)
    return done("console.dsr_detail", "dsr_created", dsr_id=created["dsr_id"])


def _new_page(*, status: int = 200, **context: Any) -> Response:
    return page(
        "dsr_new.html",
        status=status,
        section="dsr",
        type_options=options("dsr.type.", dsr.TYPES),
        channel_options=options("channel.", CHANNELS),
        **context,
    )


@blp.route("/dsr/<dsr_id>")
@requires("dsr")
def dsr_detail(dsr_id: str) -> Response:
    return _detail(dsr_id)


def _detail(dsr_id: str, *, status: int = 200, **context: Any) -> Response:
    with container().uow() as uow:
        found = domain("consent").get_request(uow, actor(), dsr_id, request_id=request_id())
    return page(
        "dsr_detail.html",
        status=status,
        section="dsr",
        r=found,
        methods=options("dsr.method.", dsr.IDENTITY_METHODS),
        reject_reasons=options("dsr.reject.", dsr.REJECT_REASONS),
        outcome_label=outcome_label,
        outcome_value=outcome_value,
        **context,
    )


def outcome_label(key: str) -> str:
    """What an outcome entry means, in the user's language (the stored key on hover)."""
    full = f"dsr.outcome.{key}"
    return t(full) if i18n.has(full) else key


def outcome_value(key: str, value: Any) -> str:
    """An outcome's value in words: times in the user's zone, field types and purposes by name."""
    if key == "action" and i18n.has(f"dsr.outcome_action.{value}"):
        return t(f"dsr.outcome_action.{value}")
    if key == "package":
        return t("dsr.outcome_package")
    if key == "shred_due_at" and isinstance(value, str):
        return local_time(dt.datetime.fromisoformat(value))
    if isinstance(value, bool):
        return t("common.yes") if value else t("common.no")
    if isinstance(value, list):
        names = {"field_types": ft, "withdrawn": purpose_label}.get(key, str)
        return t("common.list_sep").join(names(v) for v in value) if value else "—"
    return str(value)


def _advance(dsr_id: str, to_state: str, form_name: str, ok: str, **kwargs: Any) -> Response:
    try:
        with container().uow() as uow:
            domain("consent").advance_request(
                uow, actor(), dsr_id, to_state, request_id=request_id(), **kwargs
            )
    except _FIXABLE as e:
        return _detail(dsr_id, status=e.http_status, error=_error(e))
    return done("console.dsr_detail", ok, dsr_id=dsr_id)


@blp.route("/dsr/<dsr_id>/verify", methods=["POST"])
@requires("dsr")
def dsr_verify(dsr_id: str) -> Response:
    form = read_form({"method", "note"})
    method = form.choice("method", dsr.IDENTITY_METHODS)
    note = form.text("note", max_length=MAX_NOTE)
    if not form.ok:
        return _detail(dsr_id, status=422, errors={"verify": form.errors})
    return _advance(dsr_id, dsr.VERIFIED, "verify", "dsr_verified", method=method, note=note)


@blp.route("/dsr/<dsr_id>/approve", methods=["POST"])
@requires("dsr")
def dsr_approve(dsr_id: str) -> Response:
    form = read_form({"note"})
    note = form.text("note", max_length=MAX_NOTE)
    if not form.ok:
        return _detail(dsr_id, status=422, errors={"approve": form.errors})
    return _advance(dsr_id, dsr.APPROVED, "approve", "dsr_approved", note=note)


@blp.route("/dsr/<dsr_id>/reject", methods=["POST"])
@requires("dsr")
def dsr_reject(dsr_id: str) -> Response:
    form = read_form({"reason_code", "note"})
    reason = form.choice("reason_code", dsr.REJECT_REASONS)
    note = form.text("note", max_length=MAX_NOTE)
    if not form.ok:
        return _detail(dsr_id, status=422, errors={"reject": form.errors})
    return _advance(dsr_id, dsr.REJECTED, "reject", "dsr_rejected", reason_code=reason, note=note)


@blp.route("/dsr/<dsr_id>/execute", methods=["GET", "POST"])
@requires("dsr")
def dsr_execute(dsr_id: str) -> Response:
    """GET: what carrying the request out will do; POST: do it."""
    if request.method == "GET":
        return _review(dsr_id)
    fields = {"note", "confirm"} | {f"{k}_{i}" for k in ("token", "value") for i in range(CORRECTION_ROWS)}
    form = read_form(fields)
    note = form.text("note", max_length=MAX_NOTE)
    corrections = []
    for i in range(CORRECTION_ROWS):
        token = form.text(f"token_{i}", max_length=128)
        value = form.secret(f"value_{i}", required=token is not None)
        if token is not None and value is not None:
            corrections.append({"token": token, "value": value})
        elif value is not None:
            form.fail(f"token_{i}", "form.required")
    if not form.flag("confirm") and _type_of(dsr_id) == "erasure":
        # Irreversible: the DPO ticks that they have read what will happen.
        form.fail("confirm", "dsr.confirm_required")
    if not form.ok:
        return _review(dsr_id, status=422, errors=form.errors)
    try:
        if _type_of(dsr_id) == "erasure":
            # The erasure review is the approval step: a second DPO confirming approves the
            # first one's dsr.erasure request (their own is refused, approval_required).
            me = actor()
            FourEyes(domain("access")).approve_pending(
                Acting(me.person, me.role, me.name), DSR_ERASURE, dsr_id, request_id=request_id()
            )
        with container().uow() as uow:
            domain("consent").advance_request(
                uow,
                actor(),
                dsr_id,
                dsr.COMPLETED,
                corrections=corrections or None,
                note=note,
                request_id=request_id(),
            )
    except _FIXABLE as e:
        # The values typed for a correction are not put back into the form.
        return _review(dsr_id, status=e.http_status, error=_error(e))
    return done("console.dsr_detail", "dsr_completed", dsr_id=dsr_id)


def _type_of(dsr_id: str) -> str:
    with container().uow() as uow:
        return domain("consent").get_request(uow, actor(), dsr_id, audit=False)["type"]


def _review(dsr_id: str, *, status: int = 200, **context: Any) -> Response:
    consent = domain("consent")
    with container().uow() as uow:
        found = consent.get_request(uow, actor(), dsr_id, request_id=request_id())
    preview = None
    standing: list[dict[str, Any]] = []
    if found["state"] == dsr.APPROVED and found["type"] == "erasure":
        preview = service().erasure_preview(found["subject_id"])
    elif found["state"] == dsr.APPROVED and found["type"] == "withdraw_all":
        with container().uow() as uow:
            held = consent.consents_of(uow, actor(), found["subject_id"], request_id=request_id())
        standing = [c for c in held["consents"] if c["state"] != "withdrawn"]
    return page(
        "dsr_execute.html",
        status=status,
        section="dsr",
        r=found,
        preview=preview,
        standing=standing,
        correction_rows=range(CORRECTION_ROWS),
        **context,
    )


@blp.route("/dsr/<dsr_id>/package")
@requires("dsr")
def dsr_package(dsr_id: str) -> Response:
    """The access package, or the customer's copy (in the page's language unless ``lang`` says
    otherwise; values masked unless ``values=plain``), as a download (the service audits it:
    dsr.access_package)."""
    fmt = request.args.get("format", "json")
    if fmt not in access.FORMATS:
        fmt = "json"
    language = request.args.get("lang", "zh-CN" if lang() == "zh" else "en")
    values = request.args.get("values", "masked")
    try:
        with container().uow() as uow:
            content, media_type = domain("consent").access_package(
                uow, actor(), dsr_id, fmt, request_id=request_id(), language=language, values=values
            )
    except _FIXABLE as e:
        return _detail(dsr_id, status=e.http_status, error=_error(e))
    except PrinterUnavailable:
        # No Chromium on this server (docs/operations.md): the HTML copy prints the same.
        return _detail(dsr_id, status=503, error=t("dsr.printer_unavailable"))
    response = Response(content, mimetype=media_type.split(";")[0])
    name = package_file_name(dsr_id, {"format": fmt, "lang": language})
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/dsr/<dsr_id>/package/approval", methods=["POST"])
@requires("dsr")
def dsr_package_ask(dsr_id: str) -> Response:
    """Ask another DPO to approve this DPO's download of the package (files dsr.package)."""
    read_form(set())
    try:
        found, _ = domain("consent").ask_package_approval(actor(), dsr_id, request_id=request_id())
    except _FIXABLE as e:
        return _detail(dsr_id, status=e.http_status, error=_error(e))
    if found.grant_id is not None:  # four eyes off for dsr.package: approved as asked
        return done("console.dsr_detail", "dsr_package_granted", dsr_id=dsr_id)
    return done("console.dsr_detail", "dsr_package_asked", dsr_id=dsr_id)


@blp.route("/dsr/<dsr_id>/certificate")
@requires("dsr")
def dsr_certificate(dsr_id: str) -> Response:
    """A completed erasure's signed certificate as a download (``piivault consent verify`` checks it)."""
    with container().uow() as uow:
        found = domain("consent").get_request(uow, actor(), dsr_id, request_id=request_id())
    certificate = found.get("certificate")
    if certificate is None:
        return page("error.html", status=404, title_key="notfound.title", message_key="dsr.no_certificate")
    body = json.dumps(certificate, ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{found["certificate_id"]}.json"'
    return response
