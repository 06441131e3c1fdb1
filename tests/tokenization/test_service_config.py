"""The service as the settings configure it: purposes file, field types file, deterministic scope."""

from __future__ import annotations

import pytest

from piivault.errors import ConfigurationError
from piivault.settings import Settings
from tokenization.service import build_tokenization_service
from tokenization.tokens import DeterministicScope

FIELD_TYPES = """\
field_types:
  - code: employee_no
    names: {zh: 员工编号, en: employee number}
    sensitivity: C1
    pipl_sensitive: false
    normalize: [strip, upper]
    pattern: "E[0-9]{7}"
    max_length: 8
    mask: {keep_start: 1, keep_end: 2}
"""

PURPOSES = """\
purposes:
  - code: payroll
    legal_basis: contract
    field_types: [name, employee_no]
    retention: 2 years after employment ends
"""


def settings(**overrides) -> Settings:
    return Settings.from_env({"PIIVAULT_ENV": "test"}, **overrides)


def test_defaults():
    svc = build_tokenization_service(settings(), keyring=None)  # type: ignore[arg-type]
    assert svc.deterministic_scope is DeterministicScope.SUBJECT
    assert "aml_kyc" in svc.purposes and "cn_resident_id" in svc.field_types


def test_card_tokens_keep_the_bin_only_when_configured():
    assert (
        build_tokenization_service(settings(), keyring=None).field_types.get("bank_card").fpe.keep_start == 0
    )
    svc = build_tokenization_service(settings(card_token_keeps_bin=True), keyring=None)  # type: ignore[arg-type]
    assert svc.field_types.get("bank_card").fpe.keep_start == 6
    assert Settings.from_env({"PIIVAULT_CARD_TOKEN_KEEPS_BIN": "true"}).card_token_keeps_bin is True


def test_files_and_scope(tmp_path):
    (tmp_path / "types.yaml").write_text(FIELD_TYPES, encoding="utf-8")
    (tmp_path / "purposes.yaml").write_text(PURPOSES, encoding="utf-8")
    svc = build_tokenization_service(
        settings(
            field_types_file=str(tmp_path / "types.yaml"),
            purposes_file=str(tmp_path / "purposes.yaml"),
            deterministic_scope="global",
        ),
        keyring=None,  # type: ignore[arg-type]
    )
    assert svc.deterministic_scope is DeterministicScope.GLOBAL
    assert svc.purposes.codes() == ("payroll",)
    assert svc.purposes.get("payroll").covers("employee_no")
    assert svc.field_types.get("employee_no").normalize_and_validate(" e1234567 ") == "E1234567"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("purposes_file", "purposes: [{code: x_y, legal_basis: contract}]", "retention"),
        ("purposes_file", PURPOSES, "employee_no"),  # the field type is not configured
        ("field_types_file", "field_types: [{code: 1}]", "PIIVAULT_FIELD_TYPES_FILE"),
    ],
)
def test_a_bad_file_stops_start_up_with_one_line(tmp_path, name, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        build_tokenization_service(settings(**{name: str(path)}), keyring=None)  # type: ignore[arg-type]


def test_a_bad_scope_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="DETERMINISTIC_SCOPE"):
        Settings.from_env({"PIIVAULT_DETERMINISTIC_SCOPE": "galaxy"})
