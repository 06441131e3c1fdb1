"""Consent receipts and erasure certificates: Kantara Consent Receipt v1.1, signed with Ed25519.

A receipt is the JSON object of the Kantara Initiative Consent Receipt
Specification v1.1 (fields where they apply: jurisdiction, timestamps,
collection method, receipt id, principal id, controller, policy, services and
purposes with category, consent type, PII categories, termination and
third-party disclosure), extended with what PIPL asks of a processor here:
the legal basis, the notice version and its hash, whether the consent is a
separate one, and the index of the audit event that recorded the action.

The signed document is::

    {"receipt": {...}, "signature": {"alg": "Ed25519", "keyId": "...", "value": "<base64>"}}

where the signature covers the canonical JSON (:mod:`audit.canonical`) of
``receipt``. :func:`verify` needs only the document and the published public
key: ``piivault consent verify-receipt FILE --public-key KEY`` runs it offline.

Erasure certificates use the same envelope and key; their ``receipt`` says
which subject was erased, when, under which request, and which erasure-ledger
entry records it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from audit.canonical import canonical_json
from consent import model as m
from consent.errors import ReceiptInvalid
from vault import Signer, verify_signature

SIGNING_KEY = "consent-receipt"
"""Name of the Ed25519 key, stored sealed by :class:`vault.Keyring` (``keyring.signer``)."""
RECEIPT_VERSION = "KI-CR-v1.1.0"
CERTIFICATE_VERSION = "piivault-erasure-certificate-v1"
ALG = "Ed25519"
MAX_DOCUMENT_BYTES = 1_000_000


@dataclasses.dataclass(frozen=True)
class Controller:
    """The PII controller named in receipts (from ``PIIVAULT_CONTROLLER_*``)."""

    name: str
    contact: str
    address: str
    email: str
    phone: str
    url: str
    policy_url: str
    jurisdiction: str
    language: str

    def as_kantara(self) -> dict[str, Any]:
        return {
            "piiController": self.name,
            "contact": self.contact,
            "address": self.address,
            "email": self.email,
            "phone": self.phone,
            "piiControllerUrl": self.url,
            "onBehalf": False,
        }


def public_key_b64(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode("ascii")


def key_id(public_key: bytes) -> str:
    """A short id of the key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _epoch(when: dt.datetime) -> int:
    return int(when.timestamp())


def consent_receipt(
    *,
    receipt_id: str,
    action: str,
    record: dict[str, Any],
    purpose: m.PurposeDef,
    notice: dict[str, Any],
    sensitive_types: frozenset[str],
    controller: Controller,
    public_key: bytes,
    issued_at: dt.datetime,
) -> dict[str, Any]:
    """The receipt body of a consent record (grant, renew or withdraw), before its audit index.

    ``record`` holds the record's fields (record_id, subject_id, channel,
    effective_at, expires_at, separate, evidence).
    """
    pii = sorted(purpose.field_types) if purpose.field_types is not None else ["all"]
    spi = sorted(t for t in pii if t in sensitive_types)
    if record["expires_at"] is not None:
        termination = f"until {m.iso(record['expires_at'])} or withdrawal; data kept: {purpose.retention}"
    else:
        termination = f"until withdrawn; data kept: {purpose.retention}"
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": controller.jurisdiction,
        "consentTimestamp": _epoch(record["effective_at"]),
        "collectionMethod": record["channel"],
        "consentReceiptID": receipt_id,
        "publicKey": public_key_b64(public_key),
        "language": controller.language,
        "piiPrincipalId": record["subject_id"],
        "piiControllers": [controller.as_kantara()],
        "policyUrl": controller.policy_url,
        "services": [
            {
                "service": purpose.name_en,
                "purposes": [
                    {
                        "purpose": purpose.name_zh,
                        "purposeCategory": [purpose.code],
                        "consentType": "EXPLICIT",
                        "piiCategory": pii,
                        "nonStandardPurpose": purpose.description,
                        "primaryPurpose": True,
                        "termination": termination,
                        "thirdPartyDisclosure": "third_party" in purpose.separate_grounds
                        or bool(purpose.third_parties),
                        "thirdPartyName": ", ".join(purpose.third_parties),
                    }
                ],
            }
        ],
        "sensitive": bool(spi),
        "spiCat": spi,
        # PIPL extensions
        "action": action,
        "consentRecordID": record["record_id"],
        "legalBasis": purpose.legal_basis,
        "legalBasisReference": m.LEGAL_BASES[purpose.legal_basis],
        "separateConsent": bool(record["separate"]),
        "separateGrounds": list(purpose.separate_grounds),
        "noticeVersion": record.get("notice_version"),
        "noticeHash": notice["text_hash"],
        "evidence": record.get("evidence"),
        "effectiveAt": m.iso(record["effective_at"]),
        "expiresAt": m.iso(record["expires_at"]),
        "issuedAt": m.iso(issued_at),
        "auditEventIndex": None,
    }


