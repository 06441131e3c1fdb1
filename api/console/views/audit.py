"""The audit log: verify it, show and download the latest signed checkpoint, search events.

As over the API, searching is itself audited (``audit.read``) and so is
verifying (``audit.verify``, which records the result in the log it checked).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, request

from api.console.context import container, domain, request_id, service, signed_in, time_zone
from api.console.forms import Form
from api.console.i18n import EVENTS
from api.console.web import blp, page, requires
from api.console.wording import actor_code
from audit.service import READ_ACTION
from piivault.errors import NotFound

PAGE_SIZE = 50
SEARCH_FIELDS = {"subject", "actor", "action", "since", "until", "cursor"}


@blp.route("/audit")
@requires("audit")
def audit() -> Response:
    form = Form(request.args, SEARCH_FIELDS)
    filters = {
        "subject": form.text("subject", max_length=64),
        "actor": form.text("actor", max_length=128),
        "action": form.text("action", max_length=64),
    }
    since = form.local_time("since", time_zone())
    until = form.local_time("until", time_zone())
    cursor = form.text("cursor", max_length=20)
    searched = any(v is not None for v in (*filters.values(), since, until, cursor))
    tokenization = domain("tokenization")
    for name in ("subject", "actor"):
        # Filters go into the audit.read event: an identifier typed by mistake must not.
        if filters[name] is not None and tokenization.looks_like_identifier(filters[name]):
            form.fail(name, "audit.filter_identifier")
    if form.ok and filters["actor"] is not None:
        filters["actor"] = actor_code(filters["actor"])  # a name as the console shows it
    if cursor is not None and not cursor.isdigit():
        form.fail("cursor", "form.invalid")
    if since is not None and until is not None and since > until:
        form.fail("until", "audit.window")
    results = None
    if searched and form.ok:
        results = domain("audit").search_events(
            **filters, since=since, until=until, limit=PAGE_SIZE, cursor=cursor, newest_first=True
        )
        with container().uow() as uow:
            domain("audit").record_access(
                uow,
                signed_in().actor,
                READ_ACTION,
                subject_id=filters["subject"],
                request_id=request_id(),
                details={
                    "operation": "search",
                    **{k: v for k, v in filters.items() if v is not None and k != "subject"},
                    **({"since": _iso(since)} if since else {}),
                    **({"until": _iso(until)} if until else {}),
                    "returned": len(results.events),
                },
            )
    return _page(
        status=422 if not form.ok else 200,
        results=results,
        errors=form.errors,
        query={k: request.args.get(k, "") for k in ("subject", "actor", "action", "since", "until")}
        if form.ok
        else {},
    )


@blp.route("/audit/verify", methods=["POST"])
@requires("audit")
def audit_verify() -> Response:
    """Verify the whole log now; the result is recorded (audit.verify) and shown in full."""
    log = domain("audit")
    report = log.verify()
    with container().uow() as uow:
        log.record_verification(uow, signed_in().actor, report, request_id=request_id())
    return _page(report=report.to_dict())


@blp.route("/audit/checkpoint")
@requires("audit")
def audit_checkpoint() -> Response:
    """The latest signed checkpoint note, to keep and check later (``piivault audit verify --checkpoint``)."""
    record = domain("audit").latest_checkpoint()
    if record is None:
        raise NotFound("no checkpoint yet")
    response = Response(record.note, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="checkpoint-{record.size}.note"'
    return response


def _page(*, status: int = 200, **context: Any) -> Response:
    log = domain("audit")
    context.setdefault("results", None)
    context.setdefault("query", {})
    context.setdefault("errors", {})
    return page(
        "audit.html",
        status=status,
        section="audit",
        checkpoint=log.latest_checkpoint(),
        public_key=log.public_key(),
        log_size=log.size(),
        last_verification=log.last_verification(),
        queued=service().overview_queue(),
        event_codes=sorted(EVENTS),
        **context,
    )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
