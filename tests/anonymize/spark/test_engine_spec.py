"""The spec's ``engine`` and ``spark`` keys: every problem named, and the JSON schema in step."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from anonymize.extract import InvalidSpec, parse_spec
from anonymize.extract.schema import spec_schema
from tests.anonymize.extract.conftest import SPEC

VALIDATOR = OAS30Validator(spec_schema())
TABLE = {"path": "/data/risk/2024q4", "key": "tok", "matches": "cn_resident_id"}
FEATURE = {"role": "sensitive", "source": "table.grade"}


def with_keys(**keys: Any) -> dict[str, Any]:
    return copy.deepcopy(SPEC) | keys


def test_the_local_engine_is_the_default_and_hashes_as_before() -> None:
    plain = parse_spec(SPEC)
    explicit = parse_spec(with_keys(engine="local"))
    assert plain.engine.name == explicit.engine.name == "local"
    assert plain.sha256() == explicit.sha256()
    assert "engine" not in plain.to_dict()


def test_a_spark_spec_without_part_rows_or_csv_hashes_as_before_they_existed() -> None:
    """A job queued before part_rows and csv existed is run from its stored spec and its manifest
    hashed from it: the hash must be the one it was queued with, the canonical JSON of the spark
    options it had then (master, fragment_rows, sample_rows)."""
    spark = {"master": "local[2]", "fragment_rows": 5000, "sample_rows": 4000}
    spec = parse_spec(with_keys(engine="spark", spark=spark))
    old_form = {key: value for key, value in spec.to_dict().items() if key != "spark"} | {"spark": spark}
    canonical = json.dumps(old_form, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert spec.sha256() == hashlib.sha256(canonical.encode()).hexdigest()
    # Their defaults spelled out are the same spec; other values change the hash, and are in it.
    spelled = parse_spec(with_keys(engine="spark", spark=spark | {"part_rows": 1_000_000, "csv": False}))
    assert spelled.sha256() == spec.sha256()
    for option in ({"part_rows": 5000}, {"csv": True}):
        changed = parse_spec(with_keys(engine="spark", spark=spark | option))
        assert changed.sha256() != spec.sha256()
        assert changed.to_dict()["spark"] == spark | option
        # The stored form parses back to the same spec (a queued job is run from it).
        assert parse_spec(changed.to_dict()).engine == changed.engine


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "spark://head.bank:7077", "yarn"])
def test_spark_engine_with_a_master(master: str) -> None:
    document = with_keys(engine="spark", spark={"master": master, "fragment_rows": 5000})
    spec = parse_spec(document)
    assert (spec.engine.name, spec.engine.master, spec.engine.fragment_rows) == ("spark", master, 5000)
    assert spec.to_dict()["spark"]["master"] == master
    assert spec.sha256() != parse_spec(SPEC).sha256()
    VALIDATOR.validate(document)


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"engine": "dask"}, "engine"),
        ({"engine": 1}, "engine"),
        ({"spark": {"master": "local[2]"}}, "spark"),  # spark options without engine: spark
        ({"engine": "spark", "spark": {"master": "http://evil/"}}, "spark.master"),
        ({"engine": "spark", "spark": {"master": "local[2] --conf x"}}, "spark.master"),
        ({"engine": "spark", "spark": {"executors": 4}}, "spark.executors"),
        ({"engine": "spark", "spark": {"fragment_rows": 10}}, "spark.fragment_rows"),
        ({"engine": "spark", "spark": {"sample_rows": "many"}}, "spark.sample_rows"),
        ({"engine": "spark", "spark": "local[2]"}, "spark"),
        ({"engine": "spark", "spark": {"part_rows": 5}}, "spark.part_rows"),
        ({"engine": "spark", "spark": {"csv": "yes"}}, "spark.csv"),
        ({"table": TABLE}, "table"),  # a risk table without engine: spark
        ({"engine": "spark", "table": TABLE | {"path": "risk/2024"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"path": "/data/../etc"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"format": "csv"}}, "table.format"),
        ({"engine": "spark", "table": TABLE | {"key": "a;drop"}}, "table.key"),
        ({"engine": "spark", "table": {"path": "/data/risk"}}, "table.key"),
        # Issue 20: Spark's file system reads file://localhost/etc/... as /etc/....
        ({"engine": "spark", "table": TABLE | {"path": "file://localhost/etc/passwd"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"path": "ftp://bank/risk"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"path": "/data/risk/{.,.}./etc"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"path": "/data/risk/.%2e/etc"}}, "table.path"),
        ({"engine": "spark", "table": TABLE | {"path": "hdfs://nn/risk/*/part"}}, "table.path"),
    ],
)
def test_bad_engine_settings_are_named(keys: dict[str, Any], path: str) -> None:
    document = with_keys(**keys)
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(document)
    assert path in caught.value.errors
    assert not VALIDATOR.is_valid(document)


def test_a_risk_table_and_its_columns() -> None:
    document = with_keys(engine="spark", table=TABLE, columns=SPEC["columns"] | {"bank_grade": FEATURE})
    spec = parse_spec(document)
    assert spec.table is not None and spec.table.by_token == "cn_resident_id"
    assert spec.to_dict()["table"] == TABLE | {"format": "parquet"}
    assert spec.sha256() != parse_spec(with_keys(engine="spark")).sha256()
    VALIDATOR.validate(document)


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"engine": "spark", "columns": SPEC["columns"] | {"bal": FEATURE}}, "columns.bal.source"),
        (  # the join key is never released
            {
                "engine": "spark",
                "table": TABLE,
                "columns": SPEC["columns"] | {"t": FEATURE | {"source": "table.tok"}},
            },
            "columns.t.source",
        ),
        (  # the bank's own ids stay in the bank
            {
                "engine": "spark",
                "table": TABLE,
                "columns": SPEC["columns"] | {"t": {"role": "identifier", "source": "table.cif"}},
            },
            "columns.t.role",
        ),
    ],
)
def test_table_column_rules_are_named(keys: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(with_keys(**keys))
    assert path in caught.value.errors


def test_a_table_is_read_only_under_the_operators_roots(tmp_path) -> None:
    """Attacks on table.path: a sibling sharing the root's prefix, a link out of the root, no roots."""
    from anonymize.extract.table import RiskTable, check_location

    root, outside = tmp_path / "risk", tmp_path / "secrets"
    (root / "2024q4").mkdir(parents=True)
    (root / "2024q4" / "part-0.parquet").write_bytes(b"x")
    outside.mkdir()
    (root / "link").symlink_to(outside)

    def table(path: str) -> RiskTable:
        return RiskTable(path=path, key="k", matches="subject_id")

    check_location(table(str(root / "2024q4")), [str(root)])
    check_location(table("hdfs://nn/risk/2024q4"), ["hdfs://nn/risk/"])
    for path, roots in [
        (str(tmp_path / "risk-other"), [str(root)]),
        (str(root / "link" / "keys.parquet"), [str(root)]),
        ("file://" + str(root / "link"), [str(root)]),
        ("hdfs://nn/riskier/t", ["hdfs://nn/risk"]),
        ("s3a://nn/risk/t", ["hdfs://nn/risk"]),
        (str(root / "2024q4"), []),
    ]:
        with pytest.raises(InvalidSpec) as caught:
            check_location(table(path), roots)
        assert list(caught.value.errors) == ["table.path"]


