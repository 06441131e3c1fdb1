"""What a verification found: :class:`VerifyReport`, the result of :func:`audit.verify.verify_log`.

A report counts every problem and keeps the first ``MAX_REPORTED``, each with the
first event it concerns; it is ``ok`` only when it counted none. Page workers fill
reports of their own, which the parent merges (:meth:`VerifyReport.merge`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

MAX_REPORTED = 100


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing that does not hold. ``index`` is the first event it concerns, if any."""

    kind: str
    index: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "message": self.message}


@dataclasses.dataclass
class VerifyReport:
    events: int = 0
    head_size: int | None = None
    checkpoints: int = 0
    saved_checkpoint_size: int | None = None
    saved_checkpoint_sizes: list[int] = dataclasses.field(default_factory=list)
    trust_anchor: str | None = None
    authenticity: dict[str, Any] | None = None
    """Entry MAC counts (:class:`audit.authenticity.MacReport`), when the operator's key checked them."""
    queued: int = 0
    workers: int = 1
    problems: list[Problem] = dataclasses.field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def flag(self, kind: str, index: int | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(Problem(kind, index, message))

    def merge(self, problems: Sequence[Problem], count: int) -> None:
        self.problem_count += count
        room = MAX_REPORTED - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_size": self.head_size,
            "checkpoints": self.checkpoints,
            "saved_checkpoint_size": self.saved_checkpoint_size,
            "saved_checkpoint_sizes": list(self.saved_checkpoint_sizes),
            "trust_anchor": self.trust_anchor,
            "authenticity": self.authenticity,
            "queued": self.queued,
            "first_bad_index": self.first_bad_index,
            "problem_count": self.problem_count,
            "problems": [p.to_dict() for p in self.problems],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> list[str]:
        """Human-readable lines: the verdict first."""
        rate = self.events / self.seconds if self.seconds else 0.0
        lines = [
            f"{'OK' if self.ok else 'FAILED'}: {self.events} events, {self.checkpoints} checkpoints, "
            f"{self.queued} queued ({self.seconds:.2f}s, {rate:,.0f} events/s)"
        ]
        if self.trust_anchor is not None:
            lines.append(f"trust anchor: {self.trust_anchor}")
        if self.authenticity is not None:
            a = self.authenticity
            lines.append(
                f"event MACs: {a['valid']} valid, {a['invalid']} forged ({a['recorded']} recorded as forged "
                f"by the sequencer), {a['legacy']} from before MACs"
            )
        else:
            lines.append("event MACs: not checked (needs the operator's key: run without --key)")
        for size in self.saved_checkpoint_sizes:
            lines.append(f"saved checkpoint at size {size} checked")
        if not self.ok:
            first = self.first_bad_index
            lines.append(
                f"{self.problem_count} problem(s); first bad index: {'-' if first is None else first}"
            )
            lines.extend(f"  [{p.kind}] {p.message}" for p in self.problems)
            if self.problem_count > len(self.problems):
                lines.append(f"  ... and {self.problem_count - len(self.problems)} more")
        return lines
