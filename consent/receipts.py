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

:class:`Receipts` owns their life: stored unsigned with the action they document,
signed right after the commit once the action's audit event is sequenced (a
receipt whose signing was interrupted is signed when it is next read), read back,
and the published key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit.canonical import canonical_json
from audit.events import AuditEvent
from consent import tables as t
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from piivault.errors import UnavailableError
from privacy import model as m
from privacy import purposes as _purposes
from privacy.catalogue import LivePurposeCatalogue
from privacy.errors import ConsentConflict, ReceiptInvalid, ReceiptNotFound
from privacy.guards import begin, require_role
from vault import Keyring, Signer, verify_signature

log = logging.getLogger(__name__)

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


@dataclasses.dataclass(frozen=True)
class Receipts:
    """Receipts and certificates: issued, stored, signed after the commit, read (see the module)."""

    session_factory: sessionmaker[Session]
    catalogue: LivePurposeCatalogue
    keyring: Keyring
    field_types: FieldTypeRegistry
    controller: Controller
    clock: Callable[[], dt.datetime]
    audit: Any = None  # audit.service.AuditLog: where the index of a receipt's event is found

    def signer(self, session: Session) -> Signer:
        return self.keyring.signer(session, SIGNING_KEY)

    def issue_consent_receipt(
        self,
        session: Session,
        receipt_id: str,
        action: str,
        record: dict[str, Any],
        purpose: m.PurposeDef,
        audit_action: str,
        now: dt.datetime,
    ) -> None:
        """Store the receipt of a consent record, unsigned, in the recording transaction."""
        notice = _purposes.notice(session, purpose.code, record["notice_version"] or purpose.notice_version)
        body = consent_receipt(
            receipt_id=receipt_id,
            action=action,
            record=record,
            purpose=purpose,
            notice=notice,
            sensitive_types=frozenset(ft.code for ft in self.field_types if ft.pipl_sensitive),
            controller=self.controller,
            public_key=self.signer(session).public_key,
            issued_at=now,
        )
        self.store_receipt(session, receipt_id, "consent", record["subject_id"], audit_action, body, now)

    def store_receipt(
        self,
        session: Session,
        receipt_id: str,
        kind: str,
        subject_id: str,
        audit_action: str,
        body: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        """Store an unsigned receipt or certificate; it is signed once its audit event is sequenced."""
        session.execute(
            t.receipts.insert().values(
                receipt_id=receipt_id,
                kind=kind,
                subject_id=subject_id,
                audit_action=audit_action,
                body=json.dumps(body, ensure_ascii=False),
                created_at=now,
            )
        )

    def _audit_index(self, subject_id: str, action: str, receipt_id: str) -> int | None:
        if self.audit is None:
            return None
        for attempt in range(2):
            cursor = None
            while True:
                page = self.audit.search_events(subject=subject_id, action=action, limit=1000, cursor=cursor)
                for event in page.events:
                    if json.loads(event.entry).get("details", {}).get("receipt_id") == receipt_id:
                        return event.seq
                cursor = page.next_cursor
                if cursor is None:
                    break
            if attempt == 0:
                self.audit.sequencer.drain(idle_checkpoint=False)
        return None

    def finalize_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        """Sign a stored receipt with its audit event index; return the signed document.

        Returns None when the audit event is not sequenced yet (the receipt is
        signed on a later read), or when the receipt is gone (its subject erased
        since the action committed). Never raises for an unavailable dependency:
        the action it documents has committed already.
        """
        try:
            return self._signed(receipt_id)
        except ReceiptNotFound:
            return None

    def _signed(self, receipt_id: str) -> dict[str, Any] | None:
        """:meth:`finalize_receipt`, except that a receipt that is gone raises ReceiptNotFound."""
        try:
            return self._finalize(receipt_id)
        except UnavailableError as e:
            log.warning("consent: receipt signing deferred (%s)", e.code)
            return None

    def _finalize(self, receipt_id: str) -> dict[str, Any] | None:
        r = t.receipts.c
        with self.session_factory() as session:
            row = session.execute(sa.select(t.receipts).where(r.receipt_id == receipt_id)).first()
        if row is None:
            raise ReceiptNotFound("no such receipt")
        if row.signed is not None:
            return json.loads(row.signed)
        seq = self._audit_index(row.subject_id, row.audit_action, receipt_id)
        if seq is None:
            return None
        body = json.loads(row.body)
        body["auditEventIndex"] = seq
        with self.session_factory() as session:
            document = sign(self.signer(session), body)
            done = session.execute(
                t.receipts.update()
                .where(r.receipt_id == receipt_id, r.signed.is_(None))
                .values(
                    signed=json.dumps(document, ensure_ascii=False),
                    audit_seq=seq,
                    signed_at=self.clock(),
                )
            )
            session.commit()
            if not done.rowcount:  # signed by a concurrent reader (theirs stands), or erased since
                signed = session.scalar(sa.select(r.signed).where(r.receipt_id == receipt_id))
                if signed is None:
                    raise ReceiptNotFound("no such receipt")
                return json.loads(signed)
        return document

    def get_receipt(
        self, uow: UnitOfWork, actor: m.Actor, receipt_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """A signed receipt or certificate (signed now if that was deferred).

        Raises NotAllowed, ReceiptNotFound, ConsentConflict (its audit event is
        not sequenced yet: retry), StorageUnavailable.
        """
        require_role(actor, m.CONSENT_ROLES, "read receipts")
        session = begin(self.catalogue, uow)
        subject_id = session.scalar(
            sa.select(t.receipts.c.subject_id).where(t.receipts.c.receipt_id == receipt_id)
        )
        if subject_id is None:
            raise ReceiptNotFound("no such receipt")
        uow.record(
            AuditEvent(
                action="consent.receipt_read",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"receipt_id": receipt_id},
            )
        )
        uow.commit()
        document = self._signed(receipt_id)  # ReceiptNotFound if its subject was erased meanwhile
        if document is None:
            raise ConsentConflict("the receipt is not signed yet: retry in a few seconds")
        return document

    def receipt_public_key(self) -> dict[str, str]:
        """The published receipt key: ``{alg, key_id, public_key}`` (base64).

        Raises StorageUnavailable, VaultUnavailable.
        """
        with self.session_factory() as session:
            key = self.signer(session).public_key
            session.commit()
        return {"alg": ALG, "key_id": key_id(key), "public_key": public_key_b64(key)}
