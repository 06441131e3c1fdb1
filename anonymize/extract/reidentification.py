"""The sealed re-identification mapping of an extract: pseudonym -> subject ids, per column.

When a model flags a released row, a DPO may learn whose it is (one
pseudonym, with a reason, audited). The mapping from each pseudonym of each
pseudonymized column to the subjects whose rows carry it is built when the
extract is written and stored only sealed under the extract's own pseudonym
key (:meth:`vault.DataKey.seal`), in :data:`BUCKETS` buckets by pseudonym
prefix so that one lookup opens one bucket. No plaintext mapping exists;
destroying the key at expiry turns every bucket into noise.

It stores subject ids, never identifiers: a DPO goes on from the subject id
through the subject's page and the data-subject-request workflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from anonymize.extract.pseudonyms import PSEUDONYM_CHARS
from vault import Binding, DataKey

BUCKETS = 64
BINDING_FIELD = "extract/pseudonym-map"


def bucket_of(pseudonym: str) -> int:
    """The bucket a (well-formed, hexadecimal) pseudonym is kept in."""
    return int(pseudonym[:4], 16) % BUCKETS


def _binding(extract_id: str, bucket: int) -> Binding:
    return Binding("extract:" + extract_id, BINDING_FIELD, str(bucket))


def seal_mapping(
    key: DataKey,
    extract_id: str,
    columns: Mapping[str, Sequence[str | None]],
    subjects: Sequence[str],
) -> dict[int, bytes]:
    """The sealed buckets of the mapping; ``columns`` holds each pseudonymized column's values,
    aligned with ``subjects`` (the subject of each released row). Missing pseudonyms are skipped.
    """
    buckets: dict[int, dict[str, dict[str, list[str]]]] = {}
    for column, pseudonyms in columns.items():
        if len(pseudonyms) != len(subjects):
            raise ValueError("each column needs one pseudonym per released row")
        for pseudonym, subject in zip(pseudonyms, subjects, strict=True):
            if pseudonym is None or len(pseudonym) != PSEUDONYM_CHARS:
                continue
            by_column = buckets.setdefault(bucket_of(pseudonym), {})
            by_column.setdefault(column, {}).setdefault(pseudonym, []).append(str(subject))
    sealed = {}
    for bucket, content in buckets.items():
        for held in content.values():
            for pseudonym, owners in held.items():
                held[pseudonym] = sorted(set(owners))
        text = json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")
        sealed[bucket] = key.seal(text, _binding(extract_id, bucket))
    return sealed


def find(
    key: DataKey, extract_id: str, column: str, pseudonym: str, sealed_bucket: bytes | None
) -> list[str]:
    """The subjects whose rows carry ``pseudonym`` in ``column`` (empty if none).

    ``sealed_bucket`` is the stored bucket :func:`bucket_of` names (None if
    there is none). Raises :class:`vault.InvalidSealedValue` for a bucket
    that does not open under ``key``.
    """
    if sealed_bucket is None:
        return []
    content = json.loads(key.open(sealed_bucket, _binding(extract_id, bucket_of(pseudonym))))
    return list(content.get(column, {}).get(pseudonym, []))
