"""Email address: a pragmatic subset of RFC 5322 addr-spec, with UTF-8 (RFC 6531) allowed."""

from __future__ import annotations

import re

from fieldtypes.errors import InvalidValue
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import has_control_chars, nfc

_NON_ASCII = "\u0080-\U0010ffff"
_ATOM = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_NON_ASCII}]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(rf"[a-z0-9{_NON_ASCII}](?:[a-z0-9\-{_NON_ASCII}]*[a-z0-9{_NON_ASCII}])?")
_MAX_LOCAL = 64
_MAX_DOMAIN = 253


def normalize(value: str) -> str:
    value = nfc(value).strip()
    local, at, domain = value.rpartition("@")
    # The local part is case-sensitive in RFC 5321; only the domain is folded.
    return f"{local}{at}{domain.lower()}" if at else value


def validate(value: str) -> None:
    # A printable string's only possible white space is U+0020.
    spaces = " " in value if value.isprintable() else any(char.isspace() for char in value)
    if spaces or has_control_chars(value):
        raise InvalidValue("charset", "must not contain spaces or control characters")
    local, at, domain = value.rpartition("@")
    if not at or not local or "@" in local:
        raise InvalidValue("format", "must be one local part, '@', and a domain")
    if len(local) > _MAX_LOCAL or not _LOCAL_PART.fullmatch(local):
        raise InvalidValue("local_part", "local part must be dot-separated atoms of 1-64 chars")
    if not _is_domain(domain):
        raise InvalidValue("domain", "domain must be dot-separated host labels with a named TLD")


def _is_domain(domain: str) -> bool:
    labels = domain.split(".")
    if len(domain) > _MAX_DOMAIN or len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(_is_label(label) for label in labels)


def _is_label(label: str) -> bool:
    if not _LABEL.fullmatch(label):
        return False
    if label.isascii():
        return len(label) <= 63
    ok = True
    try:
        label.encode("idna")  # IDNA 2003 nameprep; also limits the A-label to 63 octets
    except UnicodeError:
        ok = False  # its message quotes the label: never let it propagate
    return ok


def mask(value: str) -> str:
    """``z***@example.com``: the first character of a local part longer than one, and the domain."""
    local, _, domain = value.rpartition("@")
    shown = local[0] if len(local) > 1 else ""
    return f"{shown}***@{domain}"


FIELD_TYPE = FieldType(
    code="email",
    names=Names(zh="电子邮箱", en="email address"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    min_length=3,
    max_length=254,
    rationale="C2 identity information (a contact); not in PIPL art. 28's list",
    identifying=True,
    example="zhang.san@example.com",
)
