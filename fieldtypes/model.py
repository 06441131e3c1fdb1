"""What a field type is: :class:`FieldType`, its sensitivity and its format-preserving spec."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from fieldtypes.checksums import CheckScheme
from fieldtypes.errors import InvalidValue

CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,63}")

# Bounds the work done on a raw input before its length is known to be sane;
# generous because separators and whitespace are removed by normalization.
_RAW_LENGTH_FACTOR = 4
_RAW_LENGTH_FLOOR = 64


class Sensitivity(StrEnum):
    """Data classes of JR/T 0171-2020 (personal financial information protection)."""

    C3 = "C3"  # user authentication information: passwords, keys, biometric templates
    C2 = "C2"  # identity and account information: ID numbers, mobile, card numbers
    C1 = "C1"  # other information, internal to the institution


class Names(NamedTuple):
    zh: str
    en: str


@dataclass(frozen=True)
class FpeSpec:
    """How a format-preserving token of a field type may look.

    A token has the normalized value's length; its characters come from
    ``alphabet``, except the trailing check characters, recomputed with
    ``check`` (whose ``fill`` repairs a free position when the check characters
    are kept). A policy may keep up to ``keep_start`` leading and ``keep_end``
    trailing characters of the value in clear (a card's last four).

    Structure beyond alphabet and check (a resident ID's region and birth date,
    a mobile's 1[3-9] prefix) is not described here: a tokenizer must pass
    each candidate to :meth:`FieldType.normalize_and_validate` and try again
    (cycle-walk) until it is accepted. ``positions`` narrows the alphabet of
    single positions, (index, characters) pairs, where a uniform draw would
    almost never be accepted (a birth date's month and day digits).
    """

    alphabet: str
    check: CheckScheme | None = None
    keep_start: int = 0
    keep_end: int = 0
    positions: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.alphabet) < 2 or len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError("FPE alphabet must have at least 2 distinct characters")
        if self.keep_start < 0 or self.keep_end < 0:
            raise ValueError("FPE keep_start and keep_end must be >= 0")
        for index, chars in self.positions:
            if index < 0 or not chars or len(set(chars)) != len(chars):
                raise ValueError("FPE positions need an index >= 0 and distinct characters")

    def alphabet_at(self, index: int) -> str:
        """The characters a token may have at ``index``."""
        for position, chars in self.positions:
            if position == index:
                return chars
        return self.alphabet


@dataclass(frozen=True)
class FieldType:
    """A kind of value: how to normalize, validate, mask and classify it.

    ``normalizer`` maps raw input to the canonical form and may raise
    :class:`InvalidValue`; ``validator`` checks a normalized value and raises
    :class:`InvalidValue`; ``mask`` turns a normalized, valid value into its
    display form. Call :meth:`normalize_and_validate` rather than these.
    ``identifying`` marks a direct identifier (:mod:`anonymize.extract.source`
    refuses to release its value in an extract).
    """

    code: str
    names: Names
    sensitivity: Sensitivity
    pipl_sensitive: bool  # PIPL art. 28 sensitive personal information
    normalizer: Callable[[str], str]
    validator: Callable[[str], None]
    mask: Callable[[str], str]
    max_length: int
    min_length: int = 1
    fpe: FpeSpec | None = None
    rationale: str = ""  # one line: why this sensitivity and PIPL class
    # A direct identifier: its value singles a person out by itself (a name, an ID number, a
    # mobile). An extract never releases it, only a pseudonym or a coarse derivation of it.
    identifying: bool = False
    example: str = ""  # a made-up valid value, normalized: documentation shows its mask

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not CODE_PATTERN.fullmatch(self.code):
            raise ValueError("field type code must match [a-z][a-z0-9_]{1,63}")
        if not isinstance(self.sensitivity, Sensitivity):
            raise TypeError("sensitivity must be a Sensitivity")
        if not 0 <= self.min_length <= self.max_length:
            raise ValueError("field type lengths must satisfy 0 <= min_length <= max_length")
        if self.example and self._check(self.example) != (self.example, None):
            raise ValueError("a field type's example must be a valid, normalized value")

    @property
    def mask_example(self) -> str | None:
        """How a value of this type is shown masked, on the made-up example (None without one)."""
        return self.mask(self.example) if self.example else None

    def normalize_and_validate(self, value: str) -> str:
        """Return the canonical form of ``value``.

        Raises :class:`InvalidValue` naming the failed rule; the error carries
        neither the value nor a chained exception that could.
        """
        result, failure = self._check(value)
        if failure is not None:
            # Raised here, outside any except block, so nothing is chained.
            raise InvalidValue(*failure, field_type=self.code)
        return result

    def is_valid(self, value: str) -> bool:
        return self._check(value)[1] is None

    def _check(self, value: str) -> tuple[str, tuple[str, str] | None]:
        if not isinstance(value, str):
            return "", ("type", "value must be a string")
        if len(value) > max(_RAW_LENGTH_FACTOR * self.max_length, _RAW_LENGTH_FLOOR):
            return "", ("length", f"must be at most {self.max_length} characters")
        try:
            normalized = self.normalizer(value)
            if not self.min_length <= len(normalized) <= self.max_length:
                raise InvalidValue("length", self._length_message())
            self.validator(normalized)
        except InvalidValue as exc:
            return "", (exc.rule, exc.message)
        except ValueError:
            # A parsing error from a library may quote its input: drop its text.
            return "", ("format", "value is malformed")
        return normalized, None

    def _length_message(self) -> str:
        if self.min_length == self.max_length:
            return f"must be {self.max_length} characters"
        return f"must be {self.min_length} to {self.max_length} characters"
