"""``/v1/audit``: the audit log over HTTP, for the roles ``auditor`` and ``dpo`` only.

Thin views over :class:`audit.service.AuditLog`; the CLI (``piivault audit ...``)
offers the same functions. Hashes are lowercase hex, as the CLI prints them;
checkpoint notes are C2SP ``tlog-checkpoint`` text, whose root is base64 by that
format. Proofs default to the latest signed checkpoint, so a client needs only
the public key to check them (:mod:`audit.proof`, :mod:`audit.note`).

What is itself audited, and why:

* reading events out of the log is: every search page, inclusion proof (it
  returns the event), exposure report and subject export records one
  ``audit.read`` event (``details.operation`` says which), committed before the
  answer leaves; if it cannot be written the caller gets a 503, not the data.
  One event per request, not per event returned: a page holds up to 1,000
  events, so paging through the log adds at most one event per thousand read.
  Searches and exports by subject carry that ``subject_id``, so a subject's
  own export shows who looked them up.
* verifying (``audit.verify``, carrying the result) and cutting a checkpoint
  (``audit.checkpoint``) are.
* the latest checkpoint, the public key and consistency proofs are not: they
  are the log's published commitments and hold no event content.

Filters that name a subject or an actor must look like ids, not like a mobile,
resident ID or card number: they are written into the audit event above.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import FullMatch, Schema
from api.tokens import request_id
from audit.errors import EventNotFound
from audit.note import NoteError, key_id, parse_verifier_key, verifier_key_string
from audit.service import CHECKPOINT_ACTION, MAX_PAGE, READ_ACTION, AuditLog
from audit.store import CheckpointRecord
from audit.tiles import parse_path as parse_tile_path
from audit.tiles import read_checkpoint as read_tiles_checkpoint
from audit.tiles import read_tile
from piivault.db import utcnow
from piivault.errors import NotFound, ValidationFailed

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/v1/audit",
    description="The tamper-evident audit log: signed checkpoints, the public key, event search, "
    "inclusion and consistency proofs, exposure reports, subject exports and verification "
    "(roles auditor and dpo).",
)
ROLES = ("auditor", "dpo")
MAX_INT64 = (1 << 63) - 1
MAX_NOTE_CHARS = 16_384
_SUBJECT = FullMatch(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}", error="not a subject id")
_ACTOR = FullMatch(r"[A-Za-z0-9][A-Za-z0-9:._\-]{0,127}", error="not an actor (e.g. client:<id>)")
_ACTION = FullMatch(r"[a-z][a-z0-9_.]{0,63}", error="not an action code (e.g. detokenize)")
_COUNT = ma.validate.Range(0, MAX_INT64)
_SIZE = ma.validate.Range(1, MAX_INT64)


class NoCheckpoint(NotFound):
    """No checkpoint has been cut yet: cut one with POST /v1/audit/checkpoint."""

    code = "audit_no_checkpoint"


def audit_log() -> AuditLog:
    return current_container().audit


def _record_read(operation: str, *, subject_id: str | None = None, **details: Any) -> None:
    """Write the ``audit.read`` event for this request and commit; raises what the unit of work raises."""
    with current_container().uow() as uow:
        audit_log().record_access(
            uow,
            current_principal().actor,
            READ_ACTION,
            subject_id=subject_id,
            request_id=request_id(),
            # Absent filters are left out rather than written as nulls.
            details={"operation": operation, **{k: v for k, v in details.items() if v is not None}},
        )


def _not_an_identifier(value: str | None, name: str) -> None:
    """Refuse a filter that is a personal identifier: it would be copied into the audit event.

    The message names the parameter, never the value.
    """
    if value is not None and current_container().tokenization.looks_like_identifier(value):
        raise ValidationFailed(f"{name} must be an id, not a personal identifier")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _check_window(data: dict[str, Any]) -> None:
    since, until = data.get("since"), data.get("until")
    if since is not None and until is not None and since > until:
        raise ma.ValidationError("since must not be after until", "since")


# -- schemas ---------------------------------------------------------------------
_TIME_DESCRIPTION = "RFC 3339 with an offset, e.g. 2026-01-31T09:00:00+08:00"


class AuditCheckpointQuerySchema(Schema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "note"]),
        metadata={
            "description": "json (default), or note: the signed note as text/plain, to save as a "
            "file for `piivault audit verify --checkpoint FILE`"
        },
    )


class AuditCheckpointCreateSchema(Schema):
    """No fields: the checkpoint covers everything queued so far."""


class AuditCheckpointSchema(Schema):
    origin = ma.fields.String(dump_only=True, metadata={"description": "the log's name (first note line)"})
    size = ma.fields.Integer(dump_only=True, metadata={"description": "events the checkpoint commits to"})
    root_hash = ma.fields.String(dump_only=True, metadata={"description": "RFC 6962 root, hex"})
    timestamp = ma.fields.Integer(dump_only=True, metadata={"description": "signing time, Unix seconds"})
    time = ma.fields.String(dump_only=True, metadata={"description": "the same time, RFC 3339"})
    note = ma.fields.String(
        dump_only=True, metadata={"description": "the Ed25519-signed C2SP tlog-checkpoint note"}
    )


class AuditPublicKeySchema(Schema):
    origin = ma.fields.String(dump_only=True, metadata={"description": "the key name, equal to the origin"})
    verifier_key = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "signed-note verifier key <name>+<key id>+<base64(0x01 || key)>; "
            "`piivault audit verify --key` takes it"
        },
    )
    public_key = ma.fields.String(dump_only=True, metadata={"description": "raw Ed25519 key, base64"})
    key_id = ma.fields.String(dump_only=True, metadata={"description": "C2SP key id, 8 hex digits"})
    algorithm = ma.fields.String(dump_only=True, metadata={"enum": ["ed25519"]})


class AuditEventQuerySchema(Schema):
    subject = ma.fields.String(validate=_SUBJECT, metadata={"description": "subject id"})
    actor = ma.fields.String(validate=_ACTOR, metadata={"description": "e.g. client:<client id>"})
    action = ma.fields.String(validate=_ACTION, metadata={"description": "e.g. detokenize, consent.grant"})
    since = ma.fields.AwareDateTime(format="iso", metadata={"description": _TIME_DESCRIPTION + "; inclusive"})
    until = ma.fields.AwareDateTime(format="iso", metadata={"description": _TIME_DESCRIPTION + "; exclusive"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_PAGE))
    cursor = ma.fields.String(
        validate=FullMatch(r"[0-9]{1,18}", error="cursor is not one this service returned"),
        metadata={"description": "next_cursor of the previous page (the last sequence number returned)"},
    )

    @ma.validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_window(data)


class AuditEventSchema(Schema):
    seq = ma.fields.Integer(dump_only=True, metadata={"description": "sequence number = leaf index"})
    time = ma.fields.String(dump_only=True)
    actor = ma.fields.String(dump_only=True)
    action = ma.fields.String(dump_only=True)
    subject_id = ma.fields.String(dump_only=True, allow_none=True)
    purpose = ma.fields.String(dump_only=True, allow_none=True)
    outcome = ma.fields.String(dump_only=True, metadata={"enum": ["success", "denied", "error"]})
    request_id = ma.fields.String(dump_only=True, allow_none=True)
    event = ma.fields.Dict(dump_only=True, metadata={"description": "the logged event, parsed"})
    entry = ma.fields.String(
        dump_only=True, metadata={"description": "the exact canonical JSON that was hashed (the leaf)"}
    )
    leaf_hash = ma.fields.String(dump_only=True, metadata={"description": "SHA-256(0x00 || entry), hex"})


class AuditEventPageSchema(Schema):
    events = ma.fields.List(ma.fields.Nested(AuditEventSchema), dump_only=True)
    next_cursor = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"description": "pass as cursor; null on the last page"}
    )


class AuditProofQuerySchema(Schema):
    tree_size = ma.fields.Integer(
        validate=_SIZE, metadata={"description": "tree size to prove against (default: latest checkpoint)"}
    )


_HASHES = ma.fields.List(ma.fields.String(), dump_only=True, metadata={"description": "hex hashes"})


class AuditInclusionProofSchema(Schema):
    seq = ma.fields.Integer(dump_only=True)
    size = ma.fields.Integer(dump_only=True)
    leaf_hash = ma.fields.String(dump_only=True)
    proof = _HASHES
    root_hash = ma.fields.String(dump_only=True)
    checkpoint = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "the signed note at this size, if one was cut"},
    )
    entry = ma.fields.String(dump_only=True)


class AuditConsistencyQuerySchema(Schema):
    first = ma.fields.Integer(required=True, validate=_COUNT, metadata={"description": "the older size"})
    second = ma.fields.Integer(
        validate=_COUNT, metadata={"description": "the newer size (default: latest checkpoint)"}
    )

    @ma.validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("second") is not None and data["first"] > data["second"]:
            raise ma.ValidationError("first must not be larger than second", "first")


class AuditConsistencyProofSchema(Schema):
    size1 = ma.fields.Integer(dump_only=True)
    size2 = ma.fields.Integer(dump_only=True)
    root1 = ma.fields.String(dump_only=True)
    root2 = ma.fields.String(dump_only=True)
    proof = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={"description": "hex hashes; empty from size 0 (nothing to prove) or between equal sizes"},
    )
    checkpoint1 = ma.fields.String(dump_only=True, allow_none=True)
    checkpoint2 = ma.fields.String(dump_only=True, allow_none=True)


class AuditExposureQuerySchema(Schema):
    actor = ma.fields.String(required=True, validate=_ACTOR, metadata={"description": "e.g. client:<id>"})
    since = ma.fields.AwareDateTime(
        required=True, format="iso", metadata={"description": _TIME_DESCRIPTION + "; inclusive"}
    )
    until = ma.fields.AwareDateTime(
        format="iso", metadata={"description": _TIME_DESCRIPTION + "; exclusive (default: now)"}
    )

    @ma.validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_window(data)


class AuditExposureGrantSchema(Schema):
    grant = ma.fields.String(dump_only=True, metadata={"description": "the grant id"})
    kind = ma.fields.String(dump_only=True, metadata={"enum": ["approval", "break_glass"]})
    approved_by = ma.fields.List(
        ma.fields.String(), dump_only=True, metadata={"description": "the persons whose approvals made it"}
    )
    events = ma.fields.Integer(dump_only=True)


class AuditExposedSubjectSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    events = ma.fields.Integer(dump_only=True)
    first = ma.fields.String(dump_only=True)
    last = ma.fields.String(dump_only=True)
    grants = ma.fields.List(
        ma.fields.Nested(AuditExposureGrantSchema),
        dump_only=True,
        metadata={"description": "reveals made under a grant or break-glass, and by whose approval"},
    )


class AuditExposureSchema(Schema):
    actor = ma.fields.String(dump_only=True)
    since = ma.fields.String(dump_only=True)
    until = ma.fields.String(dump_only=True)
    actions = ma.fields.List(ma.fields.String(), dump_only=True)
    log_size = ma.fields.Integer(dump_only=True)
    queued = ma.fields.Integer(
        dump_only=True, metadata={"description": "events not yet sequenced, so not counted: ask again later"}
    )
    subjects = ma.fields.List(ma.fields.Nested(AuditExposedSubjectSchema), dump_only=True)


class AuditExportedEventSchema(AuditEventSchema):
    inclusion_proof = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        allow_none=True,
        metadata={"description": "hex hashes; null for events after the checkpoint"},
    )


class AuditSubjectExportSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    public_key = ma.fields.String(dump_only=True, metadata={"description": "the verifier key"})
    checkpoint = ma.fields.String(dump_only=True, allow_none=True)
    tree_size = ma.fields.Integer(dump_only=True)
    events = ma.fields.List(ma.fields.Nested(AuditExportedEventSchema), dump_only=True)


class AuditVerifyRequestSchema(Schema):
    checkpoint = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, MAX_NOTE_CHARS),
        metadata={
            "description": "a checkpoint note saved earlier, outside the database: catches a truncated tail"
        },
    )
    public_key = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, 512),
        metadata={
            "description": "the published verifier key to check signatures with (default: the "
            "key pinned outside the database, which the key the service holds must equal)"
        },
    )


class AuditVerifyProblemSchema(Schema):
    kind = ma.fields.String(dump_only=True)
    index = ma.fields.Integer(dump_only=True, allow_none=True)
    message = ma.fields.String(dump_only=True)


class AuditMacCountsSchema(Schema):
    checked = ma.fields.Integer(dump_only=True)
    valid = ma.fields.Integer(dump_only=True)
    legacy = ma.fields.Integer(dump_only=True, metadata={"description": "events from before MACs (a prefix)"})
    invalid = ma.fields.Integer(dump_only=True, metadata={"description": "forged events"})
    recorded = ma.fields.Integer(
        dump_only=True, metadata={"description": "forged events the sequencer recorded as forged"}
    )
    invalid_seqs = ma.fields.List(ma.fields.Integer(), dump_only=True)


class AuditVerifyReportSchema(Schema):
    ok = ma.fields.Boolean(dump_only=True)
    events = ma.fields.Integer(dump_only=True, metadata={"description": "events checked"})
    head_size = ma.fields.Integer(dump_only=True, allow_none=True)
    checkpoints = ma.fields.Integer(dump_only=True, metadata={"description": "checkpoints checked"})
    saved_checkpoint_size = ma.fields.Integer(dump_only=True, allow_none=True)
    trust_anchor = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "the public key signatures were checked with, and where it came from"},
    )
    authenticity = ma.fields.Nested(
        AuditMacCountsSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "event MAC counts, checked with the service's key (null with public_key)"},
    )
    queued = ma.fields.Integer(dump_only=True)
    first_bad_index = ma.fields.Integer(dump_only=True, allow_none=True)
    problem_count = ma.fields.Integer(dump_only=True)
    problems = ma.fields.List(ma.fields.Nested(AuditVerifyProblemSchema), dump_only=True)
    seconds = ma.fields.Float(dump_only=True)


class AuditVerificationSchema(Schema):
    time = ma.fields.String(dump_only=True)
    actor = ma.fields.String(dump_only=True)
    ok = ma.fields.Boolean(dump_only=True)
    head_size = ma.fields.Integer(dump_only=True, allow_none=True)
    events = ma.fields.Integer(dump_only=True)
    checkpoints = ma.fields.Integer(dump_only=True)
    authenticity = ma.fields.Nested(
        AuditMacCountsSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "event MAC counts, checked with the service's key (null with public_key)"},
    )
    queued = ma.fields.Integer(dump_only=True)
    first_bad_index = ma.fields.Integer(dump_only=True, allow_none=True)
    problem_count = ma.fields.Integer(dump_only=True)
    saved_checkpoint_size = ma.fields.Integer(dump_only=True, allow_none=True)
    duration_ms = ma.fields.Integer(dump_only=True)
    seq = ma.fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "its audit.verify event (null while queued)"},
    )


class AuditLastVerificationSchema(Schema):
    last = ma.fields.Nested(
        AuditVerificationSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "null: never verified"},
    )


# -- views -----------------------------------------------------------------------
def _checkpoint_dict(origin: str, record: CheckpointRecord) -> dict[str, Any]:
    return {
        "origin": origin,
        "size": record.size,
        "root_hash": record.root_hash.hex(),
        "timestamp": record.timestamp,
        "time": _iso(dt.datetime.fromtimestamp(record.timestamp, dt.UTC)),
        "note": record.note,
    }


# The 200 response has two bodies; flask-smorest documents one, so both are spelled out here.
_NOTE_DOC = {
    "responses": {
        "200": {
            "content": {
                "application/json": {"schema": AuditCheckpointSchema},
                "text/plain": {"schema": {"type": "string", "description": "the signed note (format=note)"}},
            }
        }
    }
}


@blp.route("/checkpoint")
class Checkpoint(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AuditCheckpointQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditCheckpointSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(**_NOTE_DOC)
    def get(self, query: dict[str, Any]) -> Any:
        """The latest signed checkpoint (JSON, or the bare note with format=note)."""
        log = audit_log()
        record = log.latest_checkpoint()
        if record is None:
            raise NoCheckpoint()
        if query["format"] == "note":
            response = Response(record.note, mimetype="text/plain")
            response.headers["Content-Disposition"] = f'attachment; filename="checkpoint-{record.size}.note"'
            return response
        return _checkpoint_dict(log.origin, record)

    @require_roles(*ROLES)
    @blp.arguments(AuditCheckpointCreateSchema, required=False)
    @blp.response(201, AuditCheckpointSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Integrate the queue and cut a signed checkpoint now (audited as audit.checkpoint)."""
        log = audit_log()
        record = log.checkpoint_now()
        with current_container().uow() as uow:
            log.record_access(
                uow,
                current_principal().actor,
                CHECKPOINT_ACTION,
                request_id=request_id(),
                details={"size": record.size},
            )
        return _checkpoint_dict(log.origin, record)