def _risk(path: str) -> Any:
    from anonymize.extract.table import RiskTable

    return RiskTable(path=path, key="k", matches="subject_id")


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("file://localhost/etc/passwd", "must not name a host"),
        ("file://localhost{root}/2024q4", "must not name a host"),  # even naming a root
        ("file://evil{root}/2024q4", "must not name a host"),
        ("ftp://bank{root}/2024q4", "must be an absolute path or a URI of file://, hdfs://"),
        ("{root}/../secrets", "must not hold '..'"),
        ("file://{root}/2024q4/../../secrets", "must not hold '..'"),
        ("{root}/{{.,.}}./secrets", "must not hold '{'"),  # Hadoop expands it to ..
        ("{root}/.%2e/secrets", "must not hold"),
        ("{root}/2024q4\\..\\..", "must not hold"),
        ("hdfs://nn{root}/*", "for local tables only"),
    ],
)
def test_a_table_path_spark_would_read_elsewhere_is_refused(tmp_path, path: str, rule: str) -> None:
    """Issue 20: URL hosts and schemes the check does not resolve, and '..' in every spelling."""
    from anonymize.extract.table import check_location

    root = tmp_path / "risk"
    (root / "2024q4").mkdir(parents=True)
    (tmp_path / "secrets").mkdir()
    attack = path.format(root=root)
    with pytest.raises(InvalidSpec) as caught:
        check_location(_risk(attack), [str(root), "hdfs://nn" + str(root)])
    assert rule in caught.value.errors["table.path"][0]
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(with_keys(engine="spark", table=TABLE | {"path": attack}))
    assert list(caught.value.errors) == ["table.path"]
    assert not VALIDATOR.is_valid(with_keys(engine="spark", table=TABLE | {"path": attack}))


