"""Correction: a token keeps its identity and gets a new value; the old value is gone.

The new value is normalized and validated for the token's field type, sealed
under the subject's data key bound to (subject, field type, token), and its
blind index recomputed; the row is overwritten in place. Values never leave
this function: errors name the item and the rule only.

The old ciphertext survives only in database backups taken before the
correction, sealed under the same data key; erasing the subject shreds it too.
Because the token stays, what a token says about the old value stays with it:
a deterministic token is a keyed hash of the old value, and a format-preserving
one may keep its ends in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldtypes import FieldTypeRegistry, InvalidValue, UnknownFieldType
from tokenization import tables as tt
from tokenization.errors import InvalidRequest
from tokenization.tokenize import BLIND_INDEX_KEY
from tokenization.tokens import blind_index
from vault import Binding, Keyring


def replace_values(
    keyring: Keyring,
    field_types: FieldTypeRegistry,
    session: Session,
    subject_id: str,
    corrections: Sequence[dict[str, Any]],
) -> list[str]:
    """Replace each ``{token, value}``'s value; return the field types corrected, in order.

    Runs in the caller's transaction (a data-subject request's). Raises
    :class:`InvalidRequest` naming the item (a token not held for this
    subject, an invalid value and its rule), SubjectShredded, VaultUnavailable,
    StorageUnavailable. Nothing is changed unless every item is valid.
    """
    k = tt.tokens.c
    prepared = []
    for i, item in enumerate(corrections):
        if not isinstance(item, dict) or set(item) != {"token", "value"}:
            raise InvalidRequest(f"corrections[{i}] must be {{token, value}}")
        token, value = item["token"], item["value"]
        if not isinstance(token, str) or not isinstance(value, str):
            raise InvalidRequest(f"corrections[{i}]: token and value must be strings")
        row = session.execute(sa.select(k.field_type, k.subject_id, k.sealed).where(k.token == token)).first()
        if row is None or row.subject_id != subject_id or row.sealed is None:
            raise InvalidRequest(f"corrections[{i}]: no such token held for this subject")
        try:
            field_type = field_types.get(row.field_type)
            normalized = field_type.normalize_and_validate(value)
        except UnknownFieldType:
            raise InvalidRequest(f"corrections[{i}]: the field type is no longer configured") from None
        except InvalidValue as e:
            raise InvalidRequest(f"corrections[{i}]: invalid value ({e.rule}): {e.message}") from None
        prepared.append((token, row.field_type, normalized))
    key = keyring.subject_key(session, subject_id)
    index_key = keyring.system_key(session, BLIND_INDEX_KEY)
    for token, field_type, normalized in prepared:
        raw = normalized.encode("utf-8")
        session.execute(
            tt.tokens.update()
            .where(k.token == token)
            .values(
                sealed=key.seal(raw, Binding(subject_id, field_type, token)),
                blind_index=blind_index(index_key, field_type, normalized),
            )
        )
    return [field_type for _, field_type, _ in prepared]
