"""``/v1/extracts``: anonymized, consent-filtered extracts for risk scoring, as jobs.

* ``POST /v1/extracts`` (``analyst``): the body is the extract spec as JSON
  (:mod:`anonymize.extract.spec`); it is checked against the vault at once
  (422 with an error per spec key) and queued: 202 with the job.
* ``GET /v1/extracts`` and ``GET /v1/extracts/{id}`` (``analyst``: their
  own; ``dpo``: every one): state, progress (percent, phase), result, files.
* ``GET /v1/extracts/{id}/files/{name}``: a finished extract's CSV, Parquet,
  report, chart or manifest, served as an attachment; every download is
  audited with the file's SHA-256 (also sent as ``Repr-Digest``).
* ``POST /v1/extracts/{id}/reidentify`` (``dpo``): the subject id behind one
  pseudonym of one extract, with a reason; audited. 410 once the extract
  expired and its pseudonym key was destroyed.
"""

from __future__ import annotations

import base64
from typing import Any

import marshmallow as ma
from flask import Response, request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from anonymize.extract.errors import InvalidSpec
from anonymize.extract.outputs import REPORT_HTML, REPORT_HTML_BY_LANGUAGE
from anonymize.extract.schema import spec_schema
from anonymize.extract.service import (
    FILES,
    MAX_PAGE,
    READ_ROLES,
    REASON_LENGTH,
    REIDENTIFY_ROLES,
    STATES,
    SUBMIT_ROLES,
    ExtractService,
    Requester,
)
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.openapi import FOUR_EYES_403
from api.problems import problem
from api.schemas import Schema
from api.tokens import request_id

blp = Blueprint(
    "extracts",
    __name__,
    url_prefix="/v1/extracts",
    description="Anonymized, consent-filtered extracts (k-anonymity, l-diversity) for risk scoring: "
    "jobs, files, and re-identification of one pseudonym by the DPO.",
)


def extracts() -> ExtractService:
    return current_container().extracts


def requester() -> Requester:
    return Requester.of(current_principal())


# -- schemas -------------------------------------------------------------------------------
class ProgressSchema(Schema):
    percent = ma.fields.Float(dump_only=True)
    phase = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "queued, starting, population, rows, generalize, suppress, release, write, done"
        },
    )


class JobErrorSchema(Schema):
    code = ma.fields.String(dump_only=True)
    detail = ma.fields.String(dump_only=True, allow_none=True)


class FileSchema(Schema):
    name = ma.fields.String(dump_only=True)
    media_type = ma.fields.String(dump_only=True)
    sha256 = ma.fields.String(dump_only=True)
    bytes = ma.fields.Integer(dump_only=True)


class ExtractSchema(Schema):
    extract_id = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"enum": list(STATES)})
    purpose = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    requested_by = ma.fields.String(dump_only=True)
    spec_sha256 = ma.fields.String(dump_only=True)
    spec = ma.fields.Dict(dump_only=True, metadata={"description": "the spec with every default filled in"})
    progress = ma.fields.Nested(ProgressSchema, dump_only=True)
    attempts = ma.fields.Integer(dump_only=True)
    error = ma.fields.Nested(JobErrorSchema, dump_only=True, allow_none=True)
    result = ma.fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "eligible subjects, excluded by consent and restricted/erased (and by reason), "
            "rows in/kept/suppressed, k and l achieved, prosecutor risk, NCP, discernibility"
        },
    )
    files = ma.fields.List(ma.fields.Nested(FileSchema), dump_only=True)
    pseudonymized_columns = ma.fields.List(ma.fields.String(), dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    started_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    finished_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    expires_at = ma.fields.DateTime(dump_only=True)
    expired_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class ExtractListQuerySchema(Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(list(STATES)))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, MAX_PAGE))


class FileQuerySchema(Schema):
    lang = ma.fields.String(
        validate=ma.validate.OneOf(list(REPORT_HTML_BY_LANGUAGE)),
        metadata={"description": "report.html only: the page in this language instead of the spec's"},
    )


class ExtractListSchema(Schema):
    extracts = ma.fields.List(ma.fields.Nested(ExtractSchema), dump_only=True)


class ReidentifySchema(Schema):
    column = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "the pseudonymized output column"},
    )
    pseudonym = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    reason = ma.fields.String(
        required=True,
        validate=ma.validate.Length(*REASON_LENGTH),
        metadata={
            "description": "why (kept in the audit log for good: no personal identifiers), e.g. "
            "'score 0.97 flagged for manual fraud review, case 2024-117'"
        },
    )


class ReidentifiedSchema(Schema):
    extract_id = ma.fields.String(dump_only=True)
    column = ma.fields.String(dump_only=True)
    pseudonym = ma.fields.String(dump_only=True)
    subject_ids = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "the subjects whose rows carry the pseudonym (one for subject-id pseudonyms)"
        },
    )


