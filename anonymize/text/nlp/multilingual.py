"""One Presidio NLP engine per language behind the single engine the analyzer takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine


class MultilingualNlpEngine(NlpEngine):
    """Dispatches each call to the engine registered for its language (zh -> jieba, en -> spaCy)."""

    engine_name = "piivault_multilingual"
    is_available = True

    def __init__(self, engines: Mapping[str, NlpEngine]) -> None:
        self._engines = dict(engines)

    def _engine(self, language: str) -> NlpEngine:
        try:
            return self._engines[language]
        except KeyError:
            raise ValueError("no NLP engine for this language") from None

    def load(self) -> None:
        for engine in self._engines.values():
            if not engine.is_loaded():
                engine.load()

    def is_loaded(self) -> bool:
        return all(engine.is_loaded() for engine in self._engines.values())

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Raises ValueError for a language without an engine."""
        return self._engine(language).process_text(text, language)

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: object,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        return self._engine(language).process_batch(texts, language, batch_size, n_process, **kwargs)

    def is_stopword(self, word: str, language: str) -> bool:
        return self._engine(language).is_stopword(word, language)

    def is_punct(self, word: str, language: str) -> bool:
        return self._engine(language).is_punct(word, language)

    def get_supported_entities(self) -> list[str]:
        return sorted({e for engine in self._engines.values() for e in engine.get_supported_entities()})

    def get_supported_languages(self) -> list[str]:
        return list(self._engines)
