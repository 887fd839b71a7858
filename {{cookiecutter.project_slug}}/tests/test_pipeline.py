"""End to end: the committed sample through ingest, dbt build and report on a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import cli as run
from {{ cookiecutter.package_name }} import cli

pytestmark = pytest.mark.integration


def test_the_value_pipeline_lands_every_valid_row_in_the_marts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--env", "ci"]) == 0
    out = capsys.readouterr().out
    assert "Run summary (ci): PUBLISHED" in out

    files = json.loads((project / "data" / "raw" / "sample" / "manifest.json").read_text(encoding="utf-8"))["files"]
    # Not read_only: dbt-duckdb still holds its connection to the audit file in this process.
    with duckdb.connect(str(project / "warehouse" / "ci.duckdb")) as published:
        counts = {
            table: published.execute(f"select count(*) from main.{table}").fetchone()
            for table in ("fct_orders", "dim_customers")
        }
        revenue = published.execute(
            "select sum(net_amount) = sum(paid_amount) from main.fct_orders where status <> 'cancelled'"
        )
        assert revenue.fetchone() == (True,)
    with duckdb.connect(str(project / "warehouse" / "ci__audit.duckdb")) as audit:
        quarantined = audit.execute("select count(*) from raw._quarantine").fetchone()
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


def test_two_identical_runs_leave_the_published_database_its_size(project: Path) -> None:
    """The consumers' file is written new at each publish: replaced tables leave no free blocks behind."""
    published = project / "warehouse" / "ci.duckdb"
    run(project, "run", "--env", "ci")  # each run its own process: dbt-duckdb keeps its connection open in one
    first = published.stat().st_size
    assert "Run summary (ci): PUBLISHED" in run(project, "run", "--env", "ci")
    assert abs(published.stat().st_size - first) <= 0.05 * first, (first, published.stat().st_size)