# A complete spec, as the OpenAPI example (docs/extracts.md explains each key).
SPEC_EXAMPLE: dict[str, Any] = {
    "purpose": "risk_scoring",
    "description": "2024Q4 credit model refresh",
    "expires_in_days": 30,
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "name": {"role": "identifier", "action": "drop"},
        "cn_mobile": {"role": "identifier", "action": "pseudonym", "as": "mobile_pseudonym"},
        "address": {
            "role": "quasi",
            "as": "province",
            "hierarchy": {"type": "region", "source": "address", "level": "province"},
        },
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 10}},
        "monthly_income": {"role": "quasi", "hierarchy": {"type": "income_bands"}},
        "credit_grade": {"role": "sensitive"},
        "debt_ratio": {"role": "attribute", "coding": {"bottom": 1, "top": 99}},
    },
    "privacy": {"k": 10, "l": 2, "max_suppression": 0.02},
}
SPEC_BODY = {
    "required": True,
    "description": "The extract spec (docs/extracts.md): purpose, description, expires_in_days (default 30), "
    "population, columns (role identifier|quasi|sensitive|attribute, as, source, action, hierarchy, coding) "
    "and privacy (k, l, max_suppression). A column's source is the subject column, a field type code "
    "(decrypted for this job only) or a stored risk attribute; a direct identifier (name, resident ID, "
    "mobile, ...) is released only as a pseudonym or reduced by a hierarchy. A 422 lists every problem by "
    "key path.",
    "content": {"application/json": {"schema": spec_schema(), "example": SPEC_EXAMPLE}},
}


def _invalid(e: InvalidSpec) -> Response:
    return problem(422, "invalid extract spec", e.message, code=e.code, errors={"json": e.errors})


# -- routes --------------------------------------------------------------------------------
@blp.route("")
class Extracts(MethodView):
    @require_roles(*SUBMIT_ROLES)
    @blp.doc(requestBody=SPEC_BODY)
    @blp.response(202, ExtractSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self) -> Any:
        """Queue an extract: the spec is checked against the vault first."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _invalid(InvalidSpec({"spec": "the body must be a JSON object (the extract spec)"}))
        service = extracts()
        try:
            with current_container().uow() as uow:
                job = service.submit(uow, requester(), body, request_id=request_id())
        except InvalidSpec as e:
            return _invalid(e)
        service.wake()
        return job, 202, {"Location": f"{blp.url_prefix}/{job['extract_id']}"}

    @require_roles(*READ_ROLES)
    @blp.arguments(ExtractListQuerySchema, location="query")
    @blp.response(200, ExtractListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The newest extracts: an analyst's own, or every one for the DPO."""
        with current_container().uow() as uow:
            found = extracts().search(uow, requester(), state=query.get("state"), limit=query["limit"])
        return {"extracts": found}


@blp.route("/<extract_id>")
class ExtractById(MethodView):
    @require_roles(*READ_ROLES)
    @blp.response(200, ExtractSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, extract_id: str) -> dict[str, Any]:
        """An extract's state, progress (percent, phase), result and files."""
        with current_container().uow() as uow:
            return extracts().get(uow, requester(), extract_id)


@blp.route("/<extract_id>/files/<name>")
class ExtractFile(MethodView):
    @require_roles(*READ_ROLES)
    @blp.arguments(FileQuerySchema, location="query")
    @blp.response(200, description="the file, as an attachment: " + ", ".join(FILES))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(410, response="GONE")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, query: dict[str, Any], extract_id: str, name: str) -> Response:
        """Download one file of a finished extract (audited with its SHA-256); ``?lang=`` picks
        report.html's language."""
        if "lang" in query:
            if name != REPORT_HTML:
                return problem(422, "invalid query", "lang applies to report.html only")
            name = REPORT_HTML_BY_LANGUAGE[query["lang"]]
        with current_container().uow() as uow:
            handle, media_type, digest = extracts().open_file(
                uow, requester(), extract_id, name, request_id=request_id()
            )
        response = send_file(handle, mimetype=media_type, as_attachment=True, download_name=name)
        # The media type as the service names it (send_file would add a second charset to text/*),
        # and no copy kept by a browser or proxy: the file is personal data, if anonymized.
        response.headers["Content-Type"] = media_type
        response.headers["Cache-Control"] = "no-store"
        sha = base64.b64encode(bytes.fromhex(digest["sha256"])).decode("ascii")
        response.headers["Repr-Digest"] = f"sha-256=:{sha}:"
        # The HTML report must not run in the API's origin if someone opens it in place.
        response.headers["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        )
        return response


@blp.route("/<extract_id>/reidentify")
class Reidentify(MethodView):
    @blp.doc(**FOUR_EYES_403)
    @require_roles(*REIDENTIFY_ROLES)
    @blp.arguments(ReidentifySchema)
    @blp.response(200, ReidentifiedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(410, response="GONE")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any], extract_id: str) -> dict[str, Any]:
        """The subject behind one pseudonym of this extract (then: the subject's page, a DSR)."""
        with current_container().uow() as uow:
            return extracts().reidentify(
                uow,
                requester(),
                extract_id,
                column=body["column"],
                pseudonym=body["pseudonym"],
                reason=body["reason"],
                request_id=request_id(),
            )
