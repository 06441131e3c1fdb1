"""The recognizer registry: Chinese identifiers for zh and en, Presidio's predefined ones for en,
Chinese names and addresses for zh."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngine
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer

from anonymize.text.recognizers.base import FLAGS
from anonymize.text.recognizers.china import (
    CnAddressRecognizer,
    CnBankCardRecognizer,
    CnHkMacauPermitRecognizer,
    CnLandlineRecognizer,
    CnMobileRecognizer,
    CnPassportRecognizer,
    CnPersonRecognizer,
    CnResidentIdRecognizer,
    CnUsccRecognizer,
    CnVehiclePlateRecognizer,
)
from anonymize.text.recognizers.generic import (
    CuedNameRecognizer,
    DateOfBirthRecognizer,
    EnglishAddressRecognizer,
    FastPhoneRecognizer,
    OfflineEmailRecognizer,
)

_IDENTIFIERS = (
    CnResidentIdRecognizer,
    CnMobileRecognizer,
    CnLandlineRecognizer,
    CnBankCardRecognizer,
    CnUsccRecognizer,
    CnPassportRecognizer,
    CnHkMacauPermitRecognizer,
    CnVehiclePlateRecognizer,
    OfflineEmailRecognizer,
)


def identifier_recognizers(language: str) -> list[EntityRecognizer]:
    """The pattern recognizers for Chinese identifiers and e-mail, for ``language``."""
    return [recognizer(supported_language=language) for recognizer in _IDENTIFIERS]


def build_registry(english_nlp: NlpEngine) -> RecognizerRegistry:
    """zh: identifiers, CN_PERSON, CN_ADDRESS; en: Presidio's predefined ones, the identifiers, EN_ADDRESS,
    EN_PERSON;
    both: DATE_OF_BIRTH.

    Presidio's own e-mail recognizer is replaced by :class:`OfflineEmailRecognizer`
    (its validation would download the public suffix list), its phone recognizer by
    :class:`FastPhoneRecognizer` (the same numbers, without parsing digit runs too short to be one).
    """
    registry = RecognizerRegistry(supported_languages=["en", "zh"], global_regex_flags=FLAGS)
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=english_nlp)
    registry.recognizers = [_faster(r) for r in registry.recognizers if not isinstance(r, EmailRecognizer)]
    for language in ("zh", "en"):
        for recognizer in identifier_recognizers(language):
            registry.add_recognizer(recognizer)
    registry.add_recognizer(CnPersonRecognizer(supported_language="zh"))
    registry.add_recognizer(CnAddressRecognizer(supported_language="zh"))
    registry.add_recognizer(EnglishAddressRecognizer(supported_language="en"))
    registry.add_recognizer(CuedNameRecognizer(supported_language="en"))
    for language in ("zh", "en"):
        registry.add_recognizer(DateOfBirthRecognizer(supported_language=language))
    return registry


def _faster(recognizer: EntityRecognizer) -> EntityRecognizer:
    """:class:`FastPhoneRecognizer` configured as Presidio's phone recognizer was; others as they are."""
    if type(recognizer) is not PhoneRecognizer:
        return recognizer
    return FastPhoneRecognizer(
        context=recognizer.context,
        supported_language=recognizer.supported_language,
        supported_entity=recognizer.supported_entities[0],
        supported_regions=recognizer.supported_regions,
        leniency=recognizer.leniency,
        name=recognizer.name,
    )
