"""The request and response schemas of ``/v1/audit`` (:mod:`api.audit`, whose docstring
says what each route does and what it records).

Filters that name a subject, an actor or an action are checked for shape here; that
they are not personal identifiers is checked by the views, which know the detectors.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas import FullMatch, Schema
from audit.reads import MAX_PAGE

MAX_INT64 = (1 << 63) - 1
MAX_NOTE_CHARS = 16_384
SUBJECT_ID = FullMatch(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}", error="not a subject id")
_ACTOR = FullMatch(r"[A-Za-z0-9][A-Za-z0-9:._\-]{0,127}", error="not an actor (e.g. client:<id>)")
_ACTION = FullMatch(r"[a-z][a-z0-9_.]{0,63}", error="not an action code (e.g. detokenize)")
_COUNT = ma.validate.Range(0, MAX_INT64)
_SIZE = ma.validate.Range(1, MAX_INT64)


def _check_window(data: dict[str, Any]) -> None:
    since, until = data.get("since"), data.get("until")
    if since is not None and until is not None and since > until:
        raise ma.ValidationError("since must not be after until", "since")


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
    subject = ma.fields.String(validate=SUBJECT_ID, metadata={"description": "subject id"})
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
