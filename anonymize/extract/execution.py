"""Running a claimed job: its spec and plan checked again, the runner
(:func:`anonymize.extract.runner.run_extract`) fed from the vault, progress and heartbeat
written as it goes, and the outcome recorded - the summary and the sealed re-identification
mapping with the audit event ``extract.completed`` (the manifest, no PII), or the job given
back or failed (:mod:`anonymize.extract.job_queue`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from anonymize.extract import job_rows as rows
from anonymize.extract import reidentification
from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.errors import ExtractNotReady
from anonymize.extract.job_queue import WORKER_ACTOR, ExtractInterrupted, claim, fail, give_back, log
from anonymize.extract.job_rows import RUNNING, SUCCEEDED, e
from anonymize.extract.keys import pseudonym_key
from anonymize.extract.outputs import MANIFEST_NAME
from anonymize.extract.submission import check_engine, plan
from audit.canonical import canonical_json
from audit.events import MAX_DETAILS_BYTES, AuditEvent
from piivault.errors import PiivaultError, UnavailableError
from privacy import purposes as privacy_purposes

if TYPE_CHECKING:
    from anonymize.extract.runner import ExtractResult
    from anonymize.extract.spec import ExtractSpec

# The runner (numpy, pandas, pyarrow, matplotlib) is imported where a job is run: every
# command builds the extract service, few run extracts.

PROGRESS_EVERY = 0.5  # seconds between progress writes (phase changes are written at once)


def run_next(
    deps: ExtractDeps, worker: str, should_stop: Callable[[], bool] | None = None, progress: Any = None
) -> str | None:
    """Claim the oldest queued job and run it; its id, or None when none was queued.

    ``progress(phase, fraction)`` is told as the job advances (the CLI's
    bar). Never raises for the job's own failure (it is recorded on the
    job); raises StorageUnavailable when no job can be claimed.
    """
    extract_id = claim(deps, worker)
    if extract_id is not None:
        execute(deps, extract_id, worker, should_stop, progress)
    return extract_id


def run_one(deps: ExtractDeps, extract_id: str, worker: str, progress: Any = None) -> dict[str, Any]:
    """Run the queued job ``extract_id`` now, in this thread (the CLI); return its view.

    Raises ExtractNotReady if it is not queued (another worker took it).
    """
    if claim(deps, worker, extract_id) is None:
        raise ExtractNotReady("the extract is not queued (another worker may be running it)")
    execute(deps, extract_id, worker, None, progress)
    with deps.session_factory() as session:
        return rows.view(rows.row(session, extract_id))


def execute(
    deps: ExtractDeps, extract_id: str, worker: str, should_stop: Callable[[], bool] | None, progress: Any
) -> None:
    """Run the claimed job ``extract_id`` and record how it ended; never raises for the job's failure."""
    from anonymize.extract import source
    from anonymize.extract.runner import run_extract

    out = None
    key = None
    try:
        with deps.session_factory() as session:
            row = rows.row(session, extract_id)
            spec = rows.stored_spec(row.spec)
            purpose = privacy_purposes.get(session, spec.purpose)
            # Checked again: the purpose or the stored attributes may have changed since submission,
            # and so may the operator's Spark masters and table roots.
            source_plan = plan(deps, session, spec)
        spec = check_engine(deps, spec)  # the table read is the one checked now
        assert purpose is not None
        out = deps.directory(extract_id)
        if spec.pseudonymized:
            key = pseudonym_key(deps, extract_id)
        result = run_extract(
            spec,
            source.rows(deps.session_factory, deps.keyring, source_plan),
            source.population(deps.session_factory, purpose, source_plan, deps.clock),
            out,
            _reporter(deps, extract_id, worker, should_stop, progress),
            extract_id=extract_id,
            key=key,
            identifiers=source_plan.identifiers,
            field_types=deps.field_types,
            table_keys=source.table_keys(deps.session_factory, source_plan.join_token)
            if source_plan.join_token
            else None,
            **({} if deps.compare_rows is None else {"compare_rows": deps.compare_rows}),
        )
        _succeed(deps, extract_id, worker, spec, result)
    except UnavailableError as err:
        give_back(deps, extract_id, worker, err, out)
    except PiivaultError as err:
        fail(deps, extract_id, worker, err.code, err.message, out)
    except Exception as err:  # a bug: the job fails, the worker goes on; the text may hold values
        log.error("extract %s failed: %s", extract_id, type(err).__name__)
        fail(deps, extract_id, worker, "internal_error", "the extract failed unexpectedly", out)


def _reporter(
    deps: ExtractDeps, extract_id: str, worker: str, should_stop: Callable[[], bool] | None, progress: Any
) -> Callable[[str, float], None]:
    last = {"phase": "", "at": 0.0}

    def report(phase: str, fraction: float) -> None:
        if should_stop is not None and should_stop():
            raise ExtractInterrupted("the worker is stopping")
        if progress is not None:
            progress(phase, fraction)
        now = time.monotonic()
        if phase == last["phase"] and now - last["at"] < PROGRESS_EVERY and fraction < 1.0:
            return
        last.update(phase=phase, at=now)
        with deps.session_factory() as session:
            session.execute(
                t.extracts.update()
                .where(e.extract_id == extract_id, e.state == RUNNING, e.worker == worker)
                .values(phase=phase, progress=fraction, heartbeat_at=deps.clock())
            )
            session.commit()

    return report


