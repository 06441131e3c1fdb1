"""The spaCy English engine for Presidio, reduced to what the analyzer reads: tokens, PERSON, lemmas.

Presidio's :class:`SpacyNlpEngine` runs the whole model and turns every entity of
the document into an artifact, warning in the log for each label it does not map
(CARDINAL, MONEY...: several per bank note). The English path asks spaCy for
person names only: here the model runs its tokenizer and NER (NER has its own
token-to-vector layer; the shared tok2vec, tagger, parser, attribute ruler and
lemmatizer feed nothing it reads), only PERSON spans become artifacts, and the
lower-cased word stands for the lemma Presidio's context words are matched
against (card, ssn, phone), which needs no tagger.
"""

from __future__ import annotations

from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

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
