"""The extract's population: which subjects may appear, and how many were left out and why.

The consent service decides eligibility (consent or another legal basis covers
the purpose; not restricted, not erased) and is injected into
:func:`~anonymize.extract.run_extract` as a function of the purpose. It may
return a :class:`Population`, or just the eligible subject ids when it does not
count the excluded ones. Exclusion reasons are counted apart: the subject's
state (:data:`STATE_REASONS`: restricted, erased) and its consent (every
other reason: no consent, withdrawn, expired, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from anonymize.extract.errors import InvalidRows

STATE_REASONS = frozenset({"restricted", "erased"})


@dataclass(frozen=True)
class Population:
    eligible: frozenset[str]
    excluded: Mapping[str, int] = field(default_factory=dict)  # reason -> subjects

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    @property
    def excluded_by_state(self) -> int:
        """Subjects left out because they are restricted or erased."""
        return sum(n for reason, n in self.excluded.items() if reason in STATE_REASONS)

    @property
    def excluded_by_consent(self) -> int:
        """Subjects left out because no consent covers the purpose now (any other reason)."""
        return self.excluded_total - self.excluded_by_state

    @classmethod
    def of(cls, eligible: Iterable[str], **excluded: int) -> Population:
        """``Population.of(ids, no_consent=12, restricted=1)``."""
        return cls(frozenset(eligible), dict(excluded))


PopulationProvider = Callable[[str], Population | Iterable[str]]
"""``purpose -> Population`` (or the eligible subject ids)."""


def resolve_population(provider: PopulationProvider, purpose: str) -> Population:
    """Call the provider and normalize its answer.

    Raises :class:`~anonymize.extract.errors.InvalidRows` if it returns neither a
    :class:`Population` nor an iterable of string ids, or a negative count.
    """
    answer = provider(purpose)
    if isinstance(answer, Population):
        population = answer
    elif isinstance(answer, str | bytes) or not isinstance(answer, Iterable):
        raise InvalidRows("the population provider must return a Population or subject ids")
    else:
        population = Population(frozenset(answer))
    if not all(isinstance(s, str) for s in population.eligible):
        raise InvalidRows("eligible subject ids must be strings")
    if any(not isinstance(n, int) or n < 0 for n in population.excluded.values()):
        raise InvalidRows("excluded counts must be non-negative integers")
    return population
