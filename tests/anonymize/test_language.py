"""language=auto: Han characters against Latin words."""

from __future__ import annotations

import pytest

from anonymize.text import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("客户张伟来电", "zh"),
        ("客户张伟的邮箱是zhangwei@example.com", "zh"),
        ("Customer 张伟 called about his card", "en"),
        ("Customer John Smith called", "en"),
        ("13812345678", "zh"),
        ("", "zh"),
        ("VIP客户", "zh"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
