"""The one place where overlapping candidates are resolved.

Several recognizers may claim the same characters: an 18-digit resident ID
also passes Luhn, a mobile number is the local part of an e-mail address,
Presidio's credit-card and our bank-card recognizers both find a card. The
rule: the highest score wins; on equal scores the longer span; on equal spans
the field type earlier in :data:`~anonymize.text.entities.PRIORITY` (resident
ID before USCC before bank card ...). Candidates that overlap a winner are
dropped, so the result never overlaps.

One exception comes first: a name that overlaps an address is part of it
(roads and villages are named after people: 张江路, 王家村8组), so it is
dropped whatever its score.
"""

from __future__ import annotations

from collections.abc import Iterable

from anonymize.text.entities import PRIORITY, Entity

_RANK = {code: rank for rank, code in enumerate(PRIORITY)}


def resolve(candidates: Iterable[Entity]) -> list[Entity]:
    """Non-overlapping entities, in text order."""
    candidates = list(candidates)
    addresses = [e for e in candidates if e.type == "address"]
    if addresses:
        candidates = [e for e in candidates if e.type != "name" or not any(_overlap(e, a) for a in addresses)]
    ordered = sorted(
        candidates,
        key=lambda e: (-e.score, -(e.end - e.start), _RANK.get(e.type, len(_RANK)), e.start),
    )
    kept: list[Entity] = []
    for entity in ordered:
        if not any(_overlap(entity, other) for other in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)


def _overlap(one: Entity, other: Entity) -> bool:
    return one.start < other.end and other.start < one.end