def _succeed(
    deps: ExtractDeps, extract_id: str, worker: str, spec: ExtractSpec, result: ExtractResult
) -> None:
    files = dict(result.manifest["outputs"])
    with (result.out_dir / MANIFEST_NAME).open("rb") as handle:
        files[MANIFEST_NAME] = rows.hash_file(handle)
    sealed: dict[int, bytes] = {}
    if result.key is not None:
        columns = {c.output: result.table[c.output].tolist() for c in spec.pseudonymized}
        sealed = reidentification.seal_mapping(result.key, extract_id, columns, list(result.subjects))
    summary = {
        "result": _result(result),
        "files": files,
        "pseudonym_key_id": result.key.key_id if result.key is not None else None,
    }
    now = deps.clock()
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        if sealed:
            session.execute(
                t.extract_pseudonyms.insert(),
                [{"extract_id": extract_id, "bucket": b, "sealed": s} for b, s in sorted(sealed.items())],
            )
        done = session.execute(
            t.extracts.update()
            .where(e.extract_id == extract_id, e.state == RUNNING, e.worker == worker)
            .values(
                state=SUCCEEDED,
                phase="done",
                progress=1.0,
                finished_at=now,
                heartbeat_at=now,
                summary=json.dumps(summary, sort_keys=True),
                error_code=None,
                error_detail=None,
            )
        )
        if not done.rowcount:
            log.warning("extract %s was taken from this worker; its result is dropped", extract_id)
            return
        uow.record(
            AuditEvent(
                action="extract.completed",
                actor=WORKER_ACTOR,
                purpose=spec.purpose,
                details=_manifest_event(result, files),
            )
        )
        uow.commit()


def _result(result: ExtractResult) -> dict[str, Any]:
    """Counts and measures of a finished extract, as JSON-ready plain values."""
    report = result.report
    measures = report["measures"]
    population = report["population"]
    return {
        "eligible": population["eligible"],
        "excluded_by_consent": population["excluded_by_consent"],
        "excluded_restricted_or_erased": population["excluded_restricted_or_erased"],
        "excluded_by_reason": dict(population["excluded_by_reason"]),
        "rows_in": report["rows"]["in"],
        "rows_kept": report["rows"]["kept"],
        "rows_suppressed": report["rows"]["suppressed"],
        "k": measures["k"],
        "l": measures["l"],
        "classes": measures["classes"],
        "prosecutor_risk_max": measures["prosecutor_risk_max"],
        "prosecutor_risk_avg": measures["prosecutor_risk_avg"],
        "ncp": measures["ncp"],
        "discernibility": measures["discernibility"],
    }


def _manifest_event(result: ExtractResult, files: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as audit details: hashes, counts, k and l, parameters; integers and strings only."""
    manifest = result.manifest
    counts = manifest["counts"]
    parameters = manifest["parameters"]
    details: dict[str, Any] = {
        "extract_id": manifest["extract_id"],
        "spec_sha256": manifest["spec_sha256"],
        "outputs": {
            name: {"sha256": d["sha256"], "bytes": int(d["bytes"])} for name, d in sorted(files.items())
        },
        "counts": {
            "eligible": int(counts["eligible_subjects"]),
            "excluded_by_consent": int(counts["excluded_by_consent"]),
            "excluded_restricted_or_erased": int(counts["excluded_restricted_or_erased"]),
            "excluded_by_reason": {
                r: int(n) for r, n in result.report["population"]["excluded_by_reason"].items()
            },
            "rows_not_eligible": int(counts["rows_not_eligible"]),
            "rows_in": int(counts["rows_in"]),
            "rows_kept": int(counts["rows_kept"]),
            "rows_suppressed": int(counts["rows_suppressed"]),
            "classes": int(counts["classes"]),
        },
        "achieved": {"k": int(manifest["achieved"]["k"]), "l": manifest["achieved"]["l"]},
        "parameters": {
            "k": int(parameters["k"]),
            "l": int(parameters["l"]),
            # Audit events carry no floats (canonical JSON): the budget as written.
            "max_suppression": repr(float(parameters["max_suppression"])),
            "expires_in_days": int(result.report["spec"]["expires_in_days"]),
            **{
                role: list(parameters[role])
                for role in ("quasi", "sensitive", "attributes", "pseudonymized", "dropped")
            },
        },
        "pseudonym_key_id": manifest["pseudonym_key_id"],
    }
    if len(canonical_json(details)) > MAX_DETAILS_BYTES - 1_024:
        # Very wide specs: the column lists go (manifest.json, hashed above, keeps them).
        details["parameters"] = {k: v for k, v in details["parameters"].items() if not isinstance(v, list)}
    return details
