"""Recognizers for identifiers that are not specific to one country."""

from anonymize.text.recognizers.generic.address_en import EnglishAddressRecognizer
from anonymize.text.recognizers.generic.date_of_birth import DateOfBirthRecognizer
from anonymize.text.recognizers.generic.email import OfflineEmailRecognizer
from anonymize.text.recognizers.generic.name_en import CuedNameRecognizer
from anonymize.text.recognizers.generic.phone import FastPhoneRecognizer

__all__ = [
    "CuedNameRecognizer",
    "DateOfBirthRecognizer",
    "EnglishAddressRecognizer",
    "FastPhoneRecognizer",
    "OfflineEmailRecognizer",
]
