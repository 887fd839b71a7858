from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import parsed
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.ingest import REASONS_SHOWN, Reason, ingest, load_specs, quarantined
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

SOURCES = """
sources:
  - name: crm
    schema: raw
    tables:
      - name: accounts
        config: {meta: {raw_file: accounts.csv}}
        columns:
          - {name: account_id, data_type: integer, data_tests: [unique, not_null]}
          - {name: opened_at, data_type: timestamp, data_tests: [not_null]}
          - {name: balance, data_type: "numeric(12,2)"}
      - name: events
        config: {meta: {raw_file: events.jsonl}}
        columns:
          - {name: event_id, data_type: integer, data_tests: [not_null]}
          - {name: is_test, data_type: boolean}
      - name: not_ingested
        columns:
          - {name: x, data_type: integer}
"""


def _quarantined(database: Path, schema: str = "raw") -> list[tuple[str, str, int]]:
    """ingest.quarantined through a Session of one DuckDB file."""
    with File(database).session() as session:
        return list(quarantined(session, schema))


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """A tiny project declaring two raw tables, and their files with some bad rows."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "_crm__sources.yml").write_text(SOURCES, encoding="utf-8")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "accounts.csv").write_text(
        "account_id,opened_at,balance\n"
        "1,2025-01-01 10:00:00,10.50\n"
        "2,2025-01-02 11:00:00,\n"
        "x3,2025-01-03 12:00:00,1.00\n"
        "4,,2.00\n"
        "5,2025-01-05 09:00:00,lots\n"
        "6,2025-01-06 09:00:00,1.00,surplus\n",
        encoding="utf-8",
    )
    (raw / "events.jsonl").write_text(
        json.dumps({"event_id": 1, "is_test": False}) + "\n" + '{"event_id": 2, "is_test": \n' + "\n",
        encoding="utf-8",
    )
    return tmp_path


def test_the_declared_schema_comes_from_the_dbt_sources(crm: Path) -> None:
    specs = load_specs(parsed(crm))
    assert [spec.name for spec in specs] == ["accounts", "events"]
    accounts = specs[0]
    assert [(c.name, c.data_type, c.required) for c in accounts.columns] == [
        ("account_id", "integer", True),
        ("opened_at", "timestamp", True),
        ("balance", "numeric(12,2)", False),
    ]


def test_good_rows_load_typed_and_bad_rows_are_quarantined_with_a_reason(crm: Path) -> None:
    db = crm / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    assert [(t.table, t.loaded_rows, t.quarantined_rows) for t in result.tables] == [
        ("accounts", 2, 4),
        ("events", 1, 1),
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select account_id, balance from raw.accounts order by 1").fetchall() == [
            (1, Decimal("10.50")),
            (2, None),
        ]
        types = dict(con.execute("select column_name, column_type from (describe raw.accounts)").fetchall())
    assert types["opened_at"] == "TIMESTAMP"
    assert "_loaded_at" in types
    reasons = {(table, reason) for table, reason, _ in _quarantined(db)}
    assert ("accounts", "account_id 'x3' is not a valid integer") in reasons
    assert ("accounts", "opened_at is missing") in reasons
    assert ("accounts", "balance 'lots' is not a valid numeric(12,2)") in reasons
    assert ("events", "malformed JSON") in reasons
    assert any(table == "accounts" and reason.startswith("unreadable CSV line") for table, reason in reasons)


def test_a_load_s_reasons_are_the_quarantine_s_grouped_most_rows_first(crm: Path) -> None:
    """What the summary and report.html list: per reason, its rows and first row number, as the quarantine has them."""
    (crm / "raw" / "accounts.csv").write_text(
        "account_id,opened_at,balance\n"
        + "".join(f"{i},2025-01-01 10:00:00,lots\n" for i in range(1, 4))  # lines 2-4: the same reason
        + "x9,2025-01-01 10:00:00,1\n7,,1\n8,2025-01-01 10:00:00,1,surplus\n9,2025-01-01 10:00:00,1\n",
        encoding="utf-8",
    )
    db = crm / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        for table in result.tables:
            grouped = con.execute(
                "select reason, count(*), min(row_number) from raw._quarantine where source_table = ? "
                "group by reason order by 2 desc, 3",
                [table.table],
            ).fetchall()
            assert [(r.reason, r.rows, r.first_row_number) for r in table.reasons] == grouped
    accounts = result.tables[0].reasons
    assert accounts[0] == Reason("balance 'lots' is not a valid numeric(12,2)", 3, 2)
    assert [r.first_row_number for r in accounts[1:]] == [5, 6, 7]  # one row each, in file order
    assert accounts[3].reason.startswith("unreadable CSV line")
    # Unchanged files are not loaded again: their reasons are read back from the quarantine, the same.
    again = ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-2", progress=lambda _: None)
    assert [t.reused_from for t in again.tables] == ["run-1", "run-1"]
    assert [t.reasons for t in again.tables] == [t.reasons for t in result.tables]


def test_only_the_most_frequent_reasons_are_kept_for_reports(crm: Path) -> None:
    rows = "".join(f"{i},2025-01-01 10:00:00,bad{i}\n" for i in range(REASONS_SHOWN + 5))
    (crm / "raw" / "accounts.csv").write_text("account_id,opened_at,balance\n" + rows, encoding="utf-8")
    result = ingest(File(crm / "w.duckdb"), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    accounts = result.tables[0]
    assert accounts.quarantined_rows == REASONS_SHOWN + 5
    assert [r.first_row_number for r in accounts.reasons] == list(range(2, REASONS_SHOWN + 2))


def test_a_source_without_a_schema_quarantines_in_its_own_schema_and_says_so(crm: Path) -> None:
    """dbt reads a source without `schema:` (a hand-written one) from the schema named after the source."""
    models = crm / "models" / "_crm__sources.yml"
    models.write_text(SOURCES.replace("    schema: raw\n", ""), encoding="utf-8")
    db = crm / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    assert result.quarantines == ["crm._quarantine"]
    assert sum(rows for _, _, rows in _quarantined(db, "crm")) == result.quarantined_rows == 5


def test_reingesting_replaces_rather_than_appends(crm: Path) -> None:
    db = crm / "w.duckdb"
    for run in ("run-1", "run-2"):
        result = ingest(File(db), load_specs(parsed(crm)), crm / "raw", run, progress=lambda _: None)
    assert result.loaded_rows == 3
    assert sum(rows for _, _, rows in _quarantined(db)) == 5


def test_a_missing_file_is_named_and_nothing_is_written(crm: Path) -> None:
    (crm / "raw" / "events.jsonl").unlink()
    with pytest.raises(PipelineError, match=r"events\.jsonl not found"):
        ingest(File(crm / "w.duckdb"), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    assert not (crm / "w.duckdb").exists()


def test_a_bad_file_rolls_back_every_table_of_the_load(crm: Path) -> None:
    """The bad file is the LAST table loaded: every table before it was already replaced when it failed."""
    db = crm / "w.duckdb"
    ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        before = [con.execute(f"select * from raw.{t} order by all").fetchall() for t in ("accounts", "_quarantine")]
    (crm / "raw" / "accounts.csv").write_text(
        "account_id,opened_at,balance\n9,2025-02-01 00:00:00,1\nbad,2025-02-01 00:00:00,1\n", encoding="utf-8"
    )
    (crm / "raw" / "events.jsonl").write_text("\n", encoding="utf-8")  # no data rows: stops the ingest
    assert [spec.raw_file for spec in load_specs(parsed(crm))][-1] == "events.jsonl"
    with pytest.raises(PipelineError, match=r"events\.jsonl has no data rows"):
        ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-2", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        after = [con.execute(f"select * from raw.{t} order by all").fetchall() for t in ("accounts", "_quarantine")]
    assert after == before


def test_a_file_lacking_a_declared_column_is_named(crm: Path) -> None:
    (crm / "raw" / "accounts.csv").write_text("account_id,balance\n10,1\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"accounts\.csv lacks the declared column\(s\) opened_at"):
        ingest(File(crm / "w.duckdb"), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None)


def test_a_data_type_that_is_not_a_plain_type_is_refused(crm: Path) -> None:
    """The declared type is spliced into SQL as a type: nothing else may pass."""
    path = crm / "models" / "_crm__sources.yml"
    path.write_text(SOURCES.replace('"numeric(12,2)"', '"integer); drop table x; --"'), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"is not a plain SQL type"):
        load_specs(parsed(crm))


def test_a_source_column_without_a_type_is_a_clear_error(crm: Path) -> None:
    path = crm / "models" / "_crm__sources.yml"
    path.write_text(SOURCES.replace("data_type: timestamp, ", ""), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"needs a data_type on every column \(missing on: opened_at"):
        load_specs(parsed(crm))


def test_ingest_reads_the_sources_as_dbt_parses_them(tmp_path: Path) -> None:
    """A `.yaml` sources file in a subfolder, an `identifier:` and a disabled table: ingest follows dbt."""
    (tmp_path / "models" / "staging" / "erp").mkdir(parents=True)
    (tmp_path / "models" / "staging" / "erp" / "_erp__sources.yaml").write_text(
        """
sources:
  - name: erp
    tables:
      - name: invoices
        identifier: invoice_export_v2
        config: {meta: {raw_file: invoices.csv}}
        columns:
          - {name: invoice_id, data_type: integer, data_tests: [not_null]}
      - name: retired
        config: {enabled: false, meta: {raw_file: retired.csv}}
        columns:
          - {name: x, data_type: integer}
""",
        encoding="utf-8",
    )
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "invoices.csv").write_text("invoice_id\n1\n2\n", encoding="utf-8")
    specs = load_specs(parsed(tmp_path))
    assert [(s.source, s.schema, s.name, s.table) for s in specs] == [("erp", "erp", "invoices", "invoice_export_v2")]
    assert specs[0].columns[0].required
    db = tmp_path / "w.duckdb"
    ingest(File(db), specs, tmp_path / "raw", "run-1", progress=lambda _: None)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from erp.invoice_export_v2").fetchone() == (2,)
