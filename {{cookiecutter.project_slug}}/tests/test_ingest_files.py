"""Ingest accounts for every row of every raw file once, by its line, whatever the file holds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from conftest import parsed
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

SOURCES = """
sources:
  - name: shop
    schema: raw
    tables:
      - name: customers
        config: {meta: {raw_file: customers.csv}}
        columns:
          - {name: customer_id, data_type: integer, data_tests: [not_null]}
          - {name: name, data_type: varchar}
          - {name: signed_up_at, data_type: timestamp, data_tests: [not_null]}
      - name: payments
        config: {meta: {raw_file: payments.jsonl}}
        columns:
          - {name: payment_id, data_type: integer, data_tests: [not_null]}
          - {name: amount, data_type: "numeric(12,2)"}
"""
HEADER = b"customer_id,name,signed_up_at\n"
GOOD_CSV = b'1,ada,2025-01-01 10:00:00\n2,"bea, ""b""",2025-01-02\n'
GOOD_JSONL = b'{"payment_id": 1, "amount": 1.5}\n'


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sources.yml").write_text(SOURCES, encoding="utf-8")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "customers.csv").write_bytes(HEADER + GOOD_CSV)
    (tmp_path / "raw" / "payments.jsonl").write_bytes(GOOD_JSONL)
    return tmp_path


def _ingest(project: Path) -> list[tuple[str, int, str, str]]:
    """Ingest; (table, row_number, reason, record) of the quarantine, in file order."""
    db = project / "w.duckdb"
    ingest(File(db), load_specs(parsed(project)), project / "raw", "run-1", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select source_table, row_number, reason, record from raw._quarantine order by 1, 2"
        ).fetchall()


def test_a_line_with_two_undecodable_bytes_is_quarantined_once(shop: Path) -> None:
    (shop / "raw" / "customers.csv").write_bytes(HEADER + b"3,d\xffr\xfe,2025-01-03 00:00:00\n" + GOOD_CSV)
    assert _ingest(shop) == [
        ("customers", 2, "unreadable CSV line (not UTF-8 text)", r"3,d\xffr\xfe,2025-01-03 00:00:00")
    ]


def test_row_numbers_are_the_line_in_the_file_for_every_kind_of_fault(shop: Path) -> None:
    (shop / "raw" / "customers.csv").write_bytes(
        HEADER
        + b'1,"two\nlines",2025-01-01\n'  # lines 2-3: one record
        + b"\n"  # line 4: blank, not a row
        + b"x,ada,2025-01-01\n"  # line 5: a typed failure
        + b"4,too,many,fields\n"  # line 6: unreadable
        + b'5,"stray,2025-01-01\n'  # line 7: a quote that never closes
        + b"6,fay,2025-01-01\n"  # line 8: good, not swallowed by line 7's quote
    )
    (shop / "raw" / "payments.jsonl").write_bytes(GOOD_JSONL + b"\n" + b'{"payment_id": "x"}\n' + b"{broken\n")
    rows = [(table, line, reason) for table, line, reason, _ in _ingest(shop)]
    assert rows == [
        ("customers", 5, "customer_id 'x' is not a valid integer"),
        ("customers", 6, "unreadable CSV line (expected 3 fields, found 4)"),
        ("customers", 7, rows[2][2]),
        ("payments", 3, "payment_id 'x' is not a valid integer"),
        ("payments", 4, "malformed JSON"),
    ]
    assert rows[2][2].startswith("unreadable CSV line")
    with duckdb.connect(str(shop / "w.duckdb"), read_only=True) as con:
        assert con.execute("select customer_id, name from raw.customers order by 1").fetchall() == [
            (1, "two\nlines"),
            (6, "fay"),
        ]


