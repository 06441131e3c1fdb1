"""Field types defined by configuration (YAML or JSON) rather than code.

Shape::

    field_types:
      - code: employee_no
        names: {zh: 员工编号, en: employee number}
        sensitivity: C1            # C1, C2 or C3 (JR/T 0171-2020)
        pipl_sensitive: false
        identifying: true          # a direct identifier: extracts release only a pseudonym
                                   # (default false; an override keeps the built-in's value)
        normalize: [strip, upper]  # steps from NORMALIZE_STEPS, applied in order
        pattern: "E[0-9]{7}"       # optional, must match the whole normalized value
        min_length: 8              # optional, default 1
        max_length: 8              # required unless the checksum fixes the length
        checksum: luhn             # none, luhn, gb11643, gb32100, iso7064_mod97_10
        mask: {keep_start: 1, keep_end: 2, char: "*"}   # never shows more than half
        fpe: {alphabet: "0123456789", keep_start: 1}    # optional
        override: false            # true to replace a type of the same code
        rationale: one line on the classification       # optional

Every configured type also rejects control characters. Anything else is a
:class:`ConfigError` whose ``key`` locates it ("field_types[1].mask.char").
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldtypes.checksums import CHECK_SCHEMES, CheckScheme
from fieldtypes.errors import ConfigError, InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import CODE_PATTERN, FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.registry import FieldTypeRegistry, default_registry
from fieldtypes.text import NORMALIZE_STEPS, StepNormalizer, has_control_chars

_ENTRY_KEYS = frozenset(
    {"code", "names", "sensitivity", "pipl_sensitive", "identifying", "normalize", "pattern"}
    | {"min_length", "max_length", "checksum", "mask", "fpe", "override", "rationale"}
)
_MAX_LENGTH_LIMIT = 4096
_REQUIRED = object()


@dataclass(frozen=True)
class ConfiguredValidator:
    """Validates a configured type: control characters, pattern, then checksum."""

    pattern: re.Pattern[str] | None
    check: CheckScheme | None

    def __call__(self, value: str) -> None:
        if has_control_chars(value):
            raise InvalidValue("control", "must not contain control or invisible characters")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise InvalidValue("pattern", "does not match the configured pattern")
        check = self.check
        if check is None:
            return
        body, tail = value[: -check.check_length], value[-check.check_length :]
        if any(c not in check.alphabet for c in body) or any(c not in check.check_alphabet for c in tail):
            raise InvalidValue("charset", f"has characters outside the {check.name} alphabet")
        if not check.is_valid(value):
            raise InvalidValue(check.rule, f"{check.name} check characters do not match")


def load_field_types(
    source: Mapping[str, Any] | str | os.PathLike[str],
    *,
    base: FieldTypeRegistry | None = None,
) -> FieldTypeRegistry:
    """Return a new registry: ``base`` (default: the built-ins) plus the configured types.

    ``source`` is a parsed mapping, YAML or JSON text, or the path of a .yaml,
    .yml or .json file (pass a :class:`pathlib.Path`: a plain string is text).
    ``base`` is not modified. Raises :class:`ConfigError`.
    """
    data = _read(source)
    registry = (base if base is not None else default_registry()).copy()
    if not isinstance(data, Mapping):
        raise ConfigError("field_types", "the top level must be a mapping with 'field_types'")
    unknown = sorted(str(key) for key in data if key != "field_types")
    if unknown:
        raise ConfigError(unknown[0], "unknown top-level key; expected only 'field_types'")
    entries = data.get("field_types")
    if not isinstance(entries, list):
        raise ConfigError("field_types", "must be a list of field types")
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"field_types[{index}]"
        field_type, override = _field_type(entry, where, registry)
        if field_type.code in seen:
            raise ConfigError(f"{where}.code", f"{field_type.code!r} is defined twice")
        seen.add(field_type.code)
        if field_type.code in registry and not override:
            raise ConfigError(
                f"{where}.code", f"{field_type.code!r} exists; set 'override: true' to replace it"
            )
        if override and field_type.code not in registry:
            raise ConfigError(f"{where}.override", f"there is no {field_type.code!r} to override")
        registry.register(field_type, override=override)
    return registry


def _read(source: Mapping[str, Any] | str | os.PathLike[str]) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, os.PathLike):
        path = Path(source)
        if path.suffix not in (".json", ".yaml", ".yml"):
            raise ConfigError("source", "file name must end in .json, .yaml or .yml")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("source", f"cannot read {path}: {exc.strerror}") from exc
        if path.suffix == ".json":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError("source", f"not valid JSON: {exc}") from exc
        return _parse_yaml(text)
    if isinstance(source, str):
        data = _parse_yaml(text=source)  # JSON is YAML too
        if isinstance(data, str):
            raise ConfigError("source", "text is not a mapping (pass a pathlib.Path for a file)")
        return data
    raise ConfigError("source", "must be a mapping, YAML/JSON text or a path")


def _parse_yaml(text: str) -> Any:
    import yaml  # here: most commands never read a configuration file

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("source", f"not valid YAML: {exc}") from exc


def _field_type(entry: Any, where: str, registry: FieldTypeRegistry) -> tuple[FieldType, bool]:
    if not isinstance(entry, Mapping):
        raise ConfigError(where, "must be a mapping")
    _reject_unknown(entry, _ENTRY_KEYS, where)
    code = _take(entry, "code", str, where)
    if not CODE_PATTERN.fullmatch(code):
        raise ConfigError(f"{where}.code", "must match [a-z][a-z0-9_]{1,63}")
    # Overriding a direct identifier's mask or pattern must not quietly make it releasable.
    identifying = registry.get(code).identifying if code in registry else False
    check = _checksum(entry, where)
    min_length, max_length = _lengths(entry, check, where)
    fpe = _fpe(entry, check, where)
    field_type = FieldType(
        code=code,
        names=_names(entry, where),
        sensitivity=_sensitivity(entry, where),
        pipl_sensitive=_take(entry, "pipl_sensitive", bool, where),
        identifying=_take(entry, "identifying", bool, where, default=identifying),
        normalizer=_normalizer(entry, where),
        validator=ConfiguredValidator(_pattern(entry, where), check),
        mask=_mask(entry, where),
        min_length=min_length,
        max_length=max_length,
        fpe=fpe,
        rationale=_take(entry, "rationale", str, where, default=""),
    )
    return field_type, _take(entry, "override", bool, where, default=False)


def _reject_unknown(mapping: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _take(mapping: Mapping[str, Any], key: str, kind: type, where: str, default: Any = _REQUIRED):
    if key not in mapping:
        if default is _REQUIRED:
            raise ConfigError(f"{where}.{key}", "is required")
        return default
    value = mapping[key]
    # bool is an int in Python; a YAML 'yes' must not pass for a length.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}", f"must be a {_KIND_NAMES[kind]}")
    return value


_KIND_NAMES = {
    str: "string",
    bool: "boolean (true or false)",
    int: "integer",
    list: "list",
    dict: "mapping",
}


def _names(entry: Mapping[str, Any], where: str) -> Names:
    names = entry.get("names")
    if not isinstance(names, Mapping):
        raise ConfigError(f"{where}.names", "is required: a mapping with 'zh' and 'en'")
    _reject_unknown(names, frozenset({"zh", "en"}), f"{where}.names")
    zh = _take(names, "zh", str, f"{where}.names")
    en = _take(names, "en", str, f"{where}.names")
    for key, text in (("zh", zh), ("en", en)):
        if not text.strip():
            raise ConfigError(f"{where}.names.{key}", "must not be empty")
    return Names(zh=zh, en=en)


def _sensitivity(entry: Mapping[str, Any], where: str) -> Sensitivity:
    value = _take(entry, "sensitivity", str, where)
    try:
        return Sensitivity(value)
    except ValueError:
        raise ConfigError(f"{where}.sensitivity", "must be C1, C2 or C3") from None


def _normalizer(entry: Mapping[str, Any], where: str) -> StepNormalizer:
    steps = _take(entry, "normalize", list, where, default=[])
    for index, step in enumerate(steps):
        if step not in NORMALIZE_STEPS:
            raise ConfigError(
                f"{where}.normalize[{index}]",
                f"unknown step; expected one of {', '.join(NORMALIZE_STEPS)}",
            )
    return StepNormalizer.of(steps)


def _pattern(entry: Mapping[str, Any], where: str) -> re.Pattern[str] | None:
    pattern = _take(entry, "pattern", str, where, default=None)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}.pattern", f"not a valid regular expression: {exc}") from None


def _checksum(entry: Mapping[str, Any], where: str) -> CheckScheme | None:
    name = _take(entry, "checksum", str, where, default="none")
    if name == "none":
        return None
    if name not in CHECK_SCHEMES:
        raise ConfigError(f"{where}.checksum", f"must be one of none, {', '.join(sorted(CHECK_SCHEMES))}")
    return CHECK_SCHEMES[name]


def _lengths(entry: Mapping[str, Any], check: CheckScheme | None, where: str) -> tuple[int, int]:
    fixed = shortest = None
    if check is not None:
        shortest = check.check_length + 1
        if check.body_length is not None:
            fixed = check.body_length + check.check_length
    max_length = _take(entry, "max_length", int, where, default=fixed or _REQUIRED)
    min_length = _take(entry, "min_length", int, where, default=fixed or shortest or 1)
    if not 1 <= max_length <= _MAX_LENGTH_LIMIT:
        raise ConfigError(f"{where}.max_length", f"must be from 1 to {_MAX_LENGTH_LIMIT}")
    if not 1 <= min_length <= max_length:
        raise ConfigError(f"{where}.min_length", "must be from 1 to max_length")
    if fixed is not None and (min_length, max_length) != (fixed, fixed):
        raise ConfigError(f"{where}.checksum", f"{check.name} values are {fixed} characters long")
    if check is not None and min_length <= check.check_length:
        raise ConfigError(f"{where}.min_length", f"must exceed the {check.check_length} check characters")
    return min_length, max_length


def _mask(entry: Mapping[str, Any], where: str) -> MiddleMask:
    spec = _take(entry, "mask", dict, where, default={})
    where = f"{where}.mask"
    _reject_unknown(spec, frozenset({"keep_start", "keep_end", "char"}), where)
    keep_start = _non_negative(spec, "keep_start", where)
    keep_end = _non_negative(spec, "keep_end", where)
    char = _take(spec, "char", str, where, default="*")
    if len(char) != 1 or has_control_chars(char) or char.isspace():
        raise ConfigError(f"{where}.char", "must be one visible character")
    return MiddleMask(keep_start, keep_end, char, min_hidden=None)


def _fpe(entry: Mapping[str, Any], check: CheckScheme | None, where: str) -> FpeSpec | None:
    spec = _take(entry, "fpe", dict, where, default=None)
    if spec is None:
        return None
    where = f"{where}.fpe"
    _reject_unknown(spec, frozenset({"alphabet", "keep_start", "keep_end"}), where)
    alphabet = _take(spec, "alphabet", str, where)
    if len(alphabet) < 2 or len(set(alphabet)) != len(alphabet):
        raise ConfigError(f"{where}.alphabet", "must have at least 2 characters, none repeated")
    if check is not None and not set(alphabet) <= set(check.alphabet):
        raise ConfigError(f"{where}.alphabet", f"must be within the {check.name} alphabet")
    keep_start = _non_negative(spec, "keep_start", where)
    keep_end = _non_negative(spec, "keep_end", where)
    return FpeSpec(alphabet, check, keep_start, keep_end)


def _non_negative(spec: Mapping[str, Any], key: str, where: str) -> int:
    value = _take(spec, key, int, where, default=0)
    if value < 0:
        raise ConfigError(f"{where}.{key}", "must be 0 or more")
    return value
