"""Anonymization operators: redact, mask, replace, tokenize.

Each operator is a Presidio anonymizer operator; the substitutions that must
be consistent across a text (pseudonyms, vault tokens) are decided first,
once per distinct value, and the operators only look them up:

* ``redact``: Presidio's own, the value is removed.
* ``mask``: the field type's display mask (``138****5678``, ``张*``,
  ``110***********002X``); a generic middle mask for types without one.
* ``replace``: ``<PERSON_1>``, ``<CN_MOBILE_2>`` ...; the same value (after
  the field type's normalization, so ``138-1234-5678`` and ``13812345678``
  match) gets the same placeholder within one request, and nothing is kept
  across requests.
* ``tokenize``: one call of the caller's ``tokenizer`` with every distinct
  ``(field_type, value)``; it stores them in the vault and returns their
  tokens. Presidio's built-in ``encrypt`` (unauthenticated AES-CBC) is never
  used.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.operators import Operator, OperatorType

from anonymize.text.entities import Entity
from anonymize.text.errors import TokenizerFailed, UnknownOperator
from anonymize.text.normalize import strip_invisible
from fieldtypes import MiddleMask, UnknownFieldType, default_registry

Tokenizer = Callable[[list[tuple[str, str]]], Sequence[str]]
"""Stores values in the vault: ``[(field_type, value), ...] -> [token, ...]``, same order and length."""

_FIELD_TYPES = default_registry()
_MASKS: dict[str, Callable[[str], str]] = {"cn_landline": MiddleMask(keep_start=4, keep_end=2)}
_GENERIC_MASK = MiddleMask(keep_start=1, keep_end=2, min_hidden=None)
_PLACEHOLDER_LABELS = {"name": "PERSON", "email": "EMAIL"}


class TextOperator(StrEnum):
    REDACT = "redact"
    MASK = "mask"
    REPLACE = "replace"
    TOKENIZE = "tokenize"


def value_key(field_type: str, value: str) -> str:
    """The form under which two mentions count as the same value: the field type's normalization."""
    value = strip_invisible(value)
    try:
        field = _FIELD_TYPES.get(field_type)
    except UnknownFieldType:
        field = None
    if field is not None and field.is_valid(value):
        return field.normalize_and_validate(value)
    return unicodedata.normalize("NFKC", value).strip()


def mask_value(field_type: str, value: str) -> str:
    """The display mask of ``field_type`` applied to ``value``, or a generic one."""
    value = strip_invisible(value)
    try:
        field = _FIELD_TYPES.get(field_type)
    except UnknownFieldType:
        field = None
    if field is not None and field.is_valid(value):
        return field.mask(field.normalize_and_validate(value))
    return _MASKS.get(field_type, _GENERIC_MASK)(value)


def placeholder_label(field_type: str) -> str:
    return _PLACEHOLDER_LABELS.get(field_type, field_type.upper())


class FieldMaskOperator(Operator):
    """Presidio operator ``piivault_mask``: the value's field-type display mask."""

    def operate(self, text: str, params: dict | None = None) -> str:
        return mask_value((params or {})["entity_type"], text)

    def validate(self, params: dict | None = None) -> None:
        pass

    def operator_name(self) -> str:
        return "piivault_mask"

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


class _LookupOperator(Operator):
    """Replaces a value by ``params["substitutes"][(entity_type, value_key)]``, decided beforehand."""

    def operate(self, text: str, params: dict | None = None) -> str:
        params = params or {}
        entity_type = params["entity_type"]
        return params["substitutes"][(entity_type, value_key(entity_type, text))]

    def validate(self, params: dict | None = None) -> None:
        if not isinstance((params or {}).get("substitutes"), Mapping):
            raise ValueError("substitutes must be a mapping")

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


class PseudonymOperator(_LookupOperator):
    """Presidio operator ``piivault_pseudonym``: ``<PERSON_1>``, stable within one request."""

    def operator_name(self) -> str:
        return "piivault_pseudonym"


