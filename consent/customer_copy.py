"""The customer's copy of an access request (PIPL art. 45): a document a bank hands to the person.

The DPO's access package (:mod:`consent.access`) is the complete, machine-checkable record
(codes, tokens, audit entries with proofs); this is the same package put in words for its
subject, in Chinese or English: what the bank holds (values masked unless the DPO chooses plain;
risk attributes named, their content hidden whole in a masked copy), for which purposes and on
which legal basis, who used the data, when and why (local time to the minute, by the system's
name or "a member of our staff", never a client id; refused attempts left out), the consents
with their dates, the holds and why data is kept. A print stylesheet makes it an A4 document;
:func:`piivault.printing.html_to_pdf` turns it into a PDF.

It is reached only through :func:`consent.access.download` (format ``customer`` or ``pdf``):
the same four-eyes grant (``dsr.package``) and the same audit event as the internal package.
"""

from __future__ import annotations

import datetime as dt
import html
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consent.customer_copy_texts import BUILTIN, WORDS
from privacy import model as m
from privacy.purpose_config import DEFAULT_PURPOSES

_DEFAULTS = {p.code: p for p in DEFAULT_PURPOSES}

LANGUAGES = ("zh-CN", "en")
VALUE_MODES = ("masked", "plain")
# A risk attribute's content in a masked copy, whatever its length.
ATTRIBUTE_MASK = "****"


class Wording:
    """What the copy needs to name things in words, given by the consent service."""

    def __init__(
        self,
        purposes: Sequence[m.PurposeDef],
        field_type_name: Callable[[str, str], str],
        mask: Callable[[str, str], str],
        client_names: Mapping[str, str],
        time_zone: str,
    ) -> None:
        self.purposes = {p.code: p for p in purposes}
        self.field_type_name = field_type_name  # (code, "zh"|"en") -> name
        self.mask = mask  # (field type code, value) -> masked value
        self.client_names = client_names  # client id -> the name an admin gave it
        self.zone = zoneinfo.ZoneInfo(time_zone)
        self.time_zone = time_zone


def render(
    package: Mapping[str, Any], wording: Wording, *, language: str = "zh-CN", values: str = "masked"
) -> str:
    """The customer's copy as one print-ready HTML page (every value escaped).

    Raises ValueError for a language or value mode not offered.
    """
    if language not in LANGUAGES or values not in VALUE_MODES:
        raise ValueError("language must be zh-CN or en and values masked or plain")
    return _Page(package, wording, language.split("-")[0], values == "masked").html(language)