def test_every_file_a_glob_or_directory_reaches_is_a_real_file_under_the_roots(tmp_path) -> None:
    """Issue 20: a link inside a root, reached through a glob or deep in a directory, is refused
    (not followed: one pointing inside today may point outside after the check); Spark reads the
    files the check found, not the glob nor a directory."""
    from anonymize.extract.table import check_location

    root, outside = tmp_path / "risk", tmp_path / "secrets"
    (root / "2024q4" / "day=1").mkdir(parents=True)
    part = root / "2024q4" / "day=1" / "part-0.parquet"
    part.write_bytes(b"x")
    (root / "2024q4" / "_SUCCESS").write_bytes(b"")  # hidden: Spark's listing skips it
    (root / "2024q3").mkdir()
    outside.mkdir()
    (outside / "keys.parquet").write_bytes(b"secret")
    roots = [str(root)]

    assert check_location(_risk(str(root / "2024q*")), roots) == (str(part),)
    assert check_location(_risk("file://" + str(root / "2024q4")), roots) == ("file://" + str(part),)
    with pytest.raises(InvalidSpec) as caught:
        check_location(_risk(str(root / "2024q3")), roots)
    assert caught.value.errors["table.path"] == ["holds no file"]

    (root / "latest").symlink_to(root / "2024q4")  # inside, and still refused: tables are real files
    (root / "2024q5").symlink_to(outside)  # a match of the glob that is a link out
    (root / "2024q3" / "stolen.parquet").symlink_to(outside / "keys.parquet")  # a link deep inside
    (root / "2024q4" / "day=1" / "day=2").symlink_to(outside)  # a directory link two levels down
    for attack in (
        str(root / "2024q*"),
        str(root / "2024q[5]"),
        str(root / "2024q3"),
        str(root / "*" / "stolen.parquet"),
        str(root / "lat*"),
        str(root),
        "file://" + str(root / "2024q4"),
    ):
        with pytest.raises(InvalidSpec) as caught:
            check_location(_risk(attack), roots)
        assert "symbolic link" in caught.value.errors["table.path"][0], attack
    (root / "2024q5").unlink()
    with pytest.raises(InvalidSpec) as caught:  # the path itself resolved: outside the roots
        check_location(_risk(str(root / "2024q3" / "stolen.parquet")), roots)
    assert "PIIVAULT_EXTRACT_TABLE_ROOTS" in caught.value.errors["table.path"][0]
    with pytest.raises(InvalidSpec) as caught:
        check_location(_risk(str(root / "nothing-*")), roots)
    assert caught.value.errors["table.path"] == ["matches no file"]


def test_a_name_spark_would_glob_again_is_refused(tmp_path) -> None:
    """Review F1: a directory literally named x* beside a link xevil out of the root; the spec's
    x[*] globs to the literal x* only, which Hadoop would glob again and follow xevil. The name
    is refused, and so is a glob character deep in the walk."""
    from anonymize.extract.table import check_location

    root, outside = tmp_path / "risk", tmp_path / "secrets"
    (root / "a" / "x*").mkdir(parents=True)
    (root / "a" / "x*" / "part-0.parquet").write_bytes(b"x")
    (root / "b" / "d[1]").mkdir(parents=True)
    (root / "b" / "d[1]" / "part-0.parquet").write_bytes(b"x")
    outside.mkdir()
    (outside / "keys.parquet").write_bytes(b"secret")
    roots = [str(root)]
    for attack in (str(root / "a" / "x[*]"), str(root / "b"), str(root / "b" / "d?1?")):
        with pytest.raises(InvalidSpec) as caught:
            check_location(_risk(attack), roots)
        assert "Spark would glob it" in caught.value.errors["table.path"][0], attack
    (root / "a" / "xevil").symlink_to(outside)
    with pytest.raises(InvalidSpec) as caught:
        check_location(_risk(str(root / "a" / "x[*]")), roots)
    assert list(caught.value.errors) == ["table.path"]
