"""End to end: the committed sample through ingest, dbt build and report on the project's warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli as run_cli
from conftest import dbt_schema, raw_schema, warehouse_of
from {{ cookiecutter.package_name }} import cli, warehouses

pytestmark = pytest.mark.integration


def test_the_value_pipeline_lands_every_valid_row_in_the_marts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--env", "ci"]) == 0
    out = capsys.readouterr().out
    assert "Run summary (ci): PUBLISHED" in out

    files = json.loads((project / "data" / "raw" / "sample" / "manifest.json").read_text(encoding="utf-8"))["files"]
    warehouse = warehouse_of(project)
    marts = dbt_schema(project, "ci", "fct_orders")
    with warehouse.session(warehouses.PUBLISHED) as published:
        counts = {
            table: tuple(published.query(f"select count(*) from {published.relation(marts, table)}")[0])
            for table in ("fct_orders", "dim_customers")
        }
        revenue = published.query(
            f"select sum(net_amount) = sum(paid_amount) from {published.relation(marts, 'fct_orders')} "
            "where status <> 'cancelled'"
        )
        assert [tuple(row) for row in revenue] == [(True,)]
    with warehouse.session(warehouses.AUDIT) as audit:
        quarantine = audit.relation(raw_schema(project), "_quarantine")
        quarantined = tuple(audit.query(f"select count(*) from {quarantine}")[0])
    assert counts == {
        "fct_orders": (files["orders.parquet"]["valid_rows"],),
        "dim_customers": (files["customers.csv"]["valid_rows"],),
    }
    assert quarantined == (sum(entry["malformed_rows"] for entry in files.values()),)
    report = json.loads(next((project / "reports" / "ci").glob("*/report.json")).read_text(encoding="utf-8"))
    reconciled = [c for c in report["checks"] if c["name"].startswith("reconciliation ")]
    assert reconciled and all(c["status"] == "pass" and c["severity"] == "error" for c in reconciled)
    mart_line = next(line for line in out.splitlines() if "mart" in line and "fct_orders" in line)
    assert f"{files['orders.parquet']['valid_rows']:,} rows" in mart_line


def test_a_broken_raw_file_stops_the_run_before_dbt(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = project / "data" / "raw" / "sample"
    (sample / "products.csv").write_text("product_id,sku\n1,SKU-1\n", encoding="utf-8")
    assert cli.main(["run", "--env", "ci"]) == 1
    out = capsys.readouterr().out
    assert "error: step 'ingest' failed: products.csv lacks the declared column(s)" in out
    assert "==> build" not in out


def test_a_failing_data_test_fails_the_run_with_its_name(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "data_tests" / "assert_no_orders.sql").write_text(
        "select * from {% raw %}{{ ref('fct_orders') }}{% endraw %}\n", encoding="utf-8"
    )
    assert cli.main(["run", "--env", "ci"]) == 1
    assert "assert_no_orders" in capsys.readouterr().out


def test_dbt_unit_tests_run_without_real_data(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["unit-test", "--env", "ci"]) == 0
    manifest = json.loads((project / "target" / "ci" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["unit_tests"]) >= 2
    assert f"{len(manifest['unit_tests'])} unit tests passed" in capsys.readouterr().out


def test_a_second_identical_run_reuses_every_raw_file(project: Path) -> None:
    """Unchanged raw files are not loaded again, on any warehouse; `--reload` loads them all.

    The summary lists the same quarantine reasons either way (a reused load's are read back from the quarantine).
    """
    first = run_cli(project, "run", "--env", "ci")
    files = json.loads((project / "data" / "raw" / "sample" / "manifest.json").read_text(encoding="utf-8"))["files"]
    out = run_cli(project, "ingest", "--env", "ci")
    assert out.count("reused (unchanged since run ") == len(files), out
    again = run_cli(project, "run", "--env", "ci")
    assert "PUBLISHED" in again
    reasons = [[line for line in out.splitlines() if " rows from row " in line or " row from row " in line]
               for out in (first, again)]  # fmt: skip
    assert reasons[0] and reasons[0] == reasons[1]
    out = run_cli(project, "ingest", "--env", "ci", "--reload")
    assert "reused" not in out


# DuckDB only: about the sizes of DuckDB's own database files (a server keeps no file per instance).
@pytest.mark.duckdb
def test_a_second_identical_run_grows_neither_database_file(project: Path) -> None:
    """A reuse writes only stamps into the audit file, and the consumers' file is written anew, not patched."""
    warehouse = project / "warehouse"
    audit, published = warehouse / "ci__audit.duckdb", warehouse / "ci.duckdb"
    run_cli(project, "run", "--env", "ci")
    first = {path: path.stat().st_size for path in (audit, published)}
    files = json.loads((project / "data" / "raw" / "sample" / "manifest.json").read_text(encoding="utf-8"))["files"]
    out = run_cli(project, "ingest", "--env", "ci")
    assert out.count("reused (unchanged since run ") == len(files), out
    assert audit.stat().st_size <= first[audit] * 1.05  # a reuse writes only the `_loaded_at` stamps
    out = run_cli(project, "run", "--env", "ci")
    assert "PUBLISHED" in out
    assert abs(published.stat().st_size - first[published]) <= first[published] * 0.05