class VaultTokenOperator(_LookupOperator):
    """Presidio operator ``piivault_token``: the vault token the caller's tokenizer returned."""

    def operator_name(self) -> str:
        return "piivault_token"


OPERATORS = (FieldMaskOperator, PseudonymOperator, VaultTokenOperator)
"""The custom operators to add to a Presidio ``AnonymizerEngine``."""


def _distinct(text: str, entities: list[Entity]) -> dict[tuple[str, str], str]:
    """(field type, value key) -> the first mention's text, in order of first mention."""
    distinct: dict[tuple[str, str], str] = {}
    for entity in entities:
        # Zero-width characters the detector saw through are not part of the value stored.
        value = strip_invisible(text[entity.start : entity.end])
        distinct.setdefault((entity.type, value_key(entity.type, value)), value)
    return distinct


def _pseudonyms(distinct: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    counters: dict[str, int] = {}
    substitutes = {}
    for key in distinct:
        label = placeholder_label(key[0])
        counters[label] = counters.get(label, 0) + 1
        substitutes[key] = f"<{label}_{counters[label]}>"
    return substitutes


def _tokens(distinct: dict[tuple[str, str], str], tokenizer: Tokenizer) -> dict[tuple[str, str], str]:
    if not distinct:
        return {}
    tokens = list(tokenizer([(key[0], value) for key, value in distinct.items()]))
    if len(tokens) != len(distinct) or not all(isinstance(token, str) for token in tokens):
        raise TokenizerFailed()
    return dict(zip(distinct, tokens, strict=True))


def operator_config(
    operator: str | TextOperator, text: str, entities: list[Entity], tokenizer: Tokenizer | None
) -> OperatorConfig:
    """The Presidio operator configuration for ``operator`` over these entities of ``text``.

    For ``tokenize`` this calls ``tokenizer`` once with the distinct values
    (when there are any) and lets whatever it raises propagate. Raises
    :class:`~anonymize.text.errors.UnknownOperator`,
    :class:`~anonymize.text.errors.TokenizerFailed` (wrong number or type of
    tokens), and ``TypeError`` when ``tokenize`` has no tokenizer.
    """
    chosen = parse_operator(operator)
    if chosen is TextOperator.REDACT:
        return OperatorConfig("redact")
    if chosen is TextOperator.MASK:
        return OperatorConfig("piivault_mask")
    if chosen is TextOperator.REPLACE:
        return OperatorConfig("piivault_pseudonym", {"substitutes": _pseudonyms(_distinct(text, entities))})
    if tokenizer is None:
        raise TypeError("operator 'tokenize' needs a tokenizer")
    return OperatorConfig("piivault_token", {"substitutes": _tokens(_distinct(text, entities), tokenizer)})


def operator_configs(
    operator: str | TextOperator,
    texts: Sequence[str],
    entities: Sequence[list[Entity]],
    tokenizer: Tokenizer | None,
) -> list[OperatorConfig]:
    """:func:`operator_config` for each text of a batch and its entities.

    ``replace`` numbers placeholders per text, as for one text alone; ``tokenize`` calls
    ``tokenizer`` once with the distinct values of all texts (one vault call for the
    batch), and each text looks its values up in the shared result. Raises what
    :func:`operator_config` raises.
    """
    if parse_operator(operator) is not TextOperator.TOKENIZE:
        return [
            operator_config(operator, text, found, None) for text, found in zip(texts, entities, strict=True)
        ]
    if tokenizer is None:
        raise TypeError("operator 'tokenize' needs a tokenizer")
    distinct: dict[tuple[str, str], str] = {}
    for text, found in zip(texts, entities, strict=True):
        for key, value in _distinct(text, found).items():
            distinct.setdefault(key, value)
    config = OperatorConfig("piivault_token", {"substitutes": _tokens(distinct, tokenizer)})
    return [config] * len(texts)


def parse_operator(operator: str | TextOperator) -> TextOperator:
    """Raises :class:`~anonymize.text.errors.UnknownOperator` for anything but the four names."""
    try:
        return TextOperator(operator)
    except ValueError:
        raise UnknownOperator() from None
