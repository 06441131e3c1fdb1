"""The spaCy English engine for Presidio, reduced to what the analyzer reads: tokens, PERSON, lemmas.

Presidio's :class:`SpacyNlpEngine` runs the whole model and turns every entity of
the document into an artifact, warning in the log for each label it does not map
(CARDINAL, MONEY...: several per bank note). The English path asks spaCy for
person names only: here the model runs its tokenizer and NER (NER has its own
token-to-vector layer; the shared tok2vec, tagger, parser, attribute ruler and
lemmatizer feed nothing it reads), only PERSON spans become artifacts, and the
lower-cased word stands for the lemma Presidio's context words are matched
against (card, ssn, phone), which needs no tagger. A text in which no PERSON span
could survive the English path's trimming (:func:`~anonymize.text.person_en.may_hold_name`:
no piece between separators with two capitalized words) is only tokenized.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

from anonymize.text.person_en import may_hold_name

PERSON = "PERSON"
_UNUSED_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


class EnglishNlpEngine(SpacyNlpEngine):
    """:class:`SpacyNlpEngine` over one English model, NER only, PERSON spans only."""

    def __init__(self, model_name: str) -> None:
        super().__init__(models=[{"lang_code": "en", "model_name": model_name}])

    def load(self) -> None:
        super().load()
        nlp = self.get_nlp("en")
        for name in _UNUSED_PIPES:
            if name in nlp.pipe_names:
                nlp.disable_pipe(name)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Tokens, and PERSON spans where one could be a name (else none: NER is not run)."""
        if may_hold_name(text):
            return super().process_text(text, language)
        return self._doc_to_nlp_artifact(self.get_nlp(language).make_doc(text), language)

    def process_batch(  # type: ignore[override]
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        as_tuples: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """:meth:`process_text` for each of ``texts`` (``nlp.pipe`` over those NER reads), in order."""
        if as_tuples:
            yield from super().process_batch(texts, language, batch_size, n_process, as_tuples=True)
            return
        nlp = self.get_nlp(language)
        texts = [str(text) for text in texts]
        named = [may_hold_name(text) for text in texts]
        docs = nlp.pipe(
            (text for text, name in zip(texts, named, strict=True) if name),
            batch_size=batch_size,
            n_process=n_process,
        )
        for text, name in zip(texts, named, strict=True):
            doc = next(docs) if name else nlp.make_doc(text)
            yield doc.text, self._doc_to_nlp_artifact(doc, language)

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        people = [ent for ent in doc.ents if ent.label_ == PERSON]
        return NlpArtifacts(
            entities=people,
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=[self.ner_model_configuration.default_score] * len(people),
        )
