"""Purposes: the catalogue, creating one, editing one (a new version), publishing a notice."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from access.model import Acting
from api.console.context import actor, container, domain, request_id, signed_in
from api.console.forms import Form
from api.console.web import blp, can, done, forbidden, page, read_form, requires
from api.console.wording import error_text, ft, options
from piivault.errors import Conflict, Forbidden, NotFound, ValidationFailed
from privacy.model import HOLD_ROLES, LEGAL_BASES, MAX_NAME, MAX_TEXT, RETENTION_ANCHORS, SEPARATE_GROUNDS
from privacy.purposes import UPDATABLE

_FIXABLE = (ValidationFailed, Conflict, NotFound, Forbidden)
# The form's fields: what the consent service lets change, plus "every field type" (no list).
DEFINITION_FIELDS = (UPDATABLE - {"retired"}) | {"all_field_types"}


@blp.route("/purposes")
def purposes() -> Response:
    with container().uow() as uow:
        found = domain("consent").list_purposes(uow, include_retired=True)
    return page("purposes.html", section="purposes", purposes=found)


@blp.route("/purposes/new", methods=["GET", "POST"])
@requires("purposes_change")
def purpose_new() -> Response:
    if request.method == "GET":
        return _form_page(None, values={"consent_required": True, "all_field_types": True})
    form = read_form(DEFINITION_FIELDS | {"code", "notice_zh", "notice_en"})
    spec = _definition(form)
    spec["code"] = form.text("code", required=True, max_length=64)
    spec["notice"] = {
        "text_zh": form.text("notice_zh", required=True, max_length=MAX_TEXT),
        "text_en": form.text("notice_en", max_length=MAX_TEXT),
    }
    if not form.ok:
        return _form_page(None, values=_echo(spec), errors=form.errors, status=422)
    try:
        with container().uow() as uow:
            created = domain("consent").create_purpose(uow, actor(), spec, request_id=request_id())
    except _FIXABLE as e:
        return _form_page(None, values=_echo(spec), error=error_text(e), status=e.http_status)
    return done("console.purpose_edit", "purpose_created", code=created.code)


@blp.route("/purposes/<code>", methods=["GET", "POST"])
def purpose_edit(code: str) -> Response:
    with container().uow() as uow:
        purpose = domain("consent").get_purpose(uow, code)
    if request.method == "GET":
        return _form_page(purpose, values=_values_of(purpose))
    if not can("purposes_change"):
        return forbidden()
    form = read_form(DEFINITION_FIELDS | {"retired"})
    changes = _definition(form)
    changes["retired"] = form.flag("retired")
    if not form.ok:
        return _form_page(purpose, values=_echo(changes), errors=form.errors, status=422)
    user = signed_in().user
    try:
        with container().uow() as uow:
            found = domain("consent").change_purpose(
                uow,
                actor(),
                code,
                changes,
                acting=Acting(user.username, user.role, user.actor),
                request_id=request_id(),
            )
    except _FIXABLE as e:
        return _form_page(purpose, values=_echo(changes), error=error_text(e), status=e.http_status)
    # A change that widens access waits for another DPO's approval (privacy.widening).
    pending = found.approval is not None and found.approval.state == "pending"
    return done("console.purpose_edit", "purpose_widen_pending" if pending else "purpose_updated", code=code)


@blp.route("/purposes/<code>/notices", methods=["POST"])
@requires("purposes_change")
def notice_publish(code: str) -> Response:
    with container().uow() as uow:
        purpose = domain("consent").get_purpose(uow, code)
    form = read_form({"text_zh", "text_en", "material"})
    text_zh = form.text("text_zh", required=True, max_length=MAX_TEXT)
    text_en = form.text("text_en", max_length=MAX_TEXT)
    material = form.flag("material")
    if not form.ok:
        return _form_page(purpose, values=_values_of(purpose), notice_errors=form.errors, status=422)
    try:
        with container().uow() as uow:
            domain("consent").publish_notice(
                uow,
                actor(),
                code,
                text_zh=text_zh,
                text_en=text_en,
                material=material,
                request_id=request_id(),
            )
    except _FIXABLE as e:
        return _form_page(purpose, values=_values_of(purpose), error=error_text(e), status=e.http_status)
    return done("console.purpose_edit", "notice_published", code=code, _anchor="notices")


def _definition(form: Form) -> dict[str, Any]:
    """The purpose definition as the consent service takes it; the service checks the rules."""
    all_types = form.flag("all_field_types")
    field_types = form.choices("field_types", domain("tokenization").field_types.codes())
    years = form.integer("retention_years", lo=1, hi=100)
    anchor = form.choice("retention_anchor", RETENTION_ANCHORS, required=False)
    return {
        "name_zh": form.text("name_zh", required=True, max_length=MAX_NAME),
        "name_en": form.text("name_en", required=True, max_length=MAX_NAME),
        "legal_basis": form.choice("legal_basis", LEGAL_BASES),
        "consent_required": form.flag("consent_required"),
        "separate_consent_required": form.flag("separate_consent_required"),
        "separate_grounds": form.choices("separate_grounds", SEPARATE_GROUNDS),
        "third_parties": form.lines("third_parties", max_items=32, max_length=MAX_NAME),
        "field_types": None if all_types else field_types,
        "retention": form.text("retention", required=True, max_length=MAX_NAME),
        "retention_anchor": anchor,
        "retention_years": years,
        "hold_roles": form.choices("hold_roles", HOLD_ROLES),
        "description": form.text("description", max_length=MAX_TEXT) or "",
        "reconsent_grace": form.flag("reconsent_grace"),
    }


def _echo(spec: dict[str, Any]) -> dict[str, Any]:
    """What to show in the form again after an error (definitions hold no personal data)."""
    values = dict(spec)
    values["all_field_types"] = spec.get("field_types") is None
    values["field_types"] = spec.get("field_types") or []
    notice = spec.get("notice") or {}
    values["notice_zh"], values["notice_en"] = notice.get("text_zh"), notice.get("text_en")
    return values


def _values_of(purpose: Any) -> dict[str, Any]:
    values = purpose.definition()
    values["all_field_types"] = purpose.field_types is None
    values["field_types"] = list(purpose.field_types or [])
    values["retired"] = not purpose.active
    return values


def _form_page(purpose: Any, *, status: int = 200, **context: Any) -> Response:
    notices: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    if purpose is not None:
        with container().uow() as uow:
            notices = domain("consent").list_notices(uow, purpose.code)
            history = domain("consent").purpose_history(uow, purpose.code)
    return page(
        "purpose_form.html",
        status=status,
        section="purposes",
        purpose=purpose,
        notices=list(reversed(notices)),
        history=list(reversed(history)),
        legal_bases=options("legal_basis.", LEGAL_BASES),
        grounds=options("separate_ground.", SEPARATE_GROUNDS),
        field_type_options=[(c, f"{ft(c)} ({c})") for c in domain("tokenization").field_types.codes()],
        hold_roles=options("role.", HOLD_ROLES),
        anchors=options("retention_anchor.", RETENTION_ANCHORS),
        **context,
    )
