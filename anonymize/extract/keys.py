"""An extract's own pseudonym key: its name among the system data keys, making it when a job
starts, destroying it (ledgered) when the job fails or expires, and the keyring's destroy
listener that deletes what was sealed under destroyed keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.job_rows import e
from piivault.sql import chunked
from privacy import attributes
from vault import DataKey, Keyring, subject_owner, system_owner

SUBJECT_OWNER = subject_owner("")


def key_name(extract_id: str) -> str:
    """The name of an extract's pseudonym key among the system data keys."""
    return "extract/" + extract_id


def pseudonym_key(deps: ExtractDeps, extract_id: str) -> DataKey:
    """The extract's own key, generated here and stored only wrapped by the KEK."""
    name = key_name(extract_id)
    with deps.session_factory() as session:
        key = deps.keyring.create_keys(session, [system_owner(name)])[system_owner(name)]
        session.execute(t.extracts.update().where(e.extract_id == extract_id).values(key_name=name))
        session.commit()
    return key


def forget_key(keyring: Keyring, session: Session, row: Any, reason: str) -> bool:
    """Destroy the key of the job ``row``; whether there was one."""
    # The key row is named after the extract whether or not ``key_name`` was recorded yet.
    # Destroying it is ledgered (a restore cannot bring it back) and, through
    # :func:`forget_destroyed`, deletes the mapping sealed under it.
    return keyring.destroy_system_key(session, key_name(row.extract_id), reason)


def forget_destroyed(session: Session, owners: Sequence[str]) -> None:
    """The keyring's destroy listener (:meth:`vault.Keyring.on_destroy`): delete what was sealed
    under destroyed keys - subjects' risk attributes, extracts' re-identification mappings.

    Runs in the destroying transaction (a shred, an expiry, ``keys replay-erasures``).
    """
    subject_ids = [o.removeprefix(SUBJECT_OWNER) for o in owners if o.startswith(SUBJECT_OWNER)]
    if subject_ids:
        attributes.delete(session, subject_ids)
    prefix = system_owner(key_name(""))
    extract_ids = [o.removeprefix(prefix) for o in owners if o.startswith(prefix)]
    p = t.extract_pseudonyms.c
    for chunk in chunked(extract_ids):
        session.execute(t.extract_pseudonyms.delete().where(p.extract_id.in_(chunk)))
