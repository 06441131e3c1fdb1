"""The access package of a data-subject access request (PIPL art. 45: copy and portability).

JSON (machine-readable, for portability) or a human-readable HTML summary,
built when the DPO downloads it and never stored: the subject's decrypted
values, its risk attributes (age, income, credit grade... as stored for
extracts, decrypted: they are the subject's personal information too), its
consents and their history, its requests and holds, and who used its data
when and for what purpose, from the audit log with RFC 6962 inclusion proofs
against a signed checkpoint (cut just before, so every earlier event is
covered). Each download is audited before it is returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from access.model import DSR_PACKAGE
from audit.events import AuditEvent
from consent import consents, receipts
from consent import tables as t
from piivault.db import UnitOfWork
from privacy import holds, subjects
from privacy import model as m
from privacy.errors import InvalidConsent, InvalidTransition, RequestNotFound
from privacy.guards import four_eyes_gate, require_four_eyes, require_role
from tokenization import tables as tt
from vault import Binding, subject_owner

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session, sessionmaker

    from consent.receipts import Controller
    from fieldtypes import FieldTypeRegistry
    from privacy.attributes import AttributeStore
    from privacy.catalogue import LivePurposeCatalogue
    from vault import Keyring

# json and html: the DPO's package; customer and pdf: the copy for the person (consent.customer_copy).
FORMATS = ("json", "html", "customer", "pdf")
READ_ACTIONS = ("detokenize", "lookup", "dsr.access_package")


@dataclasses.dataclass(frozen=True)
class PackageDeps:
    """What the access package uses: its own sessions, the subject's keys and field types, the
    audit log (the uses of the data, proven), four eyes on each download, the risk attributes,
    and what the customer's copy names (the controller, client names, the time zone)."""

    session_factory: sessionmaker[Session]
    catalogue: LivePurposeCatalogue
    keyring: Keyring
    field_types: FieldTypeRegistry
    controller: Controller
    clock: Callable[[], dt.datetime]
    audit: Any = None  # audit.service.AuditLog
    four_eyes: Any = None  # access.gate.FourEyes; None refuses every download (fail closed)
    subject_attributes: AttributeStore | None = None
    # client id -> the name an admin gave it, read in the caller's session
    client_names: Callable[[Session], dict[str, str]] | None = None
    time_zone: str = "Asia/Shanghai"


def download(
    deps: PackageDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    dsr_id: str,
    fmt: str = "json",
    *,
    request_id: str | None = None,
    language: str = "zh-CN",
    values: str = "masked",
) -> tuple[str | bytes, str]:
    """The package of an approved or completed access request: ``(content, media type)``.

    ``fmt`` json or html: the DPO's package; customer (HTML) or pdf: the copy for the person,
    in ``language`` (zh-CN, en) with its values ``masked`` (default) or ``plain``
    (:mod:`consent.customer_copy`). Every format goes through the same gate and is audited alike.
    The DPO downloading needs a grant of their own for ``dsr.package`` on this
    request, approved by another DPO (four eyes, :mod:`access.gate`), live in
    the transaction that reads the package and again once the copy is rendered
    (a PDF prints for seconds), locked from then until the commit: a grant
    revoked a moment before, or while printing, lets nothing through. Without
    one nothing is written (a download is a read): the refusal names the DPO's
    pending request, or how to ask for one (:func:`ask_approval`). Raises
    NotAllowed, ApprovalRequired, NoPerson, InvalidConsent (format, language,
    values), RequestNotFound,
    InvalidTransition (not an access request, or not approved yet),
    SubjectGone, VaultUnavailable, StorageUnavailable, LogCorrupt, PrinterUnavailable (pdf).
    """
    from consent import customer_copy

    if fmt not in FORMATS:
        raise InvalidConsent(f"format must be one of: {', '.join(FORMATS)}")
    if language not in customer_copy.LANGUAGES:
        raise InvalidConsent(f"language must be one of: {', '.join(customer_copy.LANGUAGES)}")
    if values not in customer_copy.VALUE_MODES:
        raise InvalidConsent(f"values must be one of: {', '.join(customer_copy.VALUE_MODES)}")
    subject_id = _package_request(deps, actor, dsr_id, "download access packages")
    # Refused early, before the checkpoint below writes, when there is no grant at all.
    with deps.session_factory() as s:
        require_four_eyes(deps.four_eyes, s, actor, DSR_PACKAGE, dsr_id, request_id)
    # Proofs against a checkpoint covering everything logged so far (own transactions,
    # before this unit of work writes).
    access_log: dict[str, Any] | None = None
    if deps.audit is not None:
        if deps.audit.sequences_inline:
            deps.audit.checkpoint_now()
        else:  # the sequencer loop cuts it (under deploy/'s grants the API may not)
            deps.audit.await_checkpoint(actor.name, request_id=request_id)
        access_log = deps.audit.export_subject(subject_id).to_dict()
    session = uow.session
    assert session is not None
    # The grant that counts: read again in the transaction that reads the values.
    approval = require_four_eyes(deps.four_eyes, session, actor, DSR_PACKAGE, dsr_id, request_id)
    package = _build(deps, session, subject_id, dsr_id, access_log)
    # Rendered before the event is recorded: a copy that cannot be made is not logged as given.
    content, media_type = _render(deps, session, package, fmt, language, values)
    # Printing a PDF takes seconds: a grant revoked (or expired) meanwhile lets nothing out.
    # The same decision again, its grant locked until the commit, so a revocation from now on
    # waits and is ordered after the release.
    approval = require_four_eyes(deps.four_eyes, session, actor, DSR_PACKAGE, dsr_id, request_id, lock=True)
    copy = {"language": language, "values": values} if fmt in ("customer", "pdf") else {}
    uow.record(
        AuditEvent(
            action="dsr.access_package",
            actor=actor.name,
            subject_id=subject_id,
            field_types=tuple(sorted({v["field_type"] for v in package["values"]})),
            request_id=request_id,
            details={
                "dsr_id": dsr_id,
                "format": fmt,
                **({"copy": copy} if copy else {}),
                "values": len(package["values"]),
                "attributes": len(package["attributes"]),
                **approval,
            },
        )
    )
    uow.commit()
    return content, media_type


