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
resident ID or card number: they are written into the audit event above. The
request and response schemas are in :mod:`api.audit_schemas`.
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

from api.audit_schemas import (
    MAX_INT64,
    SUBJECT_ID,
    AuditCheckpointCreateSchema,
    AuditCheckpointQuerySchema,
    AuditCheckpointSchema,
    AuditConsistencyProofSchema,
    AuditConsistencyQuerySchema,
    AuditEventPageSchema,
    AuditEventQuerySchema,
    AuditExposureQuerySchema,
    AuditExposureSchema,
    AuditInclusionProofSchema,
    AuditLastVerificationSchema,
    AuditProofQuerySchema,
    AuditPublicKeySchema,
    AuditSubjectExportSchema,
    AuditVerifyReportSchema,
    AuditVerifyRequestSchema,
)
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.tokens import request_id
from audit.checkpoints import CHECKPOINT_ACTION
from audit.errors import EventNotFound
from audit.note import NoteError, key_id, parse_verifier_key, verifier_key_string
from audit.service import READ_ACTION, AuditLog
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
        """Integrate the queue and cut a signed checkpoint now (audited as audit.checkpoint).

        Where the API does not sequence (the production default), the sequencer loop cuts it
        on request; 503 if it does not within twice the merge delay."""
        log = audit_log()
        if not log.sequences_inline:
            record = log.await_checkpoint(current_principal().actor, request_id=request_id())
            return _checkpoint_dict(log.origin, record)
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
            SUBJECT_ID(subject_id)
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
    directory = audit_log().sequencer.checkpoints.tiles_dir
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
