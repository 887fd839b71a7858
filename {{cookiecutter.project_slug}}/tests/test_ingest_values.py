"""Ingest never changes a value silently: it converts exactly, or quarantines with the reason."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import parsed
from {{ cookiecutter.package_name }} import ingest as ingest_module
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

# Every declared type in use (see the comment atop models/staging/shop/_shop__sources.yml), plus bigint.
SOURCES = """
sources:
  - name: feed
    schema: raw
    tables:
      - name: sweep
        config: {meta: {raw_file: sweep.FORMAT}}
        columns:
          - {name: i, data_type: integer}
          - {name: b, data_type: bigint}
          - {name: v, data_type: varchar}
          - {name: ts, data_type: timestamp}
          - {name: d, data_type: date}
          - {name: f, data_type: boolean}
          - {name: n, data_type: "numeric(12,2)"}
"""
COLUMNS = ["i", "b", "v", "ts", "d", "f", "n"]
GOOD = {"i": "1", "b": "2", "v": "  padded, kept  ", "ts": "2024-08-17 19:44:30-05:00", "d": "2024-08-17",
        "f": "true", "n": "10.50"}  # fmt: skip
LOADED = (1, 2, "  padded, kept  ", dt.datetime(2024, 8, 18, 0, 44, 30), dt.date(2024, 8, 17), True, Decimal("10.50"))
# (column, a value the column cannot hold as it is, the reason it is quarantined with)
LOSSY = [
    ("i", "2.4", "i '2.4' has a fraction; integer would round it"),
    ("i", "2.5", "i '2.5' has a fraction; integer would round it"),
    ("i", "2147483648", "i '2147483648' is out of range for integer"),
    ("b", "7.5", "b '7.5' has a fraction; bigint would round it"),
    ("b", "9223372036854775808", "b '9223372036854775808' is out of range for bigint"),
    ("ts", "2024-08-17 19:44:30.1234567", "ts '2024-08-17 19:44:30.1234567' has more than 6 fractional second digits"),
    ("ts", "2024-02-30 10:00:00", "ts '2024-02-30 10:00:00' is not a valid timestamp"),
    ("ts", "infinity", "ts 'infinity' is not a valid timestamp"),
    ("d", "2024-08-17 10:00:00", "d '2024-08-17 10:00:00' has a time of day; date would drop it"),
    ("d", "2024-13-01", "d '2024-13-01' is not a valid date"),
    ("f", "2", "f '2' is not a valid boolean"),
    ("n", "1.005", "n '1.005' has more than 2 decimals; numeric(12,2) would round it"),
    ("n", "12345678901.00", "n '12345678901.00' is out of range for numeric(12,2)"),
]


def _project(tmp_path: Path, suffix: str) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sources.yml").write_text(SOURCES.replace("FORMAT", suffix), encoding="utf-8")
    (tmp_path / "raw").mkdir()
    return tmp_path


def _rows() -> list[dict[str, str]]:
    rows = [dict(GOOD)]
    for column, value, _ in LOSSY:
        rows.append({**GOOD, column: value})
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    lines = [",".join(COLUMNS)] + [",".join(f'"{row[c]}"' for c in COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _json_value(text: str) -> str:
    """Numbers as JSON numbers with their exact spelling, like a real feed; the rest as strings."""
    try:
        Decimal(text)
    except ArithmeticError:
        return json.dumps(text)
    return text if text.strip() == text and text[0].isdigit() else json.dumps(text)


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    lines = ["{" + ", ".join(f'"{c}": {_json_value(row[c])}' for c in COLUMNS) + "}" for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# Parquet carries real types: each column gets a type that can hold the lossy values of the sweep
# (a double for integers, nanoseconds for timestamps, a timestamp for dates, an integer for booleans).
PARQUET_TYPES = {"i": "double", "b": "decimal(38,1)", "v": "varchar", "ts": "timestamp_ns", "d": "timestamp",
                 "f": "integer", "n": "double"}  # fmt: skip
PARQUET_GOOD = {**GOOD, "ts": "2024-08-18 00:44:30", "f": "1", "d": "2024-08-17 00:00:00"}
PARQUET_LOSSY = [
    ("i", "2.4", "i '2.4' has a fraction; integer would round it"),
    ("i", "1.5", "i '1.5' has a fraction; integer would round it"),
    ("i", "2147483648", "i '2147483648.0' is out of range for integer"),
    ("b", "7.5", "b '7.5' has a fraction; bigint would round it"),
    ("b", "9223372036854775808", "b '9223372036854775808.0' is out of range for bigint"),
    ("ts", "2024-08-17 19:44:30.123456789", "ts '2024-08-17 19:44:30.123456789' has more than 6 fractional second"),
    ("d", "2024-08-17 10:00:00", "d '2024-08-17 10:00:00' has a time of day; date would drop it"),
    ("f", "2", "f '2' is not a valid boolean"),
    ("n", "1.005", "n '1.005' has more than 2 decimals; numeric(12,2) would round it"),
    ("n", "12345678901", "n '12345678901.0' is out of range for numeric(12,2)"),
]


def _write_parquet(path: Path, rows: list[dict[str, str]]) -> None:
    with duckdb.connect() as con:
        con.execute("create table t (" + ", ".join(f"{c} {PARQUET_TYPES[c]}" for c in COLUMNS) + ")")
        for row in rows:
            con.execute(
                "insert into t values (" + ", ".join(f"cast(? as {PARQUET_TYPES[c]})" for c in COLUMNS) + ")",
                [row[c] for c in COLUMNS],
            )
        con.execute("copy t to '" + str(path) + "' (format parquet)")


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_every_declared_type_quarantines_a_value_it_cannot_hold_exactly(tmp_path: Path, suffix: str) -> None:
    project = _project(tmp_path, suffix)
    if suffix == "parquet":
        cases = PARQUET_LOSSY
        rows = [dict(PARQUET_GOOD)] + [{**PARQUET_GOOD, column: value} for column, value, _ in cases]
        _write_parquet(project / "raw" / "sweep.parquet", rows)
        first_line = 1  # Parquet: row index + 1
    else:
        cases = LOSSY
        (_write_csv if suffix == "csv" else _write_jsonl)(project / "raw" / f"sweep.{suffix}", _rows())
        first_line = 2 if suffix == "csv" else 1  # the line in the file, header included
    db = tmp_path / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(project)), project / "raw", "run-1", progress=lambda _: None)
    assert (result.loaded_rows, result.quarantined_rows) == (1, len(cases))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select * exclude (_loaded_at) from raw.sweep").fetchall() == [LOADED]
        quarantine = con.execute("select row_number, reason from raw._quarantine order by row_number").fetchall()
    expected = [(first_line + k, reason) for k, (_, _, reason) in enumerate(cases, start=1)]
    assert [(line, reason[: len(want)]) for (line, reason), (_, want) in zip(quarantine, expected, strict=True)] == (
        expected
    )


SHOP = """
sources:
  - name: shop
    schema: raw
    tables:
      - name: customers
        config: {meta: {raw_file: customers.FORMAT}}
        columns:
          - {name: customer_id, data_type: integer, data_tests: [not_null]}
          - {name: country_code, data_type: varchar, data_tests: [not_null]}
          - {name: nickname, data_type: varchar}
