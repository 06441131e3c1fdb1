"""Recognizers for identifiers that are not specific to one country."""

from anonymize.text.recognizers.generic.email import OfflineEmailRecognizer

__all__ = ["OfflineEmailRecognizer"]
