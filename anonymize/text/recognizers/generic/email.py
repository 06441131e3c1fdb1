"""E-mail addresses, with boundaries that work inside Chinese text and an offline suffix list."""

from __future__ import annotations

from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from anonymize.text.offline import TLD_EXTRACTOR
from anonymize.text.recognizers.base import FLAGS
from fieldtypes import default_registry

_EMAIL = default_registry().get("email")


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, changed in two ways.

    * Presidio's pattern starts with ``\\b``, which never matches between a Han
      character and a Latin letter (邮箱zhang@example.com): ASCII lookarounds
      replace it.
    * Its validation calls ``tldextract.extract``, whose module-level extractor
      downloads the public suffix list: this one uses the offline extractor.

    Valid (a known public suffix and the ``email`` field type's syntax) -> 1.0,
    else dropped.
    """

    PATTERNS = [
        Pattern(
            "email",
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
            r"(?![A-Za-z0-9\-@])",
            0.5,
        )
    ]
    CONTEXT = ["email", "e-mail", "mail", "邮箱", "邮件", "电子邮件"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            supported_language=supported_language,
            name=f"OfflineEmailRecognizer_{supported_language}",
        )
        self.global_regex_flags = FLAGS
        # The suffix list loads on the extractor's first call (about 0.1 s): here, when the
        # engine is built, not inside the first request that holds an e-mail address.
        TLD_EXTRACTOR("example.com")

    def validate_result(self, pattern_text: str) -> bool:
        return TLD_EXTRACTOR(pattern_text).fqdn != "" and _EMAIL.is_valid(pattern_text)
