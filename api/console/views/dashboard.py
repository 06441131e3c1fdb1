"""The dashboard: requests to answer, consents over time, audit-log health, recent extracts, and a
warning when a deployment turned four-eyes off for an action."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.console import charts
from api.console.context import actor, container, domain, service, signed_in, t
from api.console.web import blp, can, page
from consent.dsr import OPEN

LISTED_REQUESTS = 8


@blp.route("/")
def dashboard() -> Response:
    user = signed_in().user
    summary = service().overview(user)
    audit = domain("audit")
    with container().uow() as uow:
        purposes = {p.code: p for p in domain("consent").list_purposes(uow, include_retired=True)}
    requests: list[dict[str, Any]] = []
    if can("dsr"):
        requests = _open_requests()
    consent_charts = [
        {
            "code": code,
            "name": _purpose_name(purposes.get(code), code, user.language),
            "granted": summary.consents.total(code, "grant"),
            "withdrawn": summary.consents.total(code, "withdraw"),
            "svg": charts.diverging_bars(
                chart_id=f"chart-{code}",
                title=t(
                    "dashboard.chart_title", purpose=_purpose_name(purposes.get(code), code, user.language)
                ),
                description=t(
                    "dashboard.chart_desc",
                    granted=summary.consents.total(code, "grant"),
                    withdrawn=summary.consents.total(code, "withdraw"),
                    days=len(summary.consents.days),
                ),
                days=summary.consents.days,
                up=series["grant"],
                down=series["withdraw"],
                up_label=t("dashboard.granted"),
                down_label=t("dashboard.withdrawn"),
            ),
        }
        for code, series in summary.consents.purposes.items()
    ]
    return page(
        "dashboard.html",
        section="dashboard",
        summary=summary,
        requests=requests,
        consent_charts=consent_charts,
        checkpoint=audit.latest_checkpoint(),
        log_size=audit.size(),
        last_verification=audit.last_verification(),
        # A deployment that lowered a count to 0 says so where everyone looks (issue 15).
        four_eyes_off=domain("access").rules.four_eyes_off(),
    )


def _open_requests() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with container().uow() as uow:
        for state in OPEN:
            found += domain("consent").search_requests(uow, actor(), state=state, limit=LISTED_REQUESTS)
    found.sort(key=lambda r: (r["due_at"], r["dsr_id"]))
    return found[:LISTED_REQUESTS]


def _purpose_name(purpose: Any, code: str, language: str) -> str:
    if purpose is None:
        return code
    return purpose.name_zh if language == "zh" else purpose.name_en


@blp.route("/<path:unknown>", methods=["GET", "POST"])
def not_found(unknown: str) -> Response:
    """Unknown console paths get the console's 404 page (after the session check), not the API's."""
    return page("error.html", status=404, title_key="notfound.title", message_key="notfound.message")