def _render(
    deps: PackageDeps, session: Any, package: dict[str, Any], fmt: str, language: str, values: str
) -> tuple[str | bytes, str]:
    if fmt == "json":
        return json.dumps(package, ensure_ascii=False, indent=2, default=_json_default), "application/json"
    if fmt == "html":
        return render_html(package), "text/html; charset=utf-8"
    from consent import customer_copy
    from privacy import purposes as privacy_purposes

    registry = deps.field_types

    def field_type_name(code: str, lang: str) -> str:
        found = registry.get(code) if code in registry.codes() else None
        return code if found is None else (found.names.zh if lang == "zh" else found.names.en)

    def mask(code: str, value: str) -> str:
        return registry.get(code).mask(value)

    wording = customer_copy.Wording(
        purposes=privacy_purposes.all_purposes(session),
        field_type_name=field_type_name,
        mask=mask,
        client_names=deps.client_names(session) if deps.client_names is not None else {},
        time_zone=deps.time_zone,
    )
    page = customer_copy.render(package, wording, language=language, values=values)
    if fmt == "customer":
        return page, "text/html; charset=utf-8"
    from piivault.printing import html_to_pdf

    return html_to_pdf(page, footer=package["dsr_id"]), "application/pdf"


def ask_approval(
    deps: PackageDeps, actor: m.Actor, dsr_id: str, *, request_id: str | None = None
) -> tuple[Any, bool]:
    """Ask another DPO to approve the acting DPO's download of this request's package: their
    pending ``dsr.package`` request, or one filed now; and whether it was filed now.

    Raises NotAllowed, NoPerson, RequestNotFound, InvalidTransition (as
    :func:`download`), ConfigurationError (no approval gate wired), StorageUnavailable.
    """
    from access.model import Acting

    _package_request(deps, actor, dsr_id, "ask for access packages")
    return four_eyes_gate(deps.four_eyes, DSR_PACKAGE).ask(
        Acting(actor.person, actor.role, actor.name), DSR_PACKAGE, dsr_id, request_id=request_id
    )


def _package_request(deps: PackageDeps, actor: m.Actor, dsr_id: str, what: str) -> str:
    """The subject of an access request whose package may be had now (approved or completed)."""
    require_role(actor, m.DSR_ROLES, what)
    deps.catalogue.ensure_seeded()
    with deps.session_factory() as s:
        row = s.execute(sa.select(t.dsr_requests).where(t.dsr_requests.c.dsr_id == dsr_id)).first()
    if row is None:
        raise RequestNotFound("no such data-subject request")
    if row.type != "access":
        raise InvalidTransition("only access requests have a package")
    if row.state not in ("approved", "completed"):
        raise InvalidTransition("the package is available once the request is approved")
    return row.subject_id


def _json_default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if iso is not None:
        return m.iso(value)
    raise TypeError(type(value).__name__)


