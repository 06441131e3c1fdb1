"""Field types added by configuration: YAML text, JSON and YAML files, mappings, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldtypes import (
    ConfigError,
    InvalidValue,
    Sensitivity,
    UnknownFieldType,
    default_registry,
    load_field_types,
)


def ref_luhn_complete(body: str) -> str:
    def ok(number: str) -> bool:
        digits = [int(c) for c in reversed(number)]
        doubled = (d if i % 2 == 0 else sum(divmod(2 * d, 10)) for i, d in enumerate(digits))
        return sum(doubled) % 10 == 0

    return next(body + d for d in "0123456789" if ok(body + d))


PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATES_YAML = f"""
field_types:
  - code: fleet_plate
    names: {{zh: 机动车号牌, en: motor vehicle plate}}
    sensitivity: C2
    pipl_sensitive: false
    normalize: [nfkc, remove_separators, upper]
    pattern: "[{PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}"
    min_length: 7
    max_length: 8
    mask: {{keep_start: 2, keep_end: 1}}
    rationale: C2, links a vehicle to its owner; not listed in PIPL art. 28
"""

EMPLOYEE_NO = {
    "code": "employee_no",
    "names": {"zh": "员工编号", "en": "employee number"},
    "sensitivity": "C1",
    "pipl_sensitive": False,
    "normalize": ["strip"],
    "pattern": "[0-9]{8}",
    "min_length": 8,
    "max_length": 8,
    "checksum": "luhn",
    "mask": {"keep_start": 2, "keep_end": 2, "char": "#"},
    "fpe": {"alphabet": "0123456789", "keep_start": 2},
}
EMPLOYEE = ref_luhn_complete("1234567")


@pytest.fixture(scope="module")
def plates():
    return load_field_types(PLATES_YAML).get("fleet_plate")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("京A12345", "京A12345"),
        (" 京a 12345 ", "京A12345"),
        ("沪B-D12345", "沪BD12345"),  # new-energy plates have 6 characters after the letter
        ("京Ａ１２３４５", "京A12345"),  # full width
    ],
)
def test_yaml_type_normalizes(plates, value, expected):
    assert plates.normalize_and_validate(value) == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("京I12345", "pattern"),  # no I or O on plates
        ("A12345", "length"),
        ("京A123456789", "length"),
        ("京A1234\x005", "control"),
    ],
)
def test_yaml_type_rejects(plates, value, rule):
    with pytest.raises(InvalidValue) as caught:
        plates.normalize_and_validate(value)
    assert caught.value.rule == rule
    assert value not in str(caught.value) and "12345" not in str(caught.value)


def test_yaml_type_metadata_and_mask(plates):
    assert plates.names.zh == "机动车号牌" and plates.names.en == "motor vehicle plate"
    assert plates.sensitivity is Sensitivity.C2 and plates.pipl_sensitive is False
    assert plates.mask("京A12345") == "京A****5"
    assert plates.fpe is None
    assert plates.rationale.startswith("C2")


def test_loading_keeps_builtins_and_does_not_touch_the_base():
    base = default_registry()
    registry = load_field_types(PLATES_YAML, base=base)
    assert "fleet_plate" in registry and "cn_resident_id" in registry
    assert "fleet_plate" not in base


def _config(*entries: dict) -> dict:
    return {"field_types": list(entries)}


def test_json_file(tmp_path: Path):
    path = tmp_path / "fieldtypes.json"
    path.write_text(json.dumps(_config(EMPLOYEE_NO), ensure_ascii=False), encoding="utf-8")
    employee_no = load_field_types(path).get("employee_no")
    assert employee_no.normalize_and_validate(f" {EMPLOYEE} ") == EMPLOYEE
    assert employee_no.mask(EMPLOYEE) == EMPLOYEE[:2] + "####" + EMPLOYEE[-2:]
    assert employee_no.fpe is not None and employee_no.fpe.check is not None
    assert employee_no.fpe.check.name == "luhn" and employee_no.fpe.keep_start == 2
    bad = EMPLOYEE[:-1] + str((int(EMPLOYEE[-1]) + 1) % 10)
    with pytest.raises(InvalidValue) as caught:
        employee_no.normalize_and_validate(bad)
    assert caught.value.rule == "luhn" and bad not in str(caught.value)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix):
    path = tmp_path / f"fieldtypes{suffix}"
    path.write_text(PLATES_YAML, encoding="utf-8")
    assert load_field_types(path).get("fleet_plate").is_valid("京A12345")


def test_mapping_and_json_text():
    assert load_field_types(_config(EMPLOYEE_NO)).get("employee_no").is_valid(EMPLOYEE)
    text = json.dumps(_config(EMPLOYEE_NO))
    assert load_field_types(text).get("employee_no").is_valid(EMPLOYEE)


@pytest.mark.parametrize(
    ("checksum", "valid", "invalid"),
    [
        ("gb11643", "11010519491231002X", "110105194912310021"),
        ("gb32100", "91350100M000100Y43", "91350100M000100Y44"),
        ("iso7064_mod97_10", "79444", "79443"),
    ],
)
def test_checksums_by_name(checksum, valid, invalid):
    entry = {
        "code": "checked",
        "names": {"zh": "校验", "en": "checked"},
        "sensitivity": "C1",
        "pipl_sensitive": False,
        "checksum": checksum,
    }
    if checksum == "iso7064_mod97_10":
        entry["max_length"] = 34
    field_type = load_field_types(_config(entry)).get("checked")
    assert field_type.is_valid(valid)
    with pytest.raises(InvalidValue) as caught:
        field_type.normalize_and_validate(invalid)
    assert caught.value.rule == "check_digit"


def test_checksum_alphabet_is_enforced():
    entry = _without("pattern")
    with pytest.raises(InvalidValue) as caught:
        load_field_types(_config(entry)).get("employee_no").normalize_and_validate("1234567X")
    assert caught.value.rule == "charset"


MOBILE_OVERRIDE = {
    "code": "cn_mobile",
    "names": {"zh": "手机号码", "en": "mobile number"},
    "sensitivity": "C2",
    "pipl_sensitive": True,
    "normalize": ["remove_separators"],
    "pattern": "1[0-9]{10}",
    "max_length": 11,
}


def test_builtin_needs_override_true():
    with pytest.raises(ConfigError) as caught:
        load_field_types(_config(MOBILE_OVERRIDE))
    assert caught.value.key == "field_types[0].code"
    assert "override" in str(caught.value)


def test_builtin_override():
    registry = load_field_types(_config(dict(MOBILE_OVERRIDE, override=True)))
    assert registry.get("cn_mobile").pipl_sensitive is True
    assert registry.get("cn_mobile").is_valid("120 0000 0000")
    assert default_registry().get("cn_mobile").pipl_sensitive is False


def test_override_of_nothing_is_an_error():
    with pytest.raises(ConfigError) as caught:
        load_field_types(_config(dict(EMPLOYEE_NO, override=True)))
    assert caught.value.key == "field_types[0].override"


def test_duplicate_code():
    with pytest.raises(ConfigError) as caught:
        load_field_types(_config(EMPLOYEE_NO, EMPLOYEE_NO))
    assert caught.value.key == "field_types[1].code"


def test_empty_list_is_fine():
    assert load_field_types({"field_types": []}).codes() == default_registry().codes()


def _without(key: str) -> dict:
    return {k: v for k, v in EMPLOYEE_NO.items() if k != key}


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (dict(EMPLOYEE_NO, colour="red"), "field_types[0].colour"),
        (_without("code"), "field_types[0].code"),
        (dict(EMPLOYEE_NO, code="Employee-No"), "field_types[0].code"),
        (dict(EMPLOYEE_NO, code=False), "field_types[0].code"),  # YAML 'code: no'
        (_without("names"), "field_types[0].names"),
        (dict(EMPLOYEE_NO, names={"zh": "员工编号"}), "field_types[0].names.en"),
        (dict(EMPLOYEE_NO, names={"zh": "员工编号", "en": " "}), "field_types[0].names.en"),
        (dict(EMPLOYEE_NO, names={"zh": "x", "en": "x", "fr": "x"}), "field_types[0].names.fr"),
        (dict(EMPLOYEE_NO, sensitivity="C4"), "field_types[0].sensitivity"),
        (dict(EMPLOYEE_NO, sensitivity="c1"), "field_types[0].sensitivity"),
        (_without("sensitivity"), "field_types[0].sensitivity"),
        (_without("pipl_sensitive"), "field_types[0].pipl_sensitive"),
        (dict(EMPLOYEE_NO, pipl_sensitive="no"), "field_types[0].pipl_sensitive"),
        (dict(EMPLOYEE_NO, normalize=["strip", "titlecase"]), "field_types[0].normalize[1]"),
        (dict(EMPLOYEE_NO, normalize="strip"), "field_types[0].normalize"),
        (dict(EMPLOYEE_NO, pattern="([0-9]"), "field_types[0].pattern"),
        (dict(EMPLOYEE_NO, pattern=123), "field_types[0].pattern"),
        (_without("max_length"), "field_types[0].max_length"),
        (dict(EMPLOYEE_NO, max_length=True), "field_types[0].max_length"),
        (dict(EMPLOYEE_NO, max_length="8"), "field_types[0].max_length"),
        (dict(EMPLOYEE_NO, max_length=0), "field_types[0].max_length"),
        (dict(EMPLOYEE_NO, max_length=100_000), "field_types[0].max_length"),
        (dict(EMPLOYEE_NO, min_length=9), "field_types[0].min_length"),
        (dict(EMPLOYEE_NO, min_length=1), "field_types[0].min_length"),  # <= check length
        (dict(EMPLOYEE_NO, checksum="crc32"), "field_types[0].checksum"),
        (dict(EMPLOYEE_NO, checksum="gb11643"), "field_types[0].checksum"),  # 18 long
        (dict(EMPLOYEE_NO, mask="***"), "field_types[0].mask"),
        (dict(EMPLOYEE_NO, mask={"keep_start": -1}), "field_types[0].mask.keep_start"),
        (dict(EMPLOYEE_NO, mask={"keep_end": 1.5}), "field_types[0].mask.keep_end"),
        (dict(EMPLOYEE_NO, mask={"char": "**"}), "field_types[0].mask.char"),
        (dict(EMPLOYEE_NO, mask={"char": " "}), "field_types[0].mask.char"),
        (dict(EMPLOYEE_NO, mask={"show": 2}), "field_types[0].mask.show"),
        (dict(EMPLOYEE_NO, fpe={"keep_start": 2}), "field_types[0].fpe.alphabet"),
        (dict(EMPLOYEE_NO, fpe={"alphabet": "00"}), "field_types[0].fpe.alphabet"),
        (dict(EMPLOYEE_NO, fpe={"alphabet": "AB"}), "field_types[0].fpe.alphabet"),  # not luhn
        (dict(EMPLOYEE_NO, fpe={"alphabet": "01", "tweak": 1}), "field_types[0].fpe.tweak"),
        (dict(EMPLOYEE_NO, override="yes"), "field_types[0].override"),
        (dict(EMPLOYEE_NO, rationale=["a"]), "field_types[0].rationale"),
    ],
)
def test_entry_errors_name_the_key(entry, key):
    with pytest.raises(ConfigError) as caught:
        load_field_types(_config(entry))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("just a string", "source"),
        ("field_types: [", "source"),
        ("- 1\n- 2\n", "field_types"),
        ("", "field_types"),
        ({"field_types": {}}, "field_types"),
        ({"types": []}, "types"),
        ({"field_types": [], "version": 1}, "version"),
        ({"field_types": ["employee_no"]}, "field_types[0]"),
        (42, "source"),
    ],
)
def test_document_errors(source, key):
    with pytest.raises(ConfigError) as caught:
        load_field_types(source)
    assert caught.value.key == key


def test_yaml_booleans_are_not_strings():
    text = PLATES_YAML.replace("code: fleet_plate", "code: no")
    with pytest.raises(ConfigError) as caught:
        load_field_types(text)
    assert caught.value.key == "field_types[0].code"


@pytest.mark.parametrize(
    ("name", "content"),
    [("types.txt", PLATES_YAML), ("types.json", "{not json"), ("missing.yaml", None)],
)
def test_file_errors(tmp_path: Path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_field_types(path)
    assert caught.value.key == "source"


def test_configured_type_is_looked_up_like_a_builtin():
    registry = load_field_types(_config(EMPLOYEE_NO))
    assert "employee_no" in registry.codes()
    with pytest.raises(UnknownFieldType):
        registry.get("employee_number")


def test_configured_mask_never_shows_more_than_half():
    entry = dict(EMPLOYEE_NO, mask={"keep_start": 8, "keep_end": 8})
    employee_no = load_field_types(_config(entry)).get("employee_no")
    masked = employee_no.mask(EMPLOYEE)
    assert masked == EMPLOYEE[:4] + "****"
