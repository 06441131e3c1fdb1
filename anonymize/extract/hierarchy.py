"""The interface of a generalization hierarchy, and what fitting one gives.

A :class:`Hierarchy` maps a column's values to leaf codes and a fitted
:class:`~anonymize.extract.domain.Domain` (:meth:`Hierarchy.fit`); a value it
cannot place gets :data:`MISSING`. The hierarchies themselves are numeric bands
(:mod:`anonymize.extract.bands`) and categorical trees
(:mod:`anonymize.extract.trees`); :mod:`anonymize.extract.hierarchies` names them
for the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anonymize.extract.domain import Domain

MISSING = -1
# The field types whose values some hierarchies reduce (see Hierarchy.REDUCES).
RESIDENT_ID = "cn_resident_id"
ADDRESS = "address"


@dataclass(frozen=True)
class Fitted:
    """Leaf code of every row (:data:`MISSING` where the value cannot be placed) and the domain."""

    codes: np.ndarray
    domain: Domain | None  # None when no row has a usable value


class Hierarchy:
    type: ClassVar[str]
    # The direct identifiers (field type codes) this hierarchy reduces to a coarse fact that
    # cannot give the value back: what an extract may release of such a field type.
    REDUCES: ClassVar[frozenset[str]] = frozenset()

    def fit(self, values: pd.Series) -> Fitted:  # pragma: no cover - abstract
        raise NotImplementedError

    def reduces(self, field_type: str) -> bool:
        """Whether this hierarchy turns a value of ``field_type`` into a coarse fact only."""
        return field_type in self.REDUCES

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
