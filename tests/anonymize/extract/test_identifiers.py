"""A direct identifier never leaves in an extract: only as a pseudonym, or reduced to a coarse fact."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pandas as pd
import pytest

from anonymize.extract import InvalidSpec, parse_spec, run_extract
from anonymize.extract._checks import Problems
from anonymize.extract.identifiers import scan_table, table_problems
from anonymize.extract.source import plan
from fieldtypes import default_registry, load_field_types
from fieldtypes.checksums import luhn_check
from privacy.model import PurposeDef
from tests.anonymize.extract.conftest import everyone, make_rows, provider

IDENTIFYING = (
    "name", "cn_resident_id", "cn_mobile", "bank_card", "email", "address", "passport", "cn_uscc",
    "cn_vehicle_plate",
)  # fmt: skip
ANY_PURPOSE = PurposeDef(
    code="risk_scoring",
    version=1,
    name_zh="风险评估",
    name_en="risk scoring",
    legal_basis="consent",
    consent_required=True,
    separate_consent_required=False,
    separate_grounds=(),
    third_parties=(),
    field_types=None,  # covers every field type: only the identifier rule is tested here
    retention="",
    retention_anchor=None,
    retention_years=None,
    hold_roles=(),
    description="",
    notice_version=1,
    accepted_notice_version=1,
    reconsent_grace=False,
    retired_at=None,
    updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    updated_by="test",
)
AGE = {"age": {"role": "quasi", "hierarchy": {"type": "age_bands"}}}
# A configured override of the built-in mobile type.
MOBILE_OVERRIDE = {
    "code": "cn_mobile",
    "names": {"zh": "手机号码", "en": "mobile"},
    "sensitivity": "C2",
    "pipl_sensitive": False,
    "max_length": 11,
    "override": True,
}


def _spec(columns: dict[str, Any]) -> Any:
    return parse_spec({"purpose": "risk_scoring", "columns": columns | AGE, "privacy": {"k": 2}})


def _plan(columns: dict[str, Any], registry=None):
    return plan(_spec(columns), ANY_PURPOSE, registry or default_registry(), {"age", "credit_grade"})


def test_the_built_in_direct_identifiers_are_marked() -> None:
    registry = default_registry()
    assert {t.code for t in registry if t.identifying} == {*IDENTIFYING, "free_text"}
    assert not registry.get("date_of_birth").identifying


def test_the_analysts_attack_is_refused_naming_both_columns() -> None:
    """Issue 14: a name as a sensitive column and a mobile as an attribute released them in clear."""
    with pytest.raises(InvalidSpec) as caught:
        _plan(
            {
                "full_name": {"role": "sensitive", "source": "name"},
                "mobile": {"role": "attribute", "source": "cn_mobile"},
            }
        )
    errors = caught.value.errors
    assert set(errors) == {"columns.full_name", "columns.mobile"}
    assert "field type name is a direct identifier" in errors["columns.full_name"][0]
    assert "field type cn_mobile is a direct identifier" in errors["columns.mobile"][0]
    assert "pseudonym" in errors["columns.mobile"][0]


@pytest.mark.parametrize("field_type", [*IDENTIFYING, "free_text"])
@pytest.mark.parametrize(
    "column",
    [
        {"role": "sensitive"},
        {"role": "attribute"},
        {"role": "quasi", "hierarchy": {"type": "suppress"}},
        {"role": "quasi", "hierarchy": {"type": "categories", "mapping": {"a": ["x"]}}},
        {"role": "quasi", "hierarchy": {"type": "intervals", "width": 1}},
    ],
    ids=["sensitive", "attribute", "suppress", "categories", "intervals"],
)
def test_every_release_of_the_value_is_refused(field_type: str, column: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec) as caught:
        _plan({"leak": column | {"source": field_type}})
    assert "direct identifier" in caught.value.errors["columns.leak"][0]


@pytest.mark.parametrize(
    ("field_type", "hierarchy"),
    [
        ("address", {"type": "region"}),  # reads a resident ID's digits: not an address's reduction
        ("cn_mobile", {"type": "region", "source": "admin_code"}),
        ("name", {"type": "gender"}),
        ("cn_mobile", {"type": "birth_year"}),
        ("cn_resident_id", {"type": "region", "source": "address"}),
    ],
)
def test_a_reducing_hierarchy_counts_only_for_the_identifier_it_reduces(field_type, hierarchy) -> None:
    with pytest.raises(InvalidSpec) as caught:
        _plan({"leak": {"role": "quasi", "source": field_type, "hierarchy": hierarchy}})
    assert "columns.leak" in caught.value.errors


def test_pseudonyms_and_reductions_are_allowed_and_said() -> None:
    planned = _plan(
        {
            "name": {"role": "identifier", "action": "pseudonym"},
            "cn_mobile": {"role": "identifier"},
            "region": {"role": "quasi", "source": "cn_resident_id", "hierarchy": {"type": "region"}},
            "born": {"role": "quasi", "source": "cn_resident_id", "hierarchy": {"type": "birth_year"}},
            "gender": {"role": "quasi", "source": "cn_resident_id", "hierarchy": {"type": "gender"}},
            "province": {
                "role": "quasi",
                "source": "address",
                "hierarchy": {"type": "region", "source": "address", "level": "province"},
            },
            "credit_grade": {"role": "sensitive"},
        }
    )
    assert planned.identifiers == {
        "name": {"source": "name", "released_as": "pseudonym"},
        "cn_mobile": {"source": "cn_mobile", "released_as": "dropped"},
        "region": {"source": "cn_resident_id", "released_as": "region (city)"},
        "born": {"source": "cn_resident_id", "released_as": "birth_year (width 1)"},
        "gender": {"source": "cn_resident_id", "released_as": "gender"},
        "province": {"source": "address", "released_as": "region (province)"},
    }
    assert planned.field_types == ("name", "cn_resident_id", "address")  # a dropped mobile is not read


def test_a_configured_type_marked_identifying_is_held_to_the_rule() -> None:
    registry = load_field_types(
        {
            "field_types": [
                {
                    "code": "employee_no",
                    "names": {"zh": "员工编号", "en": "employee number"},
                    "sensitivity": "C1",
                    "pipl_sensitive": False,
                    "identifying": True,
                    "max_length": 8,
                },
                {
                    "code": "branch",
                    "names": {"zh": "网点", "en": "branch"},
                    "sensitivity": "C1",
                    "pipl_sensitive": False,
                    "max_length": 8,
                },
                MOBILE_OVERRIDE,  # an override keeps a built-in a direct identifier unless it says otherwise
            ]
        }
    )
    assert registry.get("employee_no").identifying and not registry.get("branch").identifying
    assert registry.get("cn_mobile").identifying
    with pytest.raises(InvalidSpec) as caught:
        _plan({"employee_no": {"role": "attribute"}, "cn_mobile": {"role": "sensitive"}}, registry)
    assert set(caught.value.errors) == {"columns.employee_no", "columns.cn_mobile"}
    assert _plan({"branch": {"role": "attribute"}}, registry).identifiers == {}


def test_derived_columns_hold_no_identifier_value(tmp_path) -> None:
    """Region, birth year and gender from the resident ID, the name as a pseudonym: none of the
    names, mobiles or ID numbers is in the CSV, and the report says how each column was derived."""
    rows = make_rows(400)
    columns = {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "name": {"role": "identifier", "action": "pseudonym"},
        "region": {
            "role": "quasi",
            "source": "resident_id",
            "hierarchy": {"type": "region", "level": "province"},
        },
        "born": {"role": "quasi", "source": "resident_id", "hierarchy": {"type": "birth_year", "width": 10}},
        "sex": {"role": "quasi", "source": "resident_id", "hierarchy": {"type": "gender"}},
        "credit_grade": {"role": "sensitive"},
    }
    spec = parse_spec(
        {"purpose": "risk_scoring", "columns": columns, "privacy": {"k": 5, "max_suppression": 0.1}}
    )
    said = {"region": {"source": "cn_resident_id", "released_as": "region (province)"}}
    result = run_extract(spec, provider(rows), everyone(rows), tmp_path, identifiers=said)
    text = (tmp_path / "extract.csv").read_text(encoding="utf-8")
    for row in rows:
        for key in ("name", "mobile", "resident_id"):
            assert row[key] not in text
    released = pd.read_csv(tmp_path / "extract.csv", dtype=str)
    # A pseudonym is 32 hex digits, and six of them may spell a region code by chance: the
    # pieces of an ID number are looked for in every other column, the pseudonyms checked whole.
    kept = released.drop(columns=["subject_id", "name"]).fillna("")
    derived = "\n".join(",".join(values) for values in kept.astype(str).to_numpy())
    for row in rows:
        assert row["resident_id"][:6] not in derived and row["resident_id"][6:14] not in derived
    for column in ("subject_id", "name"):
        assert released[column].str.fullmatch(r"[0-9a-f]{32}").all()
    assert set(released["sex"]) <= {"男", "女", "*"} and len(set(released["sex"])) > 1
    assert result.report["identifiers"] == said
    assert "Derived from direct identifiers" in (tmp_path / "report.en.html").read_text(encoding="utf-8")


# -- a bank's risk table (issue 20): its columns are scanned, and held to the same rule --------

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军")


def _bank_sample(n: int = 60) -> pd.DataFrame:
    """What a bank's risk table may carry beside its features: each identifier in clear."""
    rows = make_rows(n)
    cards = [body + luhn_check(body) for body in (f"622202{i:012d}" for i in range(n))]
    return pd.DataFrame(
        {
            "mobile": [r["mobile"] for r in rows],
            "id_no": [r["resident_id"] for r in rows],
            "name": [SURNAMES[i % 10] + GIVEN[i // 10 % 10] for i in range(n)],
            "card_no": cards,
            "address": [f"浙江省杭州市西湖区文三路{i + 1}号" for i in range(n)],
            "balance": [1000 * i for i in range(n)],
            "card_limit": [5000 + 100 * i for i in range(n)],  # numbers: a card's limit, no card number
            "risk_band": ["ABC"[i % 3] for i in range(n)],
        }
    )


def _table_spec(columns: dict[str, Any]) -> Any:
    return parse_spec(
        {
            "purpose": "risk_scoring",
            "engine": "spark",
            "table": {"path": "/data/risk", "key": "cif", "matches": "subject_id"},
            "columns": {
                name: {"source": f"table.{source}"} | column for name, (source, column) in columns.items()
            }
            | AGE,
            "privacy": {"k": 2},
        }
    )


def _table_problems(spec: Any, sample: pd.DataFrame, registry=None) -> dict[str, list[str]]:
    problems = Problems()
    table_problems(sample, spec.read, registry or default_registry(), problems)
    return dict(problems)


def test_a_risk_tables_identifiers_released_as_they_are_are_refused_naming_column_and_type() -> None:
    """Issue 20: a table's mobile, ID number, name, card number or address, released as a sensitive
    value, an attribute or through a hierarchy that does not reduce it, links rows to people."""
    spec = _table_spec(
        {
            "phone": ("mobile", {"role": "attribute"}),
            "ident": ("id_no", {"role": "sensitive"}),
            "who": ("name", {"role": "attribute"}),
            "card": ("card_no", {"role": "quasi", "hierarchy": {"type": "suppress"}}),
            "home": ("address", {"role": "sensitive"}),
            "balance": ("balance", {"role": "attribute"}),
            "card_limit": ("card_limit", {"role": "attribute"}),
            "grade": ("risk_band", {"role": "sensitive"}),
        }
    )
    errors = _table_problems(spec, _bank_sample())
    assert set(errors) == {"columns.phone", "columns.ident", "columns.who", "columns.card", "columns.home"}
    for column, table_column, field_type in [
        ("phone", "mobile", "cn_mobile"),
        ("ident", "id_no", "cn_resident_id"),
        ("who", "name", "name"),
        ("card", "card_no", "bank_card"),
        ("home", "address", "address"),
    ]:
        (message,) = errors[f"columns.{column}"]
        assert f"table column {table_column} holds field type {field_type} (60 of 60 sampled" in message
        assert "a direct identifier" in message
    assert (
        "only generalized by a hierarchy that cannot give it back (region, birth_year, gender)"
        in (errors["columns.ident"][0])
    )
    assert "may not release it" in errors["columns.phone"][0]
    for message in [m for ms in errors.values() for m in ms]:  # names and counts, never a value
        assert not any(str(v) in message for v in _bank_sample().iloc[:, :5].to_numpy().ravel())


def test_a_risk_tables_identifier_reduced_as_the_vaults_are_is_allowed() -> None:
    spec = _table_spec(
        {
            "region": ("id_no", {"role": "quasi", "hierarchy": {"type": "region", "level": "province"}}),
            "born": ("id_no", {"role": "quasi", "hierarchy": {"type": "birth_year", "width": 10}}),
            "province": (
                "address",
                {"role": "quasi", "hierarchy": {"type": "region", "source": "address", "level": "province"}},
            ),
            "grade": ("risk_band", {"role": "sensitive"}),
        }
    )
    assert _table_problems(spec, _bank_sample()) == {}
    # A hierarchy reduces only the identifier it reduces: an address's region does not reduce an ID.
    wrong = _table_spec(
        {"region": ("id_no", {"role": "quasi", "hierarchy": {"type": "region", "source": "address"}})}
    )
    assert list(_table_problems(wrong, _bank_sample())) == ["columns.region"]


def test_a_text_column_named_as_an_identifier_is_refused_though_its_values_are_missed() -> None:
    """Masked or oddly written values the scanner does not match: the column's name says mobile."""
    sample = pd.DataFrame(
        {
            "mobile": [f"139****{i:04d}" for i in range(60)],
            "客户姓名": ["*" * 3] * 60,
            "risk_band": ["ABC"[i % 3] for i in range(60)],
        }
    )
    spec = _table_spec(
        {
            "m": ("mobile", {"role": "attribute"}),
            "n": ("mobile", {"role": "sensitive"}),
            "grade": ("risk_band", {"role": "sensitive"}),
        }
    )
    errors = _table_problems(spec, sample)
    assert set(errors) == {"columns.m", "columns.n"}
    assert "table column mobile holds field type cn_mobile (its name says so)" in errors["columns.m"][0]
    assert scan_table(sample, default_registry())["客户姓名"] == ("name", "its name says so")


def test_a_table_column_of_a_type_the_vault_does_not_configure_counts_as_identifying() -> None:
    """Fail closed: a detector type outside the registry (a landline) is a direct identifier; a
    configured type marked not identifying is not."""
    registry = load_field_types({"field_types": [MOBILE_OVERRIDE | {"identifying": False}]})
    sample = pd.DataFrame(
        {"line": [f"010-6{i:07d}" for i in range(40)], "phone": [f"139{i:08d}" for i in range(40)]}
    )
    found = scan_table(sample, registry)
    assert found["line"][0] == "cn_landline" and "phone" not in found
    assert "phone" in scan_table(sample, default_registry())


def _released(*names: str) -> Any:
    """A spec releasing each table column named as an attribute under its own name."""
    return _table_spec({name: (name, {"role": "attribute"}) for name in names})


def test_a_list_struct_or_map_column_is_refused_naming_it(tmp_path) -> None:
    """Review F2: a mobile inside a list [m] or a struct {'v': m} is no whole-cell match; only
    strings, numbers, booleans, dates and times may leave a table: at submit by the table's
    schema, at job time (and for a remote table) by the sampled values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from anonymize.extract.table import RiskTable, check_location, check_schema

    mobiles = [r["mobile"] for r in make_rows(40)]
    sample = pd.DataFrame(
        {"phones": [[m] for m in mobiles], "rec": [{"v": m} for m in mobiles], "grade": ["A"] * 40}
    )
    errors = _table_problems(_released("phones", "rec", "grade"), sample)
    assert set(errors) == {"columns.phones.source", "columns.rec.source"}
    assert "table column rec is a list, struct or map" in errors["columns.rec.source"][0]

    root = tmp_path / "risk"
    root.mkdir()
    arrays = {
        "cif": pa.array([f"C{i}" for i in range(40)]),
        "phones": pa.array([[m] for m in mobiles]),
        "rec": pa.array([{"v": m} for m in mobiles]),
        "tags": pa.array([[("k", m)] for m in mobiles], type=pa.map_(pa.string(), pa.string())),
        "grade": pa.array(["A"] * 40),
        "opened": pa.array([dt.date(2020, 1, 1)] * 40),
    }
    pq.write_table(pa.table(arrays), root / "part-0.parquet")
    spec = _released("phones", "rec", "tags", "grade", "opened")
    table = RiskTable(path=str(root), key="cif", matches="subject_id")
    table = RiskTable(
        path=table.path, key="cif", matches="subject_id", read=check_location(table, [str(root)])
    )
    with pytest.raises(InvalidSpec) as caught:
        check_schema(table, spec.read)
    assert set(caught.value.errors) == {f"columns.{c}.source" for c in ("phones", "rec", "tags")}


def test_an_identifier_inside_a_value_is_found() -> None:
    """Review F2: one character glued to a mobile (x139..., 139...x) or an ID behind a label,
    or a list written out as text: the scanner searches within the value, not only the whole."""
    rows = make_rows(40)
    sample = pd.DataFrame(
        {
            "before": ["x" + r["mobile"] for r in rows],
            "after": [r["mobile"] + "x" for r in rows],
            "listed": [f"['{r['mobile']}']" for r in rows],
            "labelled": ["id_" + r["resident_id"] for r in rows],
            "grade": ["ABC"[i % 3] for i in range(40)],
        }
    )
    errors = _table_problems(_released("before", "after", "listed", "labelled", "grade"), sample)
    assert set(errors) == {"columns.before", "columns.after", "columns.listed", "columns.labelled"}
    assert "holds field type cn_mobile (40 of 40 sampled values)" in errors["columns.before"][0]
    assert "holds field type cn_resident_id" in errors["columns.labelled"][0]


def test_the_vaults_tokens_and_a_copy_of_the_join_key_are_refused() -> None:
    """Review F2: a column of the vault's tokens (tkd_/tok_, glued to text too) or subject ids, or
    the join key copied under another name, links the extract's rows back to the bank's customers."""
    from tokenization.tokens import new_subject_id, random_token

    n = 40
    keys = [f"C{i:06d}" for i in range(n)]
    sample = pd.DataFrame(
        {
            "cif": keys,  # the join key: read for the check, never released
            "ref": [
                "tkd_rid_" + base64.b32encode(i.to_bytes(17, "big")).decode().lower()[:26] for i in range(n)
            ],
            "glued": ["ref:" + random_token("cn_mobile") + "!" for _ in range(n)],
            "owner": [new_subject_id() for _ in range(n)],
            "customer": keys,  # the key under another name
            "partly": [k if i < n // 4 else "X" for i, k in enumerate(keys)],  # a quarter: not a copy
            "grade": ["ABC"[i % 3] for i in range(n)],
        }
    )
    spec = _released("ref", "glued", "owner", "customer", "partly", "grade")
    problems = Problems()
    table_problems(sample, spec.read, default_registry(), problems, key="cif")
    errors = dict(problems)
    assert set(errors) == {"columns.ref", "columns.glued", "columns.owner", "columns.customer"}
    assert "holds the vault's tokens or subject ids (40 of 40 sampled values)" in errors["columns.ref"][0]
    assert (
        "holds a copy of the join key (equal to it in 40 of 40 sampled rows)" in errors["columns.customer"][0]
    )
    for message in [m for ms in errors.values() for m in ms]:  # never a value
        assert not any(str(v) in message for v in sample.to_numpy().ravel() if len(str(v)) > 3)
