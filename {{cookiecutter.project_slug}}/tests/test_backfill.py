"""Backfill: a date range of the microbatch model is reprocessed, idempotently, and only that range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, copy_project, dbt_schema, warehouse_of
from {{ cookiecutter.package_name }}.warehouses import AUDIT, PUBLISHED, Location, Warehouse

pytestmark = pytest.mark.integration

MODEL = "fct_daily_revenue"


def _rows(warehouse: Warehouse, location: Location, schema: str, where: str = "true") -> list[tuple[object, ...]]:
    """The rows of the microbatch model (in dbt's `schema`) in `location` of `warehouse`, sorted by every column."""
    with warehouse.session(location) as session:
        relation = session.relation(schema, MODEL)
        rows = session.query(f"select * from {relation} where {where}")
    return sorted((tuple(row) for row in rows), key=lambda row: [repr(v) for v in row])


def test_a_backfill_reprocesses_its_range_only_and_twice_is_the_same_as_once(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    cli(project, "run", "--env", "ci")
    warehouse, schema = warehouse_of(project), dbt_schema(project, "ci", MODEL)
    before = _rows(warehouse, PUBLISHED, schema)
    assert before
    # Damage every month in the audit copy, as a late correction upstream would.
    with warehouse.session(AUDIT) as session:
        session.execute(f"update {session.relation(schema, MODEL)} set order_count = order_count + 1000")

    out = cli(project, "backfill", "--env", "ci", "--start", "2025-03-01", "--end", "2025-04-01")
    assert "published 1 relation(s)" in out
    results = json.loads((project / "target" / "ci" / "run_results.json").read_text(encoding="utf-8"))["results"]
    assert {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")} == {MODEL}
    march = "order_date >= date '2025-03-01' and order_date < date '2025-04-01'"
    assert _rows(warehouse, PUBLISHED, schema, march) == [row for row in before if str(row[0]).startswith("2025-03")]
    # The damage outside the range stays, on both sides: neither --start nor --end is ignored.
    for outside in ("order_date < date '2025-03-01'", "order_date >= date '2025-04-01'"):
        rows = _rows(warehouse, PUBLISHED, schema, outside)
        assert rows, outside
        assert all(int(str(row[2])) > 1000 for row in rows), outside

    again = cli(project, "backfill", "--env", "ci", "--start", "2025-03-01", "--end", "2025-04-01")
    assert "published 1 relation(s)" in again
    assert _rows(warehouse, PUBLISHED, schema, march) == [row for row in before if str(row[0]).startswith("2025-03")]


def test_a_backfill_range_must_be_a_real_range(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    out = cli(project, "backfill", "--start", "2025-04-01", "--end", "2025-03-01", expect=1)
    assert "--start 2025-04-01 must be before --end 2025-03-01" in out
    out = cli(project, "backfill", "--start", "March", "--end", "2025-03-01", expect=2)
    assert "'March' is not a date" in out
