"""English text: Presidio's recognizers with the spaCy model, plus the Chinese identifiers."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine
from tests.anonymize.spans import spans

CASES = [
    ("Customer John Smith called about his statement.", [("name", "John Smith")]),
    ("Please email john.smith@example.com for details.", [("email", "john.smith@example.com")]),
    ("Card 4111 1111 1111 1111 was blocked.", [("bank_card", "4111 1111 1111 1111")]),
    ("His PRC ID is 11010519491231002X.", [("cn_resident_id", "11010519491231002X")]),
    ("Call him on +86 138 1234 5678 tomorrow.", [("cn_mobile", "+86 138 1234 5678")]),
    ("She showed passport E12345678 at the counter.", [("passport", "E12345678")]),
    ("Order 6222021234567890128 shipped on 2024-01-05 for $12,345.00.", []),
    ("Transaction TXN-4111111111111111 was reversed.", []),
    ("The branch opens at 9:30 on Monday.", []),
    # Street addresses, UK and US, as one span with flat, unit and postcode or ZIP.
    (
        "Moved to 221B Baker Street, London NW1 6XE last May.",
        [("address", "221B Baker Street, London NW1 6XE")],
    ),
    (
        "Send it to 1600 Pennsylvania Ave NW, Washington, DC 20500 please.",
        [("address", "1600 Pennsylvania Ave NW, Washington, DC 20500")],
    ),
    ("Lives at Flat 2, 14 Mill Road, Leeds, LS6 2AB.", [("address", "Flat 2, 14 Mill Road, Leeds, LS6 2AB")]),
    (
        "New address 88 Oak Lane, Apt 3C, Dayton, OH 45402.",
        [("address", "88 Oak Lane, Apt 3C, Dayton, OH 45402")],
    ),
    ("Visited the Leeds branch; customer works in Ohio and is from London.", []),
    # Dates stated as birth dates; other dates are not personal data.
    ("DOB 14 March 1978, verified.", [("date_of_birth", "14 March 1978")]),
    ("She was born 1978-03-14 in Leeds.", [("date_of_birth", "1978-03-14")]),
    ("Date of birth: March 14, 1978.", [("date_of_birth", "March 14, 1978")]),
    ("Called on 14 March 2024; promised to pay by 2024-04-01.", []),
    ("DOB 31/02/1978 was rejected.", []),
    # A US SSN is its own type, not a phone number.
    ("SSN 536-22-1234 on file.", [("us_ssn", "536-22-1234")]),
    ("Agreement no. 6604910904 signed.", []),
    # A name without its title or role word, and without the clause after it.
    ("Spoke to Mrs Harriet Collins - payment plan agreed.", [("name", "Harriet Collins")]),
    ("Applicant Daniel Okonkwo / income checked.", [("name", "Daniel Okonkwo")]),
    # A name after an honorific (one word is enough) or after a role word or call phrase (first name
    # and surname), where the model finds none or only the surname.
    ("Caller Ms Adeyemi asked for a new card.", [("name", "Adeyemi")]),
    ("Letter returned, Dr. Fairweather-Lowe informed.", [("name", "Fairweather-Lowe")]),
    ("Cust Priya Raman confirmed the payee.", [("name", "Priya Raman")]),
    ("Payment plan handled by Tomasz Nowak.", [("name", "Tomasz Nowak")]),
    ("Joint applicant Ingrid Solberg present.", [("name", "Ingrid Solberg")]),
    ("Customer Service Team will call back.", []),
    # A single capitalized word the model tags, without an honorific, is not reported.
    ("Customer relocating to Lisbon next spring.", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_english_text(engine: TextEngine, text: str, expected: list[tuple[str, str]]) -> None:
    found = [(e.type, e.start, e.end) for e in engine.analyze(text, "en")]
    assert found == spans(text, expected)


def test_english_pipeline_runs_only_what_is_read(engine: TextEngine) -> None:
    """The English path runs NER only, keeps PERSON spans only and lower-cased words as lemmas;
    context words still raise scores."""
    nlp = engine._english_nlp
    assert nlp.pipe_names == ["ner"]
    artifacts = engine._english.process_text("Cards blocked for John Smith in London, $400 on 5 May", "en")
    assert artifacts.lemmas[:2] == ["cards", "blocked"]
    assert [(e.text, e.label_) for e in artifacts.entities] == [("John Smith", "PERSON")]
    bare = [e.score for e in engine.analyze("Number 536-22-1234 noted.", "en") if e.type == "us_ssn"]
    cued = [e.score for e in engine.analyze("SSN 536-22-1234 noted.", "en") if e.type == "us_ssn"]
    assert cued and (not bare or cued[0] > bare[0])


def test_trim_person_keeps_the_name_only() -> None:
    from anonymize.text.person_en import trim_person

    for text, name in [
        ("Customer Dr Ellen Marsh - card", "Ellen Marsh"),
        ("Leeds\nGeorge Whitfield", "George Whitfield"),
        ("Cust Aoife O'Brien-Kelly.", "Aoife O'Brien-Kelly"),
    ]:
        span = trim_person(text, 0, len(text))
        assert span is not None and text[span[0] : span[1]] == name
    assert trim_person("Mrs - card", 0, 10) is None
    assert trim_person("Order 8757491186252760189", 0, 25) is None


def test_analyze_batch_finds_what_analyze_finds(engine: TextEngine) -> None:
    texts = [text for text, _ in CASES] + ["", "  "]
    assert engine.analyze_batch(texts, "en") == [engine.analyze(text, "en") for text in texts]
    assert engine.analyze_batch(["客户张伟手机13812345678"], "zh") == [
        engine.analyze("客户张伟手机13812345678", "zh")
    ]


class _CountingLock:
    """The engine's English lock, counting how often a batch takes it."""

    def __init__(self, lock) -> None:  # noqa: ANN001
        self.lock, self.taken = lock, 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.taken += 1

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_a_large_batch_lets_other_requests_have_the_pipeline_between_chunks(engine: TextEngine) -> None:
    # One batch of up to a million characters must not hold the worker's English pipeline
    # (shared by its threads) for the whole batch: the lock is taken per chunk.
    from anonymize.text.engine import BATCH_SIZE

    texts = [text for text, _ in CASES] * (BATCH_SIZE // len(CASES) + 2)
    lock = engine._english_lock
    counting = engine._english_lock = _CountingLock(lock)  # type: ignore[assignment]
    try:
        found = engine.analyze_batch(texts, "en")
    finally:
        engine._english_lock = lock
    assert counting.taken >= 2
    assert found == [engine.analyze(text, "en") for text in texts]


def test_a_chunk_holds_at_most_one_texts_worth_of_characters() -> None:
    from types import SimpleNamespace

    from anonymize.text.engine import MAX_TEXT_CHARS, _lock_chunks

    texts = [SimpleNamespace(text="a" * 60_000) for _ in range(3)] + [SimpleNamespace(text="b")]
    chunks = _lock_chunks(texts)
    assert [len(c) for c in chunks] == [1, 1, 2]
    assert all(sum(len(t.text) for t in c) <= MAX_TEXT_CHARS for c in chunks)


def test_analyze_batch_checks_every_text_first(engine: TextEngine) -> None:
    from anonymize.text.errors import InvalidText, TextTooLong

    with pytest.raises(InvalidText):
        engine.analyze_batch(["John Smith", 12], "en")  # type: ignore[list-item]
    with pytest.raises(TextTooLong):
        engine.analyze_batch(["John Smith", "a" * 100_001], "en")


def test_analyze_batch_auto_sends_each_text_to_its_language(engine: TextEngine) -> None:
    texts = ["客户张伟手机13812345678", CASES[0][0], "客户李娜的邮箱是lina@example.com", CASES[2][0]]
    assert engine.analyze_batch(texts, "auto") == [engine.analyze(text, "auto") for text in texts]


def test_anonymize_batch_tokenizes_the_batchs_values_in_one_call(engine: TextEngine) -> None:
    calls: list[list[tuple[str, str]]] = []

    def tokenizer(values: list[tuple[str, str]]) -> list[str]:
        calls.append(values)
        return [f"tok_{i}" for i in range(len(values))]

    texts = [CASES[0][0], "No personal data.", CASES[0][0].replace("called", "wrote"), CASES[1][0]]
    out = engine.anonymize_batch(texts, "en", "tokenize", tokenizer)
    assert calls == [[("name", "John Smith"), ("email", "john.smith@example.com")]]
    assert [text for text, _ in out] == [
        "Customer tok_0 called about his statement.",
        "No personal data.",
        "Customer tok_0 wrote about his statement.",
        "Please email tok_1 for details.",
    ]


def test_anonymize_batch_refuses_a_batch_too_large_before_analyzing(engine: TextEngine) -> None:
    from anonymize.text import MAX_BATCH_CHARS, MAX_BATCH_TEXTS, BatchTooLarge

    with pytest.raises(BatchTooLarge):
        engine.anonymize_batch(["John Smith"] * (MAX_BATCH_TEXTS + 1), "en", "mask")
    with pytest.raises(BatchTooLarge):
        engine.anonymize_batch(["a" * 100_000] * (MAX_BATCH_CHARS // 100_000 + 1), "en", "mask")