def _build(
    deps: PackageDeps, session: Any, subject_id: str, dsr_id: str, access_log: dict[str, Any] | None
) -> dict[str, Any]:
    now = deps.clock()
    row = subjects.get(session, subject_id)
    values = []
    risk_attributes: list[dict[str, Any]] = []
    if row is not None and row.state != subjects.ERASED:
        k = tt.tokens.c
        tokens = session.execute(
            sa.select(k.token, k.kind, k.field_type, k.sealed, k.created_at)
            .where(k.subject_id == subject_id, k.sealed.is_not(None))
            .order_by(k.field_type, k.created_at, k.token)
        ).all()
        # Values held need the key (SubjectShredded if it is gone); attributes alone may have none.
        key = deps.keyring.data_keys(session, [subject_owner(subject_id)]).get(subject_owner(subject_id))
        if tokens:
            key = key or deps.keyring.subject_key(session, subject_id)
            for token, kind, field_type, sealed, created_at in tokens:
                value = key.open(bytes(sealed), Binding(subject_id, field_type, token)).decode("utf-8")
                values.append(
                    {
                        "field_type": field_type,
                        "token": token,
                        "kind": kind,
                        "value": value,
                        "stored_at": created_at,
                    }
                )
        held = None
        if key is not None and deps.subject_attributes is not None:
            held = deps.subject_attributes.of_subject(session, key, subject_id)
        if held is not None:
            document, stored_at = held
            risk_attributes = [
                {"name": name, "value": value, "stored_at": stored_at}
                for name, value in sorted(document.items())
            ]
    requests = [
        {
            "dsr_id": r.dsr_id,
            "type": r.type,
            "state": r.state,
            "received_at": r.received_at,
            "due_at": r.due_at,
            "closed_at": r.closed_at,
        }
        for r in session.execute(
            sa.select(t.dsr_requests)
            .where(t.dsr_requests.c.subject_id == subject_id)
            .order_by(t.dsr_requests.c.received_at)
        )
    ]
    uses = []
    if access_log is not None:
        for event in access_log["events"]:
            body = event["event"]
            if body["action"] in READ_ACTIONS:
                uses.append(
                    {
                        "time": body["time"],
                        "who": body["actor"],
                        "action": body["action"],
                        "purpose": body["purpose"],
                        "field_types": body["field_types"],
                        "outcome": body["outcome"],
                        "reason": body["reason"],
                        "seq": event["seq"],
                        "proven": event["inclusion_proof"] is not None,
                    }
                )
    return {
        "package": "piivault access package v1",
        "dsr_id": dsr_id,
        "generated_at": now,
        "controller": deps.controller.as_kantara(),
        "subject": {
            "subject_id": subject_id,
            "state": None if row is None else row.state,
            "created_at": None if row is None else row.created_at,
            "closed_at": None if row is None else row.closed_at,
        },
        "values": values,
        "attributes": risk_attributes,
        "consents": {
            "current": [s.to_dict() for s in consents.current_all(session, subject_id, now)],
            "history": consents.history(session, subject_id),
        },
        "requests": requests,
        "holds": [{k: v for k, v in h.items() if k != "note"} for h in holds.of_subject(session, subject_id)],
        "uses": uses,
        "audit_log": access_log,
        "receipt_public_key": receipts.public_key_b64(
            deps.keyring.signer(session, receipts.SIGNING_KEY).public_key
        ),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "isoformat"):
        return html.escape(m.iso(value) or "")
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _table(headers: list[tuple[str, str]], rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(key))}</td>" for key, _ in headers) + "</tr>" for r in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">无 / none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(package: dict[str, Any]) -> str:
    """A self-contained, human-readable summary of the package (every value escaped)."""
    subject = package["subject"]
    parts = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        "<title>个人信息副本 / Personal information access package</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style></head><body>",
        "<h1>个人信息副本 / Personal information access package</h1>",
        f"<p>请求 / Request: {_cell(package['dsr_id'])} · 生成时间 / Generated: "
        f"{_cell(package['generated_at'])} · 个人信息处理者 / Controller: "
        f"{_cell(package['controller']['piiController'])}</p>",
        f"<p>主体 / Subject: {_cell(subject['subject_id'])} · 状态 / State: {_cell(subject['state'])}</p>",
        "<h2>我们持有的个人信息 / Personal information we hold</h2>",
        _table(
            [("field_type", "类型 / Type"), ("value", "值 / Value"), ("stored_at", "存储于 / Stored")],
            package["values"],
        ),
        "<h3>风险属性 / Risk attributes</h3>",
        _table(
            [("name", "属性 / Attribute"), ("value", "值 / Value"), ("stored_at", "存储于 / Stored")],
            package["attributes"],
        ),
        "<h2>同意 / Consents</h2>",
        _table(
            [
                ("purpose", "目的 / Purpose"),
                ("state", "状态 / State"),
                ("notice_version", "告知版本 / Notice"),
                ("effective_at", "生效 / Since"),
                ("expires_at", "到期 / Expires"),
            ],
            package["consents"]["current"],
        ),
        "<h3>同意记录 / Consent history</h3>",
        _table(
            [
                ("effective_at", "时间 / Time"),
                ("purpose", "目的 / Purpose"),
                ("action", "操作 / Action"),
                ("channel", "渠道 / Channel"),
                ("notice_version", "告知版本 / Notice"),
            ],
            package["consents"]["history"],
        ),
        "<h2>谁在何时为何使用了您的信息 / Who used your data, when and why</h2>",
        _table(
            [
                ("time", "时间 / Time"),
                ("who", "使用者 / Who"),
                ("purpose", "目的 / Purpose"),
                ("field_types", "类型 / Types"),
                ("outcome", "结果 / Outcome"),
            ],
            package["uses"],
        ),
        "<h2>请求 / Requests</h2>",
        _table(
            [("type", "类型 / Type"), ("state", "状态 / State"), ("received_at", "收到 / Received")],
            package["requests"],
        ),
        "<p>审计记录附有包含证明，可用公布的公钥离线验证。/ Each audit entry in the JSON package "
        "carries an inclusion proof verifiable offline with the published key.</p>",
        "</body></html>",
    ]
    return "".join(parts)