def test_a_byte_order_mark_is_not_part_of_the_first_line(shop: Path) -> None:
    (shop / "raw" / "customers.csv").write_bytes(b"\xef\xbb\xbf" + HEADER + GOOD_CSV)
    (shop / "raw" / "payments.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD_JSONL)
    assert _ingest(shop) == []


def test_a_json_line_that_is_not_an_object_keeps_its_text(shop: Path) -> None:
    (shop / "raw" / "payments.jsonl").write_bytes(GOOD_JSONL + b'[1, "a"]\n"text"\n42\n')
    assert [(line, reason, record) for table, line, reason, record in _ingest(shop) if table == "payments"] == [
        (2, "JSON line is an array, not an object", '[1, "a"]'),
        (3, "JSON line is a string, not an object", '"text"'),
        (4, "JSON line is a number, not an object", "42"),
    ]


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_raw_file_resolving_outside_the_raw_folder_is_refused(
    shop: Path, tmp_path_factory: pytest.TempPathFactory, link: str
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "customers.csv").write_bytes(HEADER + GOOD_CSV)
    raw = shop / "raw"
    (raw / "customers.csv").unlink()
    if link == "file":
        (raw / "customers.csv").symlink_to(outside / "customers.csv")
    else:
        (raw / "linked").symlink_to(outside, target_is_directory=True)
        path = shop / "models" / "sources.yml"
        path.write_text(SOURCES.replace("raw_file: customers.csv", "raw_file: linked/customers.csv"), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"resolves to .*, outside the raw folder"):
        _ingest(shop)
    assert not (shop / "w.duckdb").exists()


def test_a_header_only_csv_is_named_and_stops_the_ingest(shop: Path) -> None:
    (shop / "raw" / "customers.csv").write_bytes(HEADER)
    with pytest.raises(PipelineError, match=r"^customers\.csv has no data rows"):
        _ingest(shop)


@pytest.mark.parametrize(("name", "content"), [("payments.jsonl", b"\n  \n"), ("customers.csv", b"")])
def test_a_file_without_data_rows_is_named(shop: Path, name: str, content: bytes) -> None:
    (shop / "raw" / name).write_bytes(content)
    with pytest.raises(PipelineError, match=rf"^{name.replace('.', '[.]')} has no data rows"):
        _ingest(shop)


def test_a_corrupt_parquet_file_is_named(shop: Path) -> None:
    path = shop / "models" / "sources.yml"
    path.write_text(SOURCES.replace("payments.jsonl", "payments.parquet"), encoding="utf-8")
    with duckdb.connect() as con:
        con.execute(f"copy (select 1 as payment_id, 1.5 as amount) to '{shop / 'raw' / 'payments.parquet'}'")
    data = (shop / "raw" / "payments.parquet").read_bytes()
    (shop / "raw" / "payments.parquet").write_bytes(data[:4] + b"\x00" * 40 + data[44:])
    with pytest.raises(PipelineError, match=r"^payments\.parquet cannot be read as Parquet"):
        _ingest(shop)


# A seeded generator of broken files: the property below must hold for every one of them.
def _csv_file(rng: random.Random) -> tuple[bytes, set[int], int]:
    """(file, lines that start a row that must be quarantined, data rows)."""
    out, bad, rows, line = [HEADER], set(), 0, 2
    for k in range(rng.randint(1, 25)):
        kind = rng.choice(["good", "good", "multiline", "blank", "bytes", "ragged", "quote", "typed", "null", "nul"])
        record = {
            "good": f"{k},n{k},2025-01-01 00:00:00\n".encode(),
            "multiline": f'{k},"a\nb{k}",2025-01-01\n'.encode(),
            "blank": rng.choice([b"\n", b"   \n"]),
            "bytes": f"{k},n".encode() + rng.choice([b"\xff", b"\xc3\x28\xa0\xa1", b"\x80"]) + b",2025-01-01\n",
            "ragged": rng.choice([f"{k},n\n", f"{k},n,2025-01-01,extra\n", f"{k}\n"]).encode(),
            "quote": f'{k},"n{k},2025-01-01\n'.encode(),
            "typed": rng.choice([f"{k}.5,n,2025-01-01\n", f"{k},n,2025-01-01 00:00:00.1234567\n"]).encode(),
            "null": rng.choice(["N/A,n,2025-01-01\n", f"{k},n,NULL\n"]).encode(),
            "nul": f"{k},n\x00,2025-01-01\n".encode(),
        }[kind]
        out.append(record)
        if kind != "blank":
            rows += 1
            if kind not in {"good", "multiline"}:
                bad.add(line)
        line += record.count(b"\n")
    return b"".join(out), bad, rows


def _jsonl_file(rng: random.Random) -> tuple[bytes, set[int], int]:
    out, bad, rows = [], set(), 0
    for line in range(1, rng.randint(1, 25) + 1):
        kind = rng.choice(["good", "good", "blank", "bytes", "broken", "array", "scalar", "typed", "nan"])
        out.append(
            {
                "good": json.dumps({"payment_id": line, "amount": 2.5}).encode(),
                "blank": b"",
                "bytes": b'{"payment_id": 1, "amount": "\xff"}',
                "broken": rng.choice([b'{"payment_id": ', b"{'payment_id': 1}", b'{"a": 1}}']),
                "array": b"[1, 2]",
                "scalar": rng.choice([b"null", b'"x"', b"7", b"true"]),
                "typed": rng.choice([b'{"payment_id": 1.5}', b'{"payment_id": 1, "amount": 0.125}', b"{}"]),
                "nan": b'{"payment_id": 1, "amount": NaN}',
            }[kind]
            + b"\n"
        )
        if kind != "blank":
            rows += 1
            if kind != "good":
                bad.add(line)
    return b"".join(out), bad, rows


FILES = 20  # of each format, all in one ingest (one DuckDB file keeps the test fast)


def test_loaded_plus_quarantined_is_the_data_rows_of_every_broken_file(tmp_path: Path) -> None:
    """Each file is its own table; the oracle is what the generator wrote, line by line."""
    rng = random.Random(7)  # noqa: S311 (a seeded generator: the same files on every run)
    tables = []
    expected = {}
    (tmp_path / "raw").mkdir()
    for k in range(FILES):
        for suffix, make in (("csv", _csv_file), ("jsonl", _jsonl_file)):
            content, bad, rows = make(rng)
            while not rows:
                content, bad, rows = make(rng)
            name = f"t{k}_{suffix}"
            (tmp_path / "raw" / f"{name}.{suffix}").write_bytes(content)
            expected[name] = (rows, bad)
            columns = CUSTOMER_COLUMNS if suffix == "csv" else PAYMENT_COLUMNS
            meta = "{meta: {raw_file: " + f"{name}.{suffix}" + "} }"
            tables.append(f"      - name: {name}\n        config: {meta}\n{columns}")
    (tmp_path / "models").mkdir()
    yaml_text = "sources:\n  - name: feed\n    schema: raw\n    tables:\n" + "".join(tables)
    (tmp_path / "models" / "sources.yml").write_text(yaml_text, encoding="utf-8")
    db = tmp_path / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(tmp_path)), tmp_path / "raw", "run-1", progress=lambda _: None)
    assert {t.table: t.loaded_rows + t.quarantined_rows for t in result.tables} == {
        name: rows for name, (rows, _) in expected.items()
    }
    with duckdb.connect(str(db), read_only=True) as con:
        lines = con.execute("select source_table, row_number from raw._quarantine").fetchall()
    assert len(lines) == sum(len(bad) for _, bad in expected.values())
    assert {name: {line for table, line in lines if table == name} for name in expected} == {
        name: bad for name, (_, bad) in expected.items()
    }


CUSTOMER_COLUMNS = """        columns:
          - {name: customer_id, data_type: integer, data_tests: [not_null]}
          - {name: name, data_type: varchar}
          - {name: signed_up_at, data_type: timestamp, data_tests: [not_null]}
"""
PAYMENT_COLUMNS = """        columns:
          - {name: payment_id, data_type: integer, data_tests: [not_null]}
          - {name: amount, data_type: "numeric(12,2)"}
"""
