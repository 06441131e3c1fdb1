"""Submitting an extract (role ``analyst``): a spec checked against the vault
(:func:`anonymize.extract.source.check`) and the operator's limits (Spark masters, table
roots, a local table's values), then queued as a job; and the source plan a job is run from,
checked the same way again when it runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from anonymize.extract import job_rows as rows
from anonymize.extract import tables as t
from anonymize.extract._checks import Problems
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.roles import SUBMIT_ROLES, Requester, require
from audit.events import AuditEvent
from piivault.db import UnitOfWork
from privacy import attributes
from privacy import purposes as privacy_purposes

if TYPE_CHECKING:
    from anonymize.extract import source
    from anonymize.extract.spec import ExtractSpec, SpecDraft

# The spec and the source are imported where a job is submitted or run: every command builds
# the extract service, few submit extracts.


def check_engine(deps: ExtractDeps, spec: ExtractSpec) -> ExtractSpec:
    """A remote Spark master only if the operator listed it: the driver would send it the rows' codes.
    A risk table only under the operator's roots, holding the columns read.

    Returns the spec with what its table's job is to read (the paths checked).
    Raises InvalidSpec (a 422) naming ``spark.master`` or the table's key.
    """
    from anonymize.extract.errors import InvalidSpec

    master = spec.engine.master
    remote = spec.engine.name == "spark" and not master.startswith("local")
    if remote and master not in deps.spark_masters:
        raise InvalidSpec(
            {"spark.master": "is not a Spark master this vault may use (PIIVAULT_EXTRACT_SPARK_MASTERS)"}
        )
    if spec.table is not None:
        from anonymize.extract.table import check_schema, checked

        table = checked(spec.table, deps.table_roots)
        check_schema(table, spec.read)
        return dataclasses.replace(spec, table=table)
    return spec


def check_table_values(deps: ExtractDeps, spec: ExtractSpec) -> None:
    """A local risk table's released columns hold no direct identifier they would release: a
    bounded sample of its first rows, through the column scanner (:mod:`anonymize.extract.identifiers`).

    The job scans a random sample of the joined rows again (a remote table's first check).
    Raises InvalidSpec naming each column and the rule.
    """
    from anonymize.extract import identifiers
    from anonymize.extract.errors import InvalidSpec
    from anonymize.extract.table import head, is_local, table_columns

    names = table_columns(spec.read)
    if spec.table is None or not is_local(spec.table) or not names:
        return
    problems = Problems()
    # The join key too: a released column that copies it is refused.
    sample = identifiers.bounded(head(spec.table, [*names, spec.table.key], 5 * identifiers.SAMPLE_ROWS))
    identifiers.table_problems(sample, spec.read, deps.field_types, problems, key=spec.table.key)
    if problems:
        raise InvalidSpec(problems)


def submit(
    deps: ExtractDeps,
    uow: UnitOfWork,
    requester: Requester,
    raw_spec: Any,
    *,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Validate a spec (a mapping, as parsed from YAML or JSON) and queue its job.

    Raises ExtractForbidden (role, or a purpose or field type not on the
    key), InvalidSpec (every problem by key path: the spec itself, an
    unknown purpose or source, a field type the purpose does not cover),
    StorageUnavailable.
    """
    from anonymize.extract import source
    from anonymize.extract.spec_parser import parse_spec

    require(requester, SUBMIT_ROLES, "request extracts")
    deps.consent.catalogue.ensure_seeded()
    session = uow.session
    assert session is not None

    def vet(draft: SpecDraft, problems: Problems) -> None:
        # Against the vault at once, so the answer lists the spec's problems and these together.
        purpose = privacy_purposes.get(session, draft.purpose) if draft.purpose is not None else None
        source.check(
            draft,
            purpose,
            deps.field_types,
            attributes.known_names(session),
            problems,
            allowed_purposes=requester.purposes,
            allowed_field_types=requester.field_types,
        )

    spec = parse_spec(raw_spec, vet=vet)
    check_table_values(deps, check_engine(deps, spec))
    now = deps.clock()
    extract_id = rows.new_extract_id()
    expires_at = now + dt.timedelta(days=spec.expires_in_days)
    session.execute(
        t.extracts.insert().values(
            extract_id=extract_id,
            state=rows.QUEUED,
            purpose=spec.purpose,
            requested_by=requester.actor,
            # In the analyst's column order (the output's); the hash is over the canonical form.
            spec=json.dumps(spec.to_dict(), ensure_ascii=False),
            spec_sha256=spec.sha256(),
            phase=rows.QUEUED,
            progress=0.0,
            attempts=0,
            created_at=now,
            expires_at=expires_at,
        )
    )
    uow.record(
        AuditEvent(
            action="extract.request",
            actor=requester.actor,
            purpose=spec.purpose,
            request_id=request_id,
            details={
                "extract_id": extract_id,
                "spec_sha256": spec.sha256(),
                "expires_at": rows.iso(expires_at),
            },
        )
    )
    uow.commit()
    return rows.view(rows.row(session, extract_id))


def plan(deps: ExtractDeps, session: Session, spec: ExtractSpec) -> source.SourcePlan:
    """Where a job's rows come from, checked against the purpose and attributes stored now."""
    from anonymize.extract import source

    return source.plan(
        spec,
        privacy_purposes.get(session, spec.purpose),
        deps.field_types,
        attributes.known_names(session),
    )
