"""The OpenAPI 3 document (``/openapi.json``) and Swagger UI (``/docs``), served offline.

Swagger UI's JavaScript and CSS come from the ``flask-swagger-ui`` wheel and
are served by the app itself under ``/docs/assets/``: the docs page loads
nothing from a CDN (and the online spec validator badge is switched off).
Errors are documented as ``application/problem+json`` with
:class:`api.schemas.ProblemSchema`; every operation documents 401, and
views guarded by :func:`api.auth.require_roles` document 403.
"""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any

import flask_swagger_ui
from apispec import BasePlugin
from flask import Blueprint, Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, ValidationError

from api.examples import REQUEST_EXAMPLES
from api.problems import PROBLEM_JSON, TYPE_BASE
from api.schemas import ProblemSchema

DOCS_BLUEPRINT = "api-docs"  # flask-smorest's name for the blueprint serving the spec
ASSETS_BLUEPRINT = "docs-assets"
ASSETS_URL = "/docs/assets"
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"

DESCRIPTION = """\
Tokenize and detokenize personal information held in the piivault vault.

Every operation needs an API key: `Authorization: Bearer pvk_...`. Keys are
created by an administrator (`POST /v1/clients` or `piivault clients create`)
and shown once. Errors are `application/problem+json` (RFC 9457).

Bodies are strict JSON: a key twice, nesting past 32 levels, an integer outside
64 bits, `NaN` or a lone surrogate is a 400 `invalid_json`. No string, path
segment or query value may hold U+0000 (400 `nul_character`).
"""


# The 403 of an operation behind four eyes (access.gate): ``@blp.doc(**FOUR_EYES_403)`` above
# its ``require_roles``, whose plain FORBIDDEN it replaces.
APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
FOUR_EYES_403: dict[str, Any] = {"responses": {"403": APPROVAL_REQUIRED}}
APPROVAL_REQUIRED_DESCRIPTION = (
    "Forbidden: the caller's role may not do this (`forbidden`), the key names no person "
    "(`no_person`), or four eyes: `approval_required` - this needs a grant another person "
    "approved first. `approval_id` names the approval request waiting for that approval "
    "(another person approves it: `POST /v1/approvals/{id}/approve`); when it is absent no "
    "request is pending yet, and `detail` says how to ask for one."
)
APPROVAL_REQUIRED_EXAMPLE = {
    "type": TYPE_BASE + "approval_required",
    "title": "approval required",
    "status": 403,
    "detail": "dsr.package needs approval request apr_mfrggzdfmztwq2lknnwg23tp approved by another "
    "person (dpo) first",
    "approval_id": "apr_mfrggzdfmztwq2lknnwg23tp",
}


class AuthResponsesPlugin(BasePlugin):
    """Documents the 401 (and, for errors raised before the view, 429) on every operation."""

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", "UNAUTHORIZED")
            responses.setdefault("429", "TOO_MANY_REQUESTS")


class Int64Converter(IntegerConverter):
    """``<int:...>`` in every route: 0 to 2**63-1, what a database integer holds.

    A larger number in a path is a 400 problem+json (bad input, as in a body),
    not an overflow in the database driver; the document states the range
    (``maximum``).
    """

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = 0, max: int | None = None) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=2**63 - 1 if max is None else max)

    def to_python(self, value: str) -> Any:
        try:
            return super().to_python(value)
        except ValidationError:  # the pattern took only digits: the number is out of range
            raise BadRequest(f"a path integer here is at most {self.max}") from None


class RequestExamplesPlugin(BasePlugin):
    """Puts a realistic made-up example (:mod:`api.examples`) on each JSON request body."""

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            example = REQUEST_EXAMPLES.get((path or "", method))
            content = (operation.get("requestBody") or {}).get("content", {})
            if example is not None and "application/json" in content:
                content["application/json"].setdefault("example", example)


def int64_bounds(converter: Any, field: Any, ret: dict, **kwargs: Any) -> dict:
    """Every integer in the document is bounded as the server bounds it: 64 bits (api.body)."""
    if ret.get("type") != "integer":
        return {}
    bounds = {}
    if "minimum" not in ret:
        bounds["minimum"] = -(2**63)
    if "maximum" not in ret:
        bounds["maximum"] = 2**63 - 1
    return bounds


class PiivaultApi(Api):
    """flask-smorest's Api with problem+json errors and the app's own error handlers."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        # api.problems owns error handling; flask-smorest's handler would
        # answer in its own (non-RFC 9457) shape.
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)
        response = {
            "description": APPROVAL_REQUIRED_DESCRIPTION,
            "schema": self.ERROR_SCHEMA,
            "example": APPROVAL_REQUIRED_EXAMPLE,
        }
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(APPROVAL_REQUIRED, response, lazy=True)


def configure(app: Flask, *, docs: bool) -> PiivaultApi:
    """Create the Api on ``app``; with ``docs``, also serve the spec and Swagger UI (public).

    Call it before any route is added: it sets the ``int`` path converter.
    """
    app.url_map.converters["int"] = Int64Converter
    app.config.update(
        API_TITLE="piivault",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "security": [{"bearerAuth": []}],
        },
    )
    if docs:
        app.config.update(
            OPENAPI_URL_PREFIX="/",
            OPENAPI_JSON_PATH="openapi.json",
            OPENAPI_SWAGGER_UI_PATH="docs",
            OPENAPI_SWAGGER_UI_URL=ASSETS_URL + "/",
            OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None, "persistAuthorization": False},
        )
        app.register_blueprint(
            Blueprint(ASSETS_BLUEPRINT, __name__, static_folder=SWAGGER_UI_DIST, static_url_path=ASSETS_URL)
        )
    api = PiivaultApi(app, spec_kwargs={"extra_plugins": [AuthResponsesPlugin(), RequestExamplesPlugin()]})
    api.ma_plugin.converter.add_attribute_function(int64_bounds)
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, `pvk_<client id>_<secret>`, shown once when the client is created.",
        },
    )
    return api


def public_blueprints(docs: bool) -> tuple[str, ...]:
    """Blueprints served without an API key: the spec and its docs page."""
    return (DOCS_BLUEPRINT, ASSETS_BLUEPRINT) if docs else ()