class _Page:
    def __init__(self, package: Mapping[str, Any], wording: Wording, lang: str, masked: bool) -> None:
        self.p, self.w, self.lang, self.masked = package, wording, lang, masked
        self.t = WORDS[lang]

    # -- words ----------------------------------------------------------------------------
    def when(self, value: Any, *, minutes: bool = True) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.w.zone).strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")

    def day(self, value: Any) -> str:
        return self.when(value, minutes=False)

    def purpose_name(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.w.purposes.get(code)
        if found is None:
            return code
        return found.name_zh if self.lang == "zh" else found.name_en

    def purpose_text(self, purpose: m.PurposeDef, field: str) -> str:
        """A built-in purpose's unchanged English text in the page's language; a DPO's own as written."""
        text = getattr(purpose, field) or ""
        builtin = BUILTIN.get(purpose.code, {}).get(field)
        default = _DEFAULTS.get(purpose.code)
        if builtin is not None and default is not None and getattr(default, field) == text:
            return builtin[0 if self.lang == "zh" else 1]
        return text

    def type_name(self, code: str) -> str:
        return self.w.field_type_name(code, self.lang)

    def types(self, codes: Sequence[str]) -> str:
        return self.t["list_sep"].join(self.type_name(c) for c in codes)

    def actor(self, raw: str | None, action: str) -> str:
        actors = self.t["actors"]
        kind, _, ident = (raw or "").partition(":")
        if action == "dsr.access_package":
            return actors["dpo"]
        if kind == "client":
            name = self.w.client_names.get(ident)
            return actors["client"].format(name=name) if name else actors["system"]
        if kind in ("user", "cli"):
            return actors["staff"]
        return actors["system"]

    # -- sections -------------------------------------------------------------------------
    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        if not rows:
            body = f'<tr><td colspan="{len(headers)}" class="none">{html.escape(self.t["none"])}</td></tr>'
        else:
            # Each cell names its column: on a narrow screen a row becomes a card of labelled lines.
            labels = [html.escape(h, quote=True) for h in headers]
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td data-label="{lb}">{html.escape(c)}</td>' for lb, c in zip(labels, r, strict=True)
                )
                + "</tr>"
                for r in rows
            )
        return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def held(self) -> str:
        t = self.t
        rows = []
        for v in self.p["values"]:
            value = v["value"]
            if self.masked:
                try:
                    value = self.w.mask(v["field_type"], value)
                except Exception:  # a value its type no longer validates: hide it whole
                    value = "*" * min(len(value), 8)
            rows.append((self.type_name(v["field_type"]), value, self.day(v["stored_at"])))
        out = [f"<h2>{t['held']}</h2>"]
        if self.masked and rows:
            out.append(f'<p class="note">{html.escape(t["held_masked"])}</p>')
        out.append(self.table((t["type"], t["value"], t["since"]), rows, "held"))
        out.append(self.attributes())
        return "".join(out)

    def attributes(self) -> str:
        """The risk attributes held (PIPL art. 45: the person may know what is held). Each is
        named; in a masked copy its content is hidden whole, at one length: a score, an income or
        a default record has no harmless part to show, and its length would tell."""
        t = self.t
        attributes = self.p["attributes"]
        if not attributes:
            return ""
        names = t["attributes_names"]
        rows = [
            (names.get(a["name"], a["name"]), self.attribute_value(a["value"]), self.day(a["stored_at"]))
            for a in attributes
        ]
        note = f'<p class="note">{html.escape(t["attributes_masked"])}</p>' if self.masked else ""
        table = self.table((t["attribute"], t["value"], t["since"]), rows, "attributes")
        return f"<h3>{t['attributes']}</h3>{note}{table}"

    def attribute_value(self, value: Any) -> str:
        if self.masked:
            return ATTRIBUTE_MASK
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self.t["yes_no"][0 if value else 1]
        return str(value)

    def applicable_purposes(self) -> list[m.PurposeDef]:
        """The purposes the person's data is processed for: those with a consent that counts now,
        and the active ones that need none (contract, legal obligation) covering a kind held."""
        held = {v["field_type"] for v in self.p["values"]}
        consenting = {c["purpose"] for c in self.p["consents"]["current"] if c.get("counts")}
        found = []
        for purpose in self.w.purposes.values():
            if not purpose.active:
                continue
            if purpose.consent_required:
                if purpose.code in consenting:
                    found.append(purpose)
            elif any(purpose.covers(code) for code in held):
                found.append(purpose)
        return found

    def purposes(self) -> str:
        t = self.t
        held = sorted({v["field_type"] for v in self.p["values"]})
        rows = []
        for p in self.applicable_purposes():
            kinds = [code for code in held if p.covers(code)]
            rows.append(
                (
                    f"{self.purpose_name(p.code)}：{self.purpose_text(p, 'description')}"
                    if self.lang == "zh"
                    else f"{self.purpose_name(p.code)}: {self.purpose_text(p, 'description')}",
                    t["bases"].get(p.legal_basis, p.legal_basis),
                    self.types(kinds) if kinds else "—",
                    self.purpose_text(p, "retention"),
                )
            )
        return f"<h2>{t['purposes']}</h2>" + self.table(
            (t["purpose"], t["basis"], t["uses_types"], t["retention"]), rows, "purposes"
        )

    def uses(self) -> str:
        t = self.t
        # Newest first; the same use by the same user in the same minute is one line, with a count.
        counted: dict[tuple[str, str, str, str], int] = {}
        for use in sorted(self.p["uses"], key=lambda u: u["time"], reverse=True):
            if use["outcome"] != "success":
                continue  # a refused attempt obtained nothing
            action = use["action"]
            what = t["actions"].get(action, action).format(types=self.types(use["field_types"] or ()))
            line = (
                self.when(use["time"]),
                self.actor(use["who"], action),
                what,
                self.purpose_name(use["purpose"]),
            )
            counted[line] = counted.get(line, 0) + 1
        rows = [
            (when, who, what if n == 1 else t["times"].format(what=what, n=n), why)
            for (when, who, what, why), n in counted.items()
        ]
        return f'<h2>{t["uses"]}</h2><p class="note">{html.escape(t["uses_note"])}</p>' + self.table(
            (t["when"], t["who"], t["what"], t["why"]), rows, "uses"
        )

    def consents(self) -> str:
        t = self.t
        current = [
            (
                self.purpose_name(c["purpose"]),
                t["states"].get(c["state"], c["state"]),
                self.day(c["effective_at"]),
                self.day(c["expires_at"]) if c.get("expires_at") else "—",
            )
            for c in self.p["consents"]["current"]
        ]
        history = [
            (
                self.day(r["effective_at"]),
                self.purpose_name(r["purpose"]),
                t["consent_actions"].get(r["action"], r["action"]),
                t["channels"].get(r["channel"], r["channel"] or "—"),
            )
            for r in self.p["consents"]["history"]
        ]
        return (
            f"<h2>{t['consents']}</h2>"
            + self.table((t["purpose"], t["state"], t["given"], t["expires"]), current)
            + f"<h3>{t['consent_history']}</h3>"
            + self.table((t["given"], t["purpose"], t["action"], t["channel"]), history)
        )

    def holds(self) -> str:
        t = self.t
        rows = []
        for h in self.p["holds"]:
            if h.get("released_at") is not None:
                continue
            if h["ends_at"] is not None:
                until = self.day(h["ends_at"])
            elif h.get("retention_years"):
                until = t["hold_ends"].format(years=h["retention_years"])
            else:
                until = t["hold_open"]
            reason = t["hold_reasons"].get(h["reason_code"], t["hold_reasons"]["other"])
            if h.get("purpose"):
                reason = (
                    f"{reason}（{self.purpose_name(h['purpose'])}）"
                    if self.lang == "zh"
                    else (f"{reason} ({self.purpose_name(h['purpose'])})")
                )
            rows.append((reason, until))
        body = (
            self.table((t["hold_kind"], t["hold_until"]), rows)
            if rows
            else f"<p>{html.escape(t['holds_none'])}</p>"
        )
        return f"<h2>{t['holds']}</h2>{body}"

    def requests(self) -> str:
        t = self.t
        rows = [
            (
                t["dsr_types"].get(r["type"], r["type"]),
                self.day(r["received_at"]),
                t["dsr_states"].get(r["state"], r["state"]),
            )
            for r in self.p["requests"]
        ]
        return f"<h2>{t['requests']}</h2>" + self.table((t["request_type"], t["received"], t["state"]), rows)

    def html(self, language: str) -> str:
        t = self.t
        controller = self.p["controller"]
        contact = [
            controller.get(k)
            for k in ("piiController", "contact", "address", "email", "phone")
            if controller.get(k)
        ]
        zone = t["zones"].get(
            self.w.time_zone, f" {self.w.time_zone} " if self.lang == "zh" else self.w.time_zone
        )
        header = (
            f'<header><p class="org">{html.escape(controller.get("piiController") or "")}</p>'
            f"<h1>{html.escape(t['title'])}</h1>"
            f"<dl><dt>{t['reference']}</dt><dd>{html.escape(self.p['dsr_id'])}</dd>"
            f"<dt>{t['generated']}</dt><dd>{self.when(self.p['generated_at'])}</dd></dl>"
            f'<p class="note">{html.escape(t["tz"].format(tz=zone))}</p></header>'
        )
        parts = [
            header,
            f"<p>{html.escape(t['intro'])}</p>",
            self.held(),
            self.purposes(),
            self.uses(),
            self.consents(),
            self.holds(),
            self.requests(),
            f"<footer><p>{html.escape(t['contact'])}</p><p>"
            + "<br>".join(html.escape(str(c)) for c in contact)
            + "</p></footer>",
        ]
        title = f"{t['title']} · {self.p['dsr_id']}"
        return (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "".join(parts)
            + "</body></html>\n"
        )


