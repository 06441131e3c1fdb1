"""The engine: offline, built once, safe to share between threads, quiet in logs, strict on input."""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import anonymize.text.engine as engine_module
from anonymize.text import (
    InvalidText,
    ModelNotInstalled,
    TextEngine,
    TextTooLong,
    UnsupportedLanguage,
    analyze,
    anonymize,
    offline,
)

ZH = "客户张伟，身份证11010519491231002X，邮箱zhang.wei@example.com，网址www.example.com.cn"
EN = "Customer John Smith, john.smith@example.co.uk, card 4111 1111 1111 1111, see https://example.org"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_building_and_analyzing_opens_no_connection(no_network: list[object]) -> None:
    fresh = TextEngine()
    assert [e.type for e in fresh.analyze(ZH, "zh")] == ["name", "cn_resident_id", "email"]
    assert [e.type for e in fresh.analyze(EN, "en")] == ["name", "email", "bank_card"]
    assert no_network == []


def test_the_shared_engine_analyzes_offline(engine: TextEngine, no_network: list[object]) -> None:
    assert analyze(EN, "auto") and anonymize(ZH, "auto", "mask")[1]
    assert no_network == []


def test_the_offline_suffix_list_has_no_urls() -> None:
    assert offline.TLD_EXTRACTOR.suffix_list_urls == ()
    assert offline.TLD_EXTRACTOR("a@b.example.com.cn").suffix == "com.cn"


def test_the_suffix_list_is_loaded_with_the_recognizer_not_by_the_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading it takes about 0.1 s, which the first request holding an e-mail paid."""
    from anonymize.text.recognizers.generic.email import OfflineEmailRecognizer

    monkeypatch.setattr(offline.TLD_EXTRACTOR, "_extractor", None)  # as a new process has it
    OfflineEmailRecognizer()
    assert offline.TLD_EXTRACTOR._extractor is not None


def test_a_missing_model_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline.metadata, "version", lambda name: "3.7.0")
    with pytest.raises(ModelNotInstalled):
        offline.require_spacy_model()


def test_get_engine_builds_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    builds = []
    gate = threading.Barrier(4)

    class Slow:
        def __init__(self) -> None:
            builds.append(self)

    def get() -> object:
        gate.wait()
        return engine_module.get_engine()

    monkeypatch.setattr(engine_module, "_engine", None)
    monkeypatch.setattr(engine_module, "TextEngine", Slow)
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: get(), range(4)))
    assert len(builds) == 1 and all(e is builds[0] for e in engines)


def test_concurrent_analysis_gives_the_same_results(engine: TextEngine) -> None:
    texts = [ZH, EN, "联系人：李娜，手机13812345678", "往来港澳通行证C12345678"] * 10
    expected = [engine.analyze(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(engine.analyze, texts)) == expected


def test_no_value_reaches_a_log(engine: TextEngine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for operator in ("redact", "mask", "replace"):
            engine.anonymize(ZH, "zh", operator)
        engine.anonymize(EN, "en", "replace")
    for value in ("张伟", "11010519491231002X", "zhang.wei", "John Smith", "4111"):
        assert value not in caplog.text


@pytest.mark.parametrize("language", ["fr", "", "ZH", None])
def test_unsupported_languages(engine: TextEngine, language: object) -> None:
    with pytest.raises(UnsupportedLanguage):
        engine.analyze("文本", language)  # type: ignore[arg-type]


def test_text_must_be_a_string_of_bounded_length(engine: TextEngine) -> None:
    with pytest.raises(InvalidText):
        engine.analyze(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TextTooLong):
        engine.analyze("字" * (engine_module.MAX_TEXT_CHARS + 1))


def test_errors_do_not_echo_the_text(engine: TextEngine) -> None:
    with pytest.raises(UnsupportedLanguage) as raised:
        engine.analyze("张伟 13812345678", "xx")
    assert "13812345678" not in str(raised.value)


def test_no_text_stays_in_the_models_vocabularies(engine: TextEngine) -> None:
    before = len(engine._english_nlp.vocab.strings)
    engine.analyze("Customer Zzyxqorp Vantablack called from 13812345678", "en")
    engine.analyze("客户龘靐齉来电", "zh")
    assert "Zzyxqorp" not in engine._english_nlp.vocab.strings
    assert len(engine._english_nlp.vocab.strings) == before