"""
TOKENS = ["NULL", "null", "NA", "N/A", " None ", ""]


def _shop(tmp_path: Path, suffix: str, rows: list[tuple[str, str, str]], meta: str = "") -> Path:
    (tmp_path / "models").mkdir()
    sources = SHOP.replace("FORMAT", suffix)
    if meta:
        sources = sources.replace("raw_file: customers." + suffix, "raw_file: customers." + suffix + ", " + meta)
    (tmp_path / "models" / "sources.yml").write_text(sources, encoding="utf-8")
    raw = tmp_path / "raw"
    raw.mkdir()
    names = ["customer_id", "country_code", "nickname"]
    if suffix == "csv":
        text = "customer_id,country_code,nickname\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
        (raw / "customers.csv").write_text(text, encoding="utf-8")
    elif suffix == "jsonl":
        text = "".join(json.dumps(dict(zip(names, row, strict=True))) + "\n" for row in rows)
        (raw / "customers.jsonl").write_text(text, encoding="utf-8")
    else:
        with duckdb.connect() as con:
            con.execute("create table t (customer_id integer, country_code varchar, nickname varchar)")
            con.executemany("insert into t values (cast(? as integer), ?, ?)", [list(row) for row in rows])
            con.execute("copy t to '" + str(raw / "customers.parquet") + "' (format parquet)")
    return tmp_path


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_a_null_token_in_a_required_column_is_quarantined_and_in_an_optional_one_is_null(
    tmp_path: Path, suffix: str
) -> None:
    rows = [("1", "DE", "ada")]
    rows += [(str(k), token, "x") for k, token in enumerate(TOKENS, start=10)]
    rows += [(str(k), "FR", token) for k, token in enumerate(TOKENS, start=20)]
    project = _shop(tmp_path, suffix, rows)
    db = tmp_path / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(project)), project / "raw", "run-1", progress=lambda _: None)
    assert (result.loaded_rows, result.quarantined_rows) == (1 + len(TOKENS), len(TOKENS))
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = con.execute("select customer_id, country_code, nickname from raw.customers order by 1").fetchall()
        reasons = {r for (r,) in con.execute("select distinct reason from raw._quarantine").fetchall()}
    assert loaded == [(1, "DE", "ada")] + [(k, "FR", None) for k in range(20, 20 + len(TOKENS))]
    assert reasons == {"country_code is missing"}


def test_a_table_declares_its_own_null_values_in_its_meta(tmp_path: Path) -> None:
    """Namibia's country code is NA: a table whose data has it replaces the default spellings."""
    rows = [("1", "NA", "N/A"), ("2", "N/A", "x"), ("3", "", "y")]
    project = _shop(tmp_path, "csv", rows, meta="null_values: ['N/A', 'NULL']")
    assert getattr(load_specs(parsed(project))[0], "null_values", None) == ("N/A", "NULL")
    db = tmp_path / "w.duckdb"
    ingest(File(db), load_specs(parsed(project)), project / "raw", "run-1", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select customer_id, country_code, nickname from raw.customers").fetchall() == [
            (1, "NA", None)
        ]
        assert con.execute("select row_number, reason from raw._quarantine order by 1").fetchall() == [
            (3, "country_code is missing"),
            (4, "country_code is missing"),
        ]
    assert "NA" in ingest_module.NULL_VALUES  # the project default treats it as missing
