"""Paths are values, never SQL: the pipeline runs in any folder, and a crafted path stays a path."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import cli, copy_project
from {{ cookiecutter.package_name }}.publish import snapshot

pytestmark = pytest.mark.integration


def _tables(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}


def test_the_pipeline_runs_in_a_quoted_non_ascii_path_and_a_crafted_database_path_stays_a_path(
    tmp_path: Path,
) -> None:
    root = tmp_path / "o'brien \"data\" é"
    project = copy_project(root / "project")
    # What once closed the quote of `attach '<path>' as published` and ran its own statement.
    crafted = root / "shared" / "prod' as published; create table injected as select 42 as i; attach 'x.duckdb"
    crafted.parent.mkdir()
    raw = project / "data" / "raw" / "sample"
    out = cli(project, "run", "--env", "staging", DBT_DUCKDB_PATH=str(crafted), RAW_DATA_DIR=str(raw))
    assert f"relation(s) to {crafted.name}" in out
    assert crafted.is_file()  # the path is the file's name, quotes and all
    published = snapshot(crafted)
    assert published["main.fct_orders"]
    audit = next(crafted.parent.glob("*__audit.duckdb"))  # dbt's database: a safe name beside the crafted one
    assert "injected" not in _tables(crafted) | _tables(audit)
    assert sorted(p.name for p in crafted.parent.iterdir() if p.suffix == ".duckdb") == sorted(
        [crafted.name, audit.name]
    )