def erasure_certificate(
    *,
    certificate_id: str,
    subject_id: str,
    dsr_id: str | None,
    erased_at: dt.datetime,
    ledger_seq: int | None,
    ledger_hash: str | None,
    removed: dict[str, int],
    controller: Controller,
    public_key: bytes,
) -> dict[str, Any]:
    """The body of an erasure certificate, before its audit index."""
    return {
        "version": CERTIFICATE_VERSION,
        "certificateID": certificate_id,
        "jurisdiction": controller.jurisdiction,
        "piiPrincipalId": subject_id,
        "piiControllers": [controller.as_kantara()],
        "publicKey": public_key_b64(public_key),
        "requestID": dsr_id,
        "erasedAt": m.iso(erased_at),
        "method": "crypto-shredding: the subject's data key was destroyed",
        "erasureLedger": {"seq": ledger_seq, "hash": ledger_hash},
        "removed": dict(sorted(removed.items())),
        "kept": [
            "tombstone (subject id, time, request id)",
            "keyed digests of the erased tokens (so they answer 'erased')",
            "erasure-ledger entry",
            "audit log",
        ],
        "auditEventIndex": None,
    }


def sign(signer: Signer, body: dict[str, Any]) -> dict[str, Any]:
    """The signed document for ``body``. Raises TypeError for a body that is not plain JSON."""
    signature = signer.sign(canonical_json(body))
    return {
        "receipt": body,
        "signature": {
            "alg": ALG,
            "keyId": key_id(signer.public_key),
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }


def parse_public_key(text: str) -> bytes:
    """A published key: base64 (or hex) of the 32-byte Ed25519 key, or the JSON document
    that publishes it (``{alg, key_id, public_key}``: ``piivault consent public-key``,
    ``GET /v1/consent-receipts/public-key``). Raises ReceiptInvalid."""
    text = text.strip()
    if text.startswith("{"):
        try:
            published = json.loads(text)
        except ValueError:
            raise ReceiptInvalid("the public key document is not JSON") from None
        if not isinstance(published, dict) or not isinstance(published.get("public_key"), str):
            raise ReceiptInvalid("the public key document has no public_key")
        if published.get("alg", ALG) != ALG:
            raise ReceiptInvalid(f"the public key is not an {ALG} key")
        text = published["public_key"].strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ReceiptInvalid("the public key is not base64 or hex") from None
    if len(raw) != 32:
        raise ReceiptInvalid("the public key must be 32 bytes (Ed25519)")
    return raw


def verify(document: bytes | str | dict[str, Any], public_key: bytes) -> dict[str, Any]:
    """Check a signed receipt or certificate against the published key; return its body.

    Raises :class:`ReceiptInvalid` when the document is malformed, was signed
    by another key, or any byte of its body changed.
    """
    if isinstance(document, bytes | str):
        if len(document) > MAX_DOCUMENT_BYTES:
            raise ReceiptInvalid("the document is too large to be a receipt")
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise ReceiptInvalid("the document is not valid JSON") from None
    if not isinstance(document, dict) or set(document) != {"receipt", "signature"}:
        raise ReceiptInvalid("the document must have exactly 'receipt' and 'signature'")
    body, signature = document["receipt"], document["signature"]
    if not isinstance(body, dict) or not isinstance(signature, dict):
        raise ReceiptInvalid("'receipt' and 'signature' must be objects")
    if signature.get("alg") != ALG:
        raise ReceiptInvalid(f"the signature algorithm must be {ALG}")
    if signature.get("keyId") != key_id(public_key) or body.get("publicKey") != public_key_b64(public_key):
        raise ReceiptInvalid("the receipt was not signed with this public key")
    value = signature.get("value")
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        message = canonical_json(body)
    except (ValueError, TypeError, binascii.Error):
        raise ReceiptInvalid("the receipt is malformed") from None
    # Only the canonical encoding: unused low bits of the last base64 character must not
    # give a second spelling of the same signature.
    if base64.b64encode(raw).decode("ascii") != value:
        raise ReceiptInvalid("the signature is not canonical base64")
    if not verify_signature(public_key, message, raw):
        raise ReceiptInvalid("the signature does not match the receipt")
    return body
