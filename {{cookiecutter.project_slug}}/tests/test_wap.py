"""Write-audit-publish under injected faults: consumers' tables never change unless a run passes.

Production is built once from the sample. Each fault then runs the pipeline on *different*
data (a larger generated sample), so a leak into the published tables would show; the
published tables must be unchanged, row for row. A good run afterwards must succeed and
give the same tables, and again on a second run (idempotent). Publishing swaps in a new file,
so a run killed mid-publish leaves the old file untouched and its half-written copy is cleared
by the next publish. The last test runs the pipeline in a folder whose name holds quotes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import cli, copy_project
from {{ cookiecutter.package_name }} import config, warehouses
from {{ cookiecutter.package_name }}.warehouses import duckdb as duckdb_warehouse

pytestmark = pytest.mark.integration
# The suffix of the copy Spark's publish writes beside a published table before renaming it in its place.
PUBLISHING = "__publishing"


@dataclass(frozen=True)
class Production:
    project: Path
    database: Path
    good: dict[str, str]  # the environment of a good production run
    other_data: Path  # valid raw files that differ from the sample
    published: dict[str, list[tuple[object, ...]]]

    def published_tables(self) -> dict[str, list[tuple[object, ...]]]:
        """What consumers read: every published table with its rows, through the seam (any warehouse)."""
        return published_tables(self.project, self.good)


def published_tables(project: Path, environ: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Every table of prod's published location, rows sorted, as the warehouse of the project's profile keeps it."""
    settings = config.resolve("prod", environ={**environ, "DBT_PROJECT_DIR": str(project)})
    return warehouses.for_settings(settings).snapshot()


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    root = tmp_path_factory.mktemp("wap")
    project = copy_project(root / "project")
    database = root / "prod.duckdb"
    good = {"DBT_DUCKDB_PATH": str(database), "RAW_DATA_DIR": str(project / "data" / "raw" / "sample")}
    out = cli(project, "run", "--env", "prod", env=good)
    assert "published" in out
    other = root / "other"
    cli(project, "generate", "--scale", "0.02", "--out", str(other))
    published = published_tables(project, good)
    assert published and all(published.values())
    yield Production(project, database, good, other, published)


def _faulty(production: Production, *args: str, expect: int = 1, **environ: str) -> str:
    env = {**production.good, "RAW_DATA_DIR": str(production.other_data), **environ}
    return cli(production.project, "run", "--env", "prod", *args, expect=expect, env=env)


def _recovers(production: Production) -> None:
    # Nothing leaked into a published table. Spark publishes table by table through a `<table>__publishing` copy,
    # which a killed run can leave beside them; the next publish replaces it (the last assertion).
    staged = {k: v for k, v in production.published_tables().items() if not k.endswith(PUBLISHING)}
    assert staged == production.published
    cli(production.project, "run", "--env", "prod", env=production.good)
    assert production.published_tables() == production.published


def test_a_failing_error_level_test_publishes_nothing(production: Production) -> None:
    fault = production.project / "data_tests" / "assert_injected_fault.sql"
    fault.write_text("select * from {% raw %}{{ ref('fct_orders') }}{% endraw %}\n", encoding="utf-8")
    try:
        out = _faulty(production)
    finally:
        fault.unlink()
    assert "not published: 1 error-level check(s) failed" in out
    assert "assert_injected_fault" in out
    _recovers(production)


def test_a_model_that_crashes_mid_build_publishes_nothing(production: Production) -> None:
    fault = production.project / "models" / "marts" / "fct_injected_crash.sql"
    # A column the source lacks: every warehouse stops there (a failing cast would not: dbt-spark turns ANSI off).
    fault.write_text("select no_such_column as crash from {% raw %}{{ ref('fct_orders') }}{% endraw %}\n", encoding="utf-8")
    try:
        out = _faulty(production)
    finally:
        fault.unlink()
    assert "[build] fct_injected_crash" in out
    _recovers(production)


def test_a_process_killed_during_publish_leaves_the_old_tables(production: Production) -> None:
    out = _faulty(production, expect=-9, PIPELINE_FAULT="kill-during-publish")
    assert "==> publish" in out
    _recovers(production)
    assert not list(production.database.parent.glob("*.publishing*"))  # the killed run's copy is gone


def test_a_malformed_raw_file_publishes_nothing(production: Production) -> None:
    broken = production.other_data.parent / "broken"
    shutil.copytree(production.other_data, broken, dirs_exist_ok=True)
    (broken / "products.csv").write_text("product_id,sku\n1,SKU-1\n", encoding="utf-8")
    out = _faulty(production, RAW_DATA_DIR=str(broken))
    assert "error: step 'ingest' failed: products.csv lacks the declared column(s)" in out
    _recovers(production)


def test_a_missing_required_setting_publishes_nothing_and_reruns_are_idempotent(production: Production) -> None:
    env = {"DBT_DUCKDB_PATH": production.good["DBT_DUCKDB_PATH"]}
    out = cli(production.project, "run", "--env", "prod", expect=1, env=env)
    assert "environment 'prod' needs RAW_DATA_DIR" in out
    _recovers(production)
    cli(production.project, "run", "--env", "prod", env=production.good)  # once more: same tables
    assert production.published_tables() == production.published


# Paths are values, never SQL: the pipeline runs in any folder, and a crafted path stays a path.
def _tables(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}


@pytest.mark.duckdb
def test_the_pipeline_runs_in_a_quoted_non_ascii_path_and_a_crafted_database_path_stays_a_path(
    tmp_path: Path,
) -> None:
    root = tmp_path / 'o\'brien "data" é'
    project = copy_project(root / "project")
    # What once closed the quote of `attach '<path>' as published` and ran its own statement.
    crafted = root / "shared" / "prod' as published; create table injected as select 42 as i; attach 'x.duckdb"
    crafted.parent.mkdir()
    raw = project / "data" / "raw" / "sample"
    # --scale: the generator writes its Parquet files under the quoted folder too.
    # Staging needs its own PII key; this one holds a quote too, and it only ever travels as a bound value.
    key = "staging-key-with-a-quote-' " + "k" * 32
    env = {"DBT_DUCKDB_PATH": str(crafted), "RAW_DATA_DIR": str(raw), "PII_HASH_KEY": key}
    out = cli(project, "run", "--env", "staging", "--scale", "0.02", env=env)
    assert f"relation(s) to {crafted.name}" in out
    assert crafted.is_file()  # the path is the file's name, quotes and all
    published = duckdb_warehouse.snapshot(crafted)
    assert published["main.fct_orders"]
    audit = next(crafted.parent.glob("*__audit.duckdb"))  # dbt's database: a safe name beside the crafted one
    assert "injected" not in _tables(crafted) | _tables(audit)
    assert sorted(p.name for p in crafted.parent.iterdir() if p.suffix == ".duckdb") == sorted(
        [crafted.name, audit.name]
    )