STYLE = """
@page{size:A4;margin:18mm 16mm 20mm}
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;color:#1a1a1a;
line-height:1.55;font-size:10.5pt;max-width:180mm;margin:1.5em auto;padding:0 1em}
header{border-bottom:2px solid #2b4a6f;margin-bottom:1em;padding-bottom:.4em}
.org{font-weight:600;color:#2b4a6f;margin:0}
h1{font-size:18pt;margin:.2em 0 .4em}
h2{font-size:12.5pt;color:#2b4a6f;margin:1.4em 0 .4em;border-bottom:1px solid #c9d3df;padding-bottom:.15em;
break-after:avoid}
h3{font-size:11pt;margin:1em 0 .3em;break-after:avoid}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:0}
dt{color:#555}dd{margin:0}
.note{color:#555;font-size:9.5pt}
h2 + .note{break-after:avoid}
table{border-collapse:collapse;width:100%;margin:.3em 0 .8em;font-size:9.5pt}
th,td{border:1px solid #c9d3df;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.purposes th:nth-child(1){width:34%}table.purposes th:nth-child(2){width:20%}
table.purposes th:nth-child(3){width:26%}
table.uses th:nth-child(1){width:9em}
th{background:#eef2f7;font-weight:600}
thead{display:table-header-group}
tr{break-inside:avoid}
td.none{color:#777}
footer{margin-top:2em;border-top:1px solid #c9d3df;padding-top:.5em;font-size:9.5pt}
html:lang(en) body{font-family:"Noto Sans","DejaVu Sans",Arial,"Noto Sans CJK SC",sans-serif}
@media print{body{margin:0;max-width:none;padding:0}}
@media screen and (max-width:600px){
body{margin:.8em auto;padding:0 .8em}
table,tbody,tr,td{display:block;width:auto!important}
thead{display:none}
tr{border:1px solid #c9d3df;margin:0 0 .6em;padding:.2em 0}
td{border:0;padding:.15em .6em}
td::before{content:attr(data-label);display:block;color:#555;font-size:8.5pt}
td.none::before{content:none}
}
"""
