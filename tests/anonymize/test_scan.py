"""Column discovery (anonymize.scan, ``piivault anonymize scan``): types per column, counts, no values out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from anonymize.scan import ScanError, scan_csv, scan_parquet, scan_table
from piivault.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
ZH = DATA / "customers_zh.csv"
EN = DATA / "customers_en.csv"
EXPECTED_ZH = {
    "客户编号": None,
    "姓名": "name",
    "手机号": "cn_mobile",
    "身份证号": "cn_resident_id",
    "卡号": "bank_card",
    "联系地址": "address",
    "出生日期": "date_of_birth",
    "备注": None,
    "余额": None,
}
EXPECTED_EN = {
    "full_name": "name",
    "email": "email",
    "ssn": "us_ssn",
    "home_address": "address",
    "tier": None,
    "opened_on": None,  # dates, but not birth dates: the header does not say so
}


def _cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))[1:]
    return [cell for row in rows for cell in row if len(cell) >= 4]


@pytest.mark.parametrize(("path", "expected"), [(ZH, EXPECTED_ZH), (EN, EXPECTED_EN)])
def test_csv_columns_get_their_field_types(path: Path, expected: dict[str, str | None]) -> None:
    reports = scan_csv(path)
    assert {r.column: r.field_type for r in reports} == expected
    for r in reports:
        assert 0 <= r.matched <= r.sampled and r.share == pytest.approx(r.matched / r.sampled, abs=1e-4)
        if r.field_type is None:
            assert r.confidence == 0.0
        else:
            assert r.share >= 0.9 and 0.5 <= r.confidence <= 1.0
    by_column = {r.column: r for r in reports}
    if path == ZH:
        # a check digit is more certain than a mobile's shape; a bare date with a header the least
        assert by_column["身份证号"].confidence > by_column["手机号"].confidence
        assert by_column["出生日期"].confidence < by_column["手机号"].confidence
        assert by_column["备注"].sampled < by_column["姓名"].sampled  # empty cells are not sampled


def test_parquet_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    target = tmp_path / "customers.parquet"
    table = pacsv.read_csv(ZH, convert_options=pacsv.ConvertOptions(column_types={"手机号": pa.string()}))
    pq.write_table(table.select(["姓名", "手机号", "备注"]), target)
    reports = scan_parquet(target, sample=30)
    assert [(r.column, r.field_type, r.sampled) for r in reports[:2]] == [
        ("姓名", "name", 30),
        ("手机号", "cn_mobile", 30),
    ]
    assert reports[2].field_type is None
    r = CliRunner().invoke(main, ["anonymize", "scan", str(target), "--format", "text"])
    assert r.exit_code == 0 and "cn_mobile" in r.output
    assert [cell for cell in _cells(ZH) if cell in r.output] == []


def test_sample_limits_the_rows_read() -> None:
    reports = scan_csv(ZH, sample=10)
    assert {r.sampled for r in reports if r.column == "姓名"} == {10}


def test_database_table_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with open(ZH, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    with engine.begin() as connection:
        connection.execute(
            sa.text('CREATE TABLE customers ("姓名" TEXT, mobile TEXT, id_no TEXT, note TEXT)')
        )
        connection.execute(
            sa.text("INSERT INTO customers VALUES (:n, :m, :i, :x)"),
            [{"n": r["姓名"], "m": r["手机号"], "i": r["身份证号"], "x": r["备注"] or None} for r in rows],
        )
    engine.dispose()
    reports = scan_table(url, "customers", sample=25)
    assert [(r.column, r.field_type, r.sampled) for r in reports[:3]] == [
        ("姓名", "name", 25),
        ("mobile", "cn_mobile", 25),
        ("id_no", "cn_resident_id", 25),
    ]
    assert reports[3].field_type is None
    with pytest.raises(ScanError, match="no table"):
        scan_table(url, "nope")


def test_cli_prints_counts_and_never_a_value(tmp_path: Path) -> None:
    runner = CliRunner()
    for path in (ZH, EN):
        for output in ("json", "text", "html"):
            r = runner.invoke(main, ["anonymize", "scan", str(path), "--format", output])
            assert r.exit_code == 0, r.output
            leaked = [cell for cell in _cells(path) if cell in r.output]
            assert leaked == [], "a sampled value was printed"
    out = json.loads(runner.invoke(main, ["anonymize", "scan", str(ZH)]).output)
    assert {c["column"]: c["field_type"] for c in out} == EXPECTED_ZH


def test_cli_refuses_bad_sources_without_values(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["anonymize", "scan", "sqlite:///x.db"])
    assert r.exit_code == 2 and "--table" in r.output
    r = runner.invoke(main, ["anonymize", "scan", str(tmp_path / "missing.csv")])
    assert r.exit_code == 1 and "cannot read" in r.output
    secret_url = "postgresql+psycopg://user:s3cr3t-pw@127.0.0.1:1/db"
    r = runner.invoke(main, ["anonymize", "scan", secret_url, "--table", "t"])
    assert r.exit_code == 1 and "s3cr3t-pw" not in r.output


def test_the_html_inventory_names_types_in_the_pages_language_and_escapes_column_names(tmp_path: Path):
    hostile = tmp_path / "hostile.csv"
    hostile.write_text('<script>alert(1)</script>,mobile\nx,13812345678\ny,13987654321\n', encoding="utf-8")
    runner = CliRunner()
    zh = runner.invoke(main, ["anonymize", "scan", str(ZH), "--format", "html"])
    assert zh.exit_code == 0, zh.output
    assert '<html lang="zh-CN">' in zh.output and "个人信息字段清单" in zh.output
    assert "居民身份证号码 <code>cn_resident_id</code>" in zh.output
    assert "6 / 9 列可能含个人信息" in zh.output
    en = runner.invoke(main, ["anonymize", "scan", str(EN), "--format", "html", "--language", "en"])
    assert '<html lang="en">' in en.output and "Personal data inventory" in en.output
    assert "<code>us_ssn</code>" in en.output  # a detector-only type, by its code
    page = runner.invoke(main, ["anonymize", "scan", str(hostile), "--format", "html"]).output
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "13812345678" not in page


def test_the_html_inventory_of_a_table_never_shows_the_database_password(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (mobile TEXT)"))
        conn.execute(sa.text("INSERT INTO customers VALUES ('13812345678')"))
    engine.dispose()
    url = f"sqlite:///{db}"
    page = CliRunner().invoke(main, ["anonymize", "scan", url, "--table", "customers", "--format", "html"])
    assert page.exit_code == 0, page.output
    assert "customers @ sqlite:///" in page.output and "13812345678" not in page.output


def test_a_database_is_labelled_without_user_or_password() -> None:
    from anonymize.cli import _database_label

    label = _database_label("postgresql+psycopg://crm_reader:s3cr3t-pw@db.bank.example:5432/crm")
    assert label == "postgresql://db.bank.example/crm"
