"""Extract-scoped pseudonyms: a keyed hash under the extract's own data key.

Every extract gets a fresh :class:`vault.DataKey`, so the same subject has
unrelated pseudonyms in two extracts and they cannot be joined. While the key
exists, a DPO can re-identify one pseudonym by recomputing the pseudonyms of
candidate values (:func:`reidentify`); destroying the key when the extract
expires makes its pseudonyms permanently anonymous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from anonymize.extract.errors import InvalidPseudonym
from vault import DataKey, constant_time_equal, system_owner

if TYPE_CHECKING:
    import pandas as pd

LABEL = "extract/pseudonym"
PSEUDONYM_CHARS = 32  # 128 bits, hexadecimal
_SHAPE = re.compile(f"[0-9a-f]{{{PSEUDONYM_CHARS}}}")


def extract_key(extract_id: str) -> DataKey:
    """A fresh data key for one extract; the caller wraps it for storage or lets it go."""
    return DataKey.generate(system_owner("extract/" + extract_id))


def pseudonym(key: DataKey, value: object) -> str:
    """The pseudonym of ``value`` (compared as its string form) under ``key``."""
    return key.keyed_hash(LABEL, str(value).encode("utf-8")).hex()[:PSEUDONYM_CHARS]


def pseudonymize(key: DataKey, values: pd.Series) -> pd.Series:
    """Pseudonyms of a column, one keyed hash per distinct value; missing values stay missing."""
    import numpy as np  # here: the service reads pseudonyms' shape without loading numpy
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.array([pseudonym(key, v) for v in uniques] + [None], dtype=object)
    return pd.Series(names[codes], index=values.index, dtype=object)


def reidentify(pseudonym_text: str, key: DataKey, candidates: Iterable[object]) -> object | None:
    """The candidate whose pseudonym under ``key`` is ``pseudonym_text``, or None.

    Every candidate is hashed and compared in constant time.
    Raises :class:`~anonymize.extract.errors.InvalidPseudonym` if it is not a pseudonym's shape.
    """
    if not isinstance(pseudonym_text, str) or not _SHAPE.fullmatch(pseudonym_text):
        raise InvalidPseudonym()
    wanted = pseudonym_text.encode("ascii")
    found = None
    for candidate in candidates:
        if constant_time_equal(pseudonym(key, candidate).encode("ascii"), wanted) and found is None:
            found = candidate
    return found
