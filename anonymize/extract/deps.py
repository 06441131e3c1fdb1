"""What the extract use cases are given: :class:`ExtractDeps`.

:class:`anonymize.extract.service.ExtractService` makes one for each call from what it holds
now (tests replace its clock, its extract directory and its table roots), so the use-case
modules read nothing but their arguments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anonymize.extract.errors import ExtractNotFound
from anonymize.extract.job_rows import EXTRACT_ID
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from piivault.errors import ConfigurationError
from vault import Keyring


@dataclasses.dataclass(frozen=True)
class ExtractDeps:
    """The collaborators and the operator's settings of one extract use case.

    ``consent`` is the consent service (its purpose catalogue); ``four_eyes`` the approval gate
    on re-identification (None refuses it); ``spark_masters`` and ``table_roots`` what a spec
    may name; ``compare_rows`` the runner's bound on a Spark job's comparison (None: its default).
    """

    session_factory: sessionmaker[Session]
    uow: Callable[[], UnitOfWork]
    keyring: Keyring
    consent: Any
    field_types: FieldTypeRegistry
    extract_dir: Path | None
    spark_masters: frozenset[str]
    table_roots: frozenset[str]
    compare_rows: int | None
    clock: Callable[[], dt.datetime]
    four_eyes: Any

    def directory(self, extract_id: str) -> Path:
        """Where the files of ``extract_id`` are written (the extract directory made if missing).

        Raises ConfigurationError (no directory set), ExtractNotFound (not an extract id).
        """
        if self.extract_dir is None:
            raise ConfigurationError("set PIIVAULT_EXTRACT_DIR (the directory extract files are written to)")
        if not EXTRACT_ID.fullmatch(extract_id):
            raise ExtractNotFound("no such extract")
        # Only this service's user reads the files directly; everyone else downloads them, audited.
        self.extract_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.extract_dir / extract_id

    def directory_or_none(self, extract_id: str) -> Path | None:
        return None if self.extract_dir is None else self.directory(extract_id)
