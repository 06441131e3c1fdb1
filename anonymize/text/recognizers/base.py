"""What the identifier recognizers share: boundaries that work in Chinese, label vetoes, flags.

``\\b`` is useless in Chinese text: Han characters are word characters to the
regex engine, so there is no boundary between 卡号 and the digits after it.
Patterns are wrapped in :data:`START` and :data:`END` instead: no ASCII letter,
digit or underscore may touch the match, nor a letter joined to it by ``-`` or
``.`` (the tail of ``TXN-6222...``), nor decimals (``13812345678.00`` is an
amount). ``/`` separates values (张三/13812345678/6222...), so it may touch.

The regex proposes and :meth:`validate_result` decides: ``True`` (a check digit
holds) gives score 1.0, ``False`` drops the candidate, ``None`` (nothing to
check) keeps the pattern's score, which context words may raise. A candidate
that fails its check but is otherwise plausible (an ID with a typo) is kept
with a low score and a reason (:meth:`IdentifierRecognizer.weak_reason`).
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from fieldtypes.builtin._dates import real_past_date
from fieldtypes.builtin.resident_id import PROVINCE_CODES

START = r"(?<![0-9A-Za-z_])(?<![A-Za-z][-.])(?<!\d\.)"
END = r"(?![0-9A-Za-z_])(?![-.][A-Za-z])(?!\.\d)"
# Case-sensitive: a passport's E or a USCC's letters are capitals. Presidio's default adds IGNORECASE.
FLAGS = re.DOTALL | re.MULTILINE

# A number right after one of these labels is a business reference, not personal data.
REFERENCE_LABELS: tuple[str, ...] = (
    "订单", "订单号", "订单编号", "单号", "流水号", "交易号", "交易编号", "合同号", "合同编号", "工单号",
    "批次号", "凭证号", "参考号", "业务编号", "申请编号", "申请号", "编号", "保单号", "运单号",
    "发票号", "发票号码", "税号", "账单号", "回单号", "商户号", "终端号", "序列号", "设备号",
    "会员号", "客户号", "工号", "案件号", "受理号",
    "order", "order no", "order number", "order id", "transaction", "transaction id", "txn",
    "txn id", "reference", "ref", "ref no", "invoice", "invoice no", "tracking no", "serial no",
    "agreement", "agreement no", "contract", "contract no", "policy", "policy no", "claim", "claim no",
    "case", "case no", "complaint", "complaint no", "ticket", "loan no", "application no", "staff no",
    "ending", "ending in", "last 4", "last four",
)  # fmt: skip
_LABEL_WINDOW = 16
# Key of RecognizerResult.recognition_metadata saying why a candidate's score is low.
REASON_KEY = "reason"
_LABEL_SEPARATORS = " \t:：#＃=为是(（."


_START = re.compile(START)
_END = re.compile(END)


def is_bounded(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` stands alone by the rule above (for matches of Presidio's own patterns)."""
    return _START.match(text, start) is not None and _END.match(text, end) is not None


def bounded(body: str) -> str:
    """``body`` wrapped in the boundaries above."""
    return f"{START}(?:{body}){END}"


def after_reference_label(text: str, start: int) -> bool:
    """True when the characters before ``start`` end in a reference label (订单号：...)."""
    before = text[max(0, start - _LABEL_WINDOW) : start].rstrip(_LABEL_SEPARATORS).lower()
    return before.endswith(REFERENCE_LABELS)


class IdentifierRecognizer(PatternRecognizer):
    """A pattern recognizer for one identifier, case-sensitive, with Chinese-safe boundaries.

    Subclasses set ``ENTITY``, ``PATTERNS`` and ``CONTEXT``, and override
    :meth:`validate_result`. With ``VETO_REFERENCE_LABELS`` set, a match that
    directly follows a reference label (订单号, 流水号, order no) is dropped.
    """

    ENTITY: str = ""
    PATTERNS: tuple[Pattern, ...] = ()
    CONTEXT: tuple[str, ...] = ()
    VETO_REFERENCE_LABELS = False

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=f"{type(self).__name__}_{supported_language}",
            supported_language=supported_language,
            # Fresh Pattern objects: Presidio caches the compiled regex on them.
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            global_regex_flags=FLAGS,
        )

    # Score of a candidate :meth:`weak_reason` explains: a value that fails its check but is
    # otherwise plausible. A context word adds 0.35 (Presidio's context enhancer).
    WEAK_SCORE = 0.5

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        if self.VETO_REFERENCE_LABELS:
            results = [r for r in results if not after_reference_label(text, r.start)]
        for result in results:
            reason = self.weak_reason(text[result.start : result.end])
            if reason is not None:
                result.score = self.WEAK_SCORE
                result.recognition_metadata[REASON_KEY] = reason
        return results

    def weak_reason(self, pattern_text: str) -> str | None:
        """Why a candidate :meth:`validate_result` kept (None) is weak, or None if it is not.

        For detection a failed check lowers confidence; it does not make a value
        safe to leave in clear (a mistyped ID still names its holder).
        """
        return None


_RESIDENT_ID_SHAPE = re.compile(
    r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]"
)


def resident_id_shaped(value: str) -> bool:
    """18 characters with a province code and a real past birth date where an ID has them.

    A value of this shape that fails the GB 11643 check is a mistyped ID, and
    must not be reported as a card or a USCC because it happens to pass Luhn
    (1 in 10) or GB 32100 (1 in 31).
    """
    value = value.upper()
    if not _RESIDENT_ID_SHAPE.fullmatch(value) or int(value[:2]) not in PROVINCE_CODES:
        return False
    return real_past_date(int(value[6:10]), int(value[10:12]), int(value[12:14])) is not None


def digits_only(value: str) -> str:
    """``value`` without spaces and dashes."""
    return value.replace(" ", "").replace("-", "")


class SpanRecognizer(EntityRecognizer):
    """A recognizer for one entity whose :meth:`analyze` is plain code (a grammar, a cue and a date).

    Subclasses set ``ENTITY`` and implement ``analyze``; nothing is loaded.
    """

    ENTITY: str = ""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            name=f"{type(self).__name__}_{supported_language}",
            supported_language=supported_language,
        )

    def load(self) -> None:
        pass
