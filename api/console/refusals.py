"""The services' refusals in the console's words.

A service refuses with a code and an English message (for the API, the CLI and the logs; it
names codes and ids, never a value). The console says it in the user's language: a code that
always means the same is said by its code (``error.code.<code>``, ``access.error.<code>``); a
message that varies is matched by one of :data:`PATTERNS` and said by its sentence
(``refusal.<name>`` in :mod:`api.console.i18n`), its variable parts - a request's state, a
purpose, a legal basis, a field type, a role - by name. A message no pattern knows is never shown
in English on a Chinese page: the user reads a sentence of its kind (``refusal.kind.<code>``, or
a generic one) with the code, to quote to whoever runs the service; an English page shows the
service's message as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from api.console import i18n

# (the service's message, the sentence's key), whatever the refusal's code: fully matched, its
# named groups are the sentence's parameters (a state, a purpose... by name: see sentence()).
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        # data-subject requests (consent.dsr, consent.access)
        (
            r"a (?P<state>\w+) request can move to (?P<next>\w+) or rejected only",
            "dsr_next",
        ),
        (r"the request is (?P<state>\w+): it cannot change any more", "dsr_closed"),
        (r"only access requests have a package", "package_access_only"),
        (r"the package is available once the request is approved", "package_not_yet"),
        (r"corrections are given for correction requests only", "corrections_only"),
        (r"completing a correction needs corrections: .*", "corrections_needed"),
        (r"at most (?P<n>\d+) corrections per request", "corrections_at_most"),
        (r"this piivault keeps no risk attributes to correct", "no_attributes"),
        # subjects, holds, consents (consent.subject_state, consent.holds, consent.consents)
        (r"the hold was released already", "hold_released"),
        (r"the relationship was opened already", "relationship_opened"),
        (r"the relationship was closed already", "relationship_closed"),
        (
            r"no customer relationship was opened for this subject: nothing to close",
            "no_relationship",
        ),
        (r"the subject is not restricted", "not_restricted"),
        (r"piivault holds no data for this subject", "no_data"),
        (r"the receipt is not signed yet: retry in a few seconds", "receipt_unsigned"),
        (r"an erasure waits for a hold to end: the restriction stays", "erasure_waits"),
        (r"there is no consent to withdraw", "no_consent_to_withdraw"),
        (r"there is no consent to renew: grant one", "no_consent_to_renew"),
        (
            r"the purpose is retired: consent cannot be given to it",
            "purpose_retired_consent",
        ),
        (r"this purpose needs a separate consent \(separate: true\)", "separate_consent"),
        (
            r"purpose (?P<purpose>\w+) rests on (?P<basis>\w+), not consent: nothing to record",
            "not_consent_based",
        ),
        (r"evidence must be sha256:.*", "evidence_format"),
        (r"evidence must not hold a personal identifier.*", "evidence_identifier"),
        (r"effective_at must not be in the future", "effective_future"),
        (r"effective_at must not be before the consent it withdraws", "effective_before"),
        (
            r"(?:ends_at|expires_at) must be (?:a future time|in the future).*",
            "must_be_future",
        ),
        (r"times must carry a time zone", "time_zone"),
        (r"note must be at most (?P<n>\d+) characters", "note_long"),
        (
            r"notice_version must be between (?P<low>\d+) and (?P<high>\d+).*",
            "notice_version",
        ),
        (r"(?P<field>\w+) must be one of: (?P<allowed>.+)", "one_of"),
        (r"roles must be among: (?P<allowed>.+)", "roles_among"),
        (
            r"subject_id looks like a personal identifier: use an opaque id",
            "subject_id_pii",
        ),
        (r"subject_id must be 8-64 .*", "subject_id_form"),
        # purposes (privacy.purposes, privacy.widening)
        (r"a purpose with this code exists", "purpose_exists"),
        (r"code must be 2-64 lowercase .*", "purpose_code"),
        (r"field_types must name at least one field type.*", "field_types_empty"),
        (r"field_types: unknown '(?P<field_type>[^']+)'", "field_type_unknown"),
        (r"(?P<field>\w+): unknown '(?P<value>[^']+)'", "unknown_entry"),
        (r"a purpose whose legal basis is consent must require consent", "consent_basis"),
        (
            r"separate consent is only meaningful when consent is required",
            "separate_needs_consent",
        ),
        (
            r"separate_grounds must say why a separate consent is needed",
            "separate_grounds",
        ),
        (
            r"separate_grounds given, but separate_consent_required is false",
            "grounds_unused",
        ),
        (r"retention must say how long data is kept.*", "retention_text"),
        (r"retention_anchor and retention_years go together", "retention_pair"),
        (r"retention_years must be an integer from 1 to 100", "retention_years"),
        (r"(?P<field>\w+) must be 1-(?P<n>\d+) characters", "too_long"),
        (r"(?P<field>\w+) must be at most (?P<n>\d+) characters", "too_long"),
        (r"the notice needs text_zh, 1-(?P<n>\d+) characters", "notice_text"),
        (r"the purpose is retired", "purpose_retired"),
        (r"a new purpose cannot be retired", "new_purpose_retired"),
        (r"(?P<field>\w+) must be true or false", "true_or_false"),
        (r"unknown state", "unknown_state"),
        (r"unknown type", "unknown_type"),
        (
            r"the purpose is at version (?P<current>\d+), the change was asked against .*",
            "purpose_moved",
        ),
        (r"the change no longer makes the definition that was approved", "purpose_moved"),
        # four eyes (access.gate)
        (
            r"[\w.]+ needs approval request (?P<approval>\S+) approved by another person"
            r" \((?P<roles>[^)]*)\) first",
            "approval_pending",
        ),
        (
            r"[\w.]+ needs a grant of your own, approved by another person \((?P<roles>[^)]*)\): .*",
            "approval_ask",
        ),
        (r"this change widens access \(.*\): it needs a purpose.widen approval", "widens"),
        # roles (every service)
        (r"role '(?P<role>\w+)' may not .+", "role_may_not"),
        (r"this client may not .+ for a purpose it does not hold", "purpose_not_held"),
    )
)


def _named(lang: str, prefix: str) -> Callable[[str], str]:
    def name(code: str) -> str:
        key = prefix + code
        return i18n.t(lang, key) if i18n.has(key) else code

    return name


def sentence(lang: str, code: str, message: str, purpose_label: Callable[[str], str]) -> str:
    """What to tell the user of a refusal (``code``, the service's ``message``) in ``lang``;
    ``purpose_label`` names a purpose by its code. Never the English message on a Chinese page."""
    for key in (f"error.code.{code}", f"access.error.{code}"):  # said the same way each time
        if i18n.has(key):
            return i18n.t(lang, key)
    named = {
        "state": _named(lang, "state."),
        "next": _named(lang, "state."),
        "basis": _named(lang, "legal_basis."),
        "field_type": _named(lang, "ft."),
        "role": _named(lang, "role."),
        "roles": lambda roles: i18n.t(lang, "refusal.or").join(
            map(_named(lang, "role."), roles.split(" or "))
        ),
        "field": _named(lang, "refusal.field."),
        "purpose": purpose_label,
    }
    for pattern, key in PATTERNS:
        found = pattern.fullmatch(message)
        if found is not None:
            params = {k: named[k](v) if k in named else (v or "") for k, v in found.groupdict().items()}
            return i18n.t(lang, f"refusal.{key}", **params)
    if lang != "zh":
        return message
    kind = f"refusal.kind.{code}"
    return i18n.t(lang, kind if i18n.has(kind) else "refusal.kind.other", code=code)