@blp.route("/public-key")
class PublicKey(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, AuditPublicKeySchema)
    def get(self) -> dict[str, Any]:
        """The Ed25519 key that signs checkpoints, as a signed-note verifier key and raw."""
        log = audit_log()
        raw = log.public_key_bytes()
        return {
            "origin": log.origin,
            "verifier_key": verifier_key_string(log.origin, raw),
            "public_key": base64.b64encode(raw).decode("ascii"),
            "key_id": key_id(log.origin, raw).hex(),
            "algorithm": "ed25519",
        }


@blp.route("/events")
class Events(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AuditEventQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditEventPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Events by subject, actor, action and time, oldest first, up to ``limit`` per page (audited)."""
        _not_an_identifier(query.get("subject"), "subject")
        _not_an_identifier(query.get("actor"), "actor")
        page = audit_log().search_events(**query)
        _record_read(
            "search",
            subject_id=query.get("subject"),
            actor=query.get("actor"),
            action=query.get("action"),
            since=_iso(query.get("since")),
            until=_iso(query.get("until")),
            cursor=query.get("cursor"),
            returned=len(page.events),
        )
        return page.to_dict()


@blp.route("/events/<int:seq>/proof")
class InclusionProof(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AuditProofQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditInclusionProofSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, query: dict[str, Any], seq: int) -> dict[str, Any]:
        """RFC 6962 inclusion proof of event ``seq`` (default: in the latest checkpoint's tree; audited)."""
        if seq > MAX_INT64:
            raise EventNotFound(f"no audit event {seq}")
        proof = audit_log().inclusion_proof(seq, query.get("tree_size"))
        _record_read(
            "proof", subject_id=json.loads(proof.entry).get("subject_id"), seq=seq, tree_size=proof.size
        )
        return proof.to_dict()


@blp.route("/consistency")
class Consistency(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AuditConsistencyQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditConsistencyProofSchema)
    @blp.alt_response(409, response="CONFLICT")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """RFC 6962 consistency proof from size ``first`` to ``second`` (default: latest checkpoint)."""
        return audit_log().consistency_proof(query["first"], query.get("second")).to_dict()


@blp.route("/exposure")
class Exposure(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AuditExposureQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditExposureSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The subjects whose data ``actor`` detokenized in [since, until) (leaked credential; audited)."""
        _not_an_identifier(query["actor"], "actor")
        until = query.get("until") or utcnow()
        if query["since"] > until:
            raise ValidationFailed("since must not be after until")
        report = audit_log().exposure(query["actor"], query["since"], until)
        _record_read(
            "exposure",
            target_actor=report.actor,
            since=_iso(report.since),
            until=_iso(report.until),
            subjects=len(report.subjects),
        )
        return report.to_dict()


@blp.route("/subjects/<subject_id>/export")
class SubjectExport(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, AuditSubjectExportSchema)
    def get(self, subject_id: str) -> dict[str, Any]:
        """A subject's events with inclusion proofs against the latest checkpoint (access request; audited).

        Events logged after that checkpoint have ``inclusion_proof: null``: cut
        a checkpoint first (POST /v1/audit/checkpoint) to prove them all.
        """
        try:
            _SUBJECT(subject_id)
        except ma.ValidationError:
            raise ValidationFailed("subject id must be 1-64 letters, digits, '_' or '-'") from None
        _not_an_identifier(subject_id, "subject id")
        export = audit_log().export_subject(subject_id)
        size = export.checkpoint.size if export.checkpoint else 0
        _record_read("export", subject_id=subject_id, events=len(export.events), tree_size=size)
        return export.to_dict()


@blp.route("/verify")
class Verify(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, AuditLastVerificationSchema)
    def get(self) -> dict[str, Any]:
        """The last recorded verification: when, by whom, and its result (for a dashboard)."""
        last = audit_log().last_verification()
        return {"last": None if last is None else last.to_dict()}

    @require_roles(*ROLES)
    @blp.arguments(AuditVerifyRequestSchema, required=False)
    @blp.response(200, AuditVerifyReportSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Recompute the chain and the tree, check every checkpoint; store and return the result.

        ``ok`` is false and ``first_bad_index`` set when anything does not hold;
        the answer is still 200, since the verification itself ran.
        """
        log = audit_log()
        key = None
        if body["public_key"] is not None:
            try:
                parsed = parse_verifier_key(body["public_key"])
            except NoteError as e:
                raise ValidationFailed(f"public_key: {e}") from None
            if parsed.name != log.origin:
                raise ValidationFailed("public_key is for another log origin")
            key = parsed.public_key
        saved = [body["checkpoint"]] if body["checkpoint"] is not None else []
        report = log.verify(saved_checkpoints=saved, public_key=key)
        with current_container().uow() as uow:
            log.record_verification(uow, current_principal().actor, report, request_id=request_id())
        return report.to_dict()


class TilesNotPublished(NotFound):
    """No tiles directory is configured (PIIVAULT_AUDIT_TILES_DIR), or it does not hold this resource."""

    code = "audit_tiles_not_found"


_IMMUTABLE = "private, max-age=31536000, immutable"


def _tiles_dir() -> Path:
    directory = audit_log().sequencer.tiles_dir
    if directory is None:
        raise TilesNotPublished("the log is not published as tiles here (PIIVAULT_AUDIT_TILES_DIR)")
    return directory


@blp.route("/tiles/checkpoint")
class TilesCheckpoint(MethodView):
    @require_roles(*ROLES)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(responses={"200": {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self) -> Response:
        """C2SP tlog-tiles: the checkpoint the tiles directory publishes (a signed note)."""
        note = read_tiles_checkpoint(_tiles_dir())
        if note is None:
            raise TilesNotPublished("no checkpoint has been published as tiles yet")
        response = Response(note, content_type="text/plain; charset=utf-8")
        response.headers["Cache-Control"] = "private, max-age=5"  # mutable: the spec asks for seconds only
        return response


@blp.route("/tiles/tile/<path:rest>")
class Tile(MethodView):
    @require_roles(*ROLES)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(responses={"200": {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}})
    def get(self, rest: str) -> Response:
        """C2SP tlog-tiles: a Merkle tree tile (tile/<L>/<N>[.p/<W>]) or entry bundle (tile/entries/...).

        Entry bundles hold events, so reading one is audited (``audit.read``,
        operation ``tiles.entries``); tiles of hashes are not.
        """
        key = parse_tile_path("tile/" + rest)
        if key is None:
            raise TilesNotPublished("not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])")
        try:
            data = read_tile(_tiles_dir(), key)
        except FileNotFoundError:
            raise TilesNotPublished("this tile has not been published") from None
        if key.level == "entries":
            _record_read("tiles.entries", index=key.index, width=key.width or 256)
        response = Response(data, content_type="application/octet-stream")
        response.headers["Cache-Control"] = _IMMUTABLE if key.width is None else "private, max-age=60"
        return response
