"""The use case that stores subjects' risk attributes (role ``service``, with the explicit
``write_attributes`` permission), sealed under their data keys, and the store the consent
service reads them through. How they are validated and sealed: :mod:`privacy.attributes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anonymize.extract.deps import ExtractDeps
from anonymize.extract.errors import ExtractForbidden
from anonymize.extract.roles import ATTRIBUTE_ROLES, Requester, require
from audit.events import AuditEvent
from identity.clients.model import WRITE_ATTRIBUTES
from piivault.db import UnitOfWork
from privacy import attributes, subjects
from privacy.attributes import attribute_store
from privacy.errors import InvalidAttributes
from vault import subject_owner

MAX_ATTRIBUTE_ITEMS = 1_000


def put_attributes(
    deps: ExtractDeps,
    uow: UnitOfWork,
    requester: Requester,
    items: Sequence[Mapping[str, Any]],
    *,
    request_id: str | None = None,
) -> dict[str, int]:
    """Replace the risk attributes of up to 1,000 subjects (``{subject_id, attributes}`` each).

    All items or none. Raises ExtractForbidden (role, or a client without the
    explicit ``write_attributes`` permission), InvalidAttributes
    (naming the item and the rule: names, types, sizes, an unknown or
    erased subject), VaultUnavailable, StorageUnavailable.
    """
    require(requester, ATTRIBUTE_ROLES, "store attributes")
    if WRITE_ATTRIBUTES not in requester.permissions:
        raise ExtractForbidden(
            "this client may not write attributes: it needs the write_attributes permission"
        )
    if not 1 <= len(items) <= MAX_ATTRIBUTE_ITEMS:
        raise InvalidAttributes(f"items: between 1 and {MAX_ATTRIBUTE_ITEMS} per request")
    reserved = attribute_store(deps.field_types).reserved
    documents: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        subject_id = item.get("subject_id")
        if not isinstance(subject_id, str) or subject_id in documents:
            raise InvalidAttributes(f"items[{i}].subject_id: must be a subject id, once per request")
        documents[subject_id] = attributes.validate(
            item.get("attributes"), reserved, f"items[{i}].attributes"
        )
    session = uow.session
    assert session is not None
    # Else a document sealed while the subject's key is shredded could be stored after it.
    subjects.keep_from_erasure(session, documents)
    found = subjects.states(session, list(documents))
    keys = deps.keyring.data_keys(session, [subject_owner(s) for s in documents])
    for i, subject_id in enumerate(documents):
        kind_state = found.get(subject_id)
        if kind_state is None or kind_state[0] != subjects.SUBJECT:
            raise InvalidAttributes(f"items[{i}].subject_id: no such subject")
        if kind_state[1] == subjects.ERASED or subject_owner(subject_id) not in keys:
            raise InvalidAttributes(f"items[{i}].subject_id: the subject was erased")
    attributes.store(session, keys, documents, deps.clock())
    for subject_id, document in sorted(documents.items()):
        uow.record(
            AuditEvent(
                action="attributes.put",
                actor=requester.actor,
                subject_id=subject_id,
                request_id=request_id,
                details={"attributes": len(document)},
            )
        )
    uow.commit()
    return {"stored": len(documents)}
