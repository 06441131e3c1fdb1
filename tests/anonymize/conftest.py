"""One analyzer for the whole session: building it (spaCy, jieba's dictionary) takes seconds."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine, get_engine


@pytest.fixture(scope="session")
def engine() -> TextEngine:
    return get_engine()
