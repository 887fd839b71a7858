"""The warehouse seam: one way to the warehouse, picked by the target's adapter type, with one error type."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.package_name }} import config, warehouses
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.warehouses import AUDIT, IngestRecord, LocalRows, MissingRelation, WarehouseError
from {{ cookiecutter.package_name }}.warehouses import duckdb as duckdb_warehouse
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

PACKAGE_DIR = Path(warehouses.__file__).parents[1]
# Modules that use DuckDB as an in-process engine, never as the warehouse (each docstring says so), and the
# dbt-duckdb plugin profiles.yml loads.
LOCAL_ENGINE = {"ingest.py", "generate.py", "add_source.py", "sql.py", "pii.py", "pii_plugin.py"}


def _imports_duckdb(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "duckdb" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "duckdb" and not node.level:
            return True
    return False


def test_only_the_seam_and_the_local_engine_modules_import_duckdb() -> None:
    """A module outside `warehouses/` that opened the warehouse with DuckDB would bypass the seam."""
    found = {path.relative_to(PACKAGE_DIR).as_posix() for path in PACKAGE_DIR.rglob("*.py") if _imports_duckdb(path)}
    assert "warehouses/duckdb.py" in found
    assert sorted(path for path in found - LOCAL_ENGINE if not path.startswith("warehouses/")) == []


def _project(tmp_path: Path, kind: str) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n", encoding="utf-8")
    (tmp_path / "profiles.yml").write_text(f"p:\n  outputs:\n    ci:\n      type: {kind}\n", encoding="utf-8")
    return tmp_path


@pytest.mark.duckdb
def test_the_target_adapter_type_picks_the_implementation(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    warehouse = warehouses.for_settings(settings)
    assert (warehouse.type, type(warehouse)) == ("duckdb", duckdb_warehouse.Warehouse)


def test_an_adapter_type_without_an_implementation_is_named_in_one_sentence(tmp_path: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(_project(tmp_path, "oracle"))})
    with pytest.raises(PipelineError, match="names the dbt adapter type 'oracle', which this pipeline has no"):
        warehouses.for_settings(settings)


def test_a_schema_per_instance_warehouse_keeps_the_instance_s_schemas_and_publishes_the_audit_ones() -> None:
    """The rules Postgres, Spark and the cloud warehouses share: what is outside an instance, where audit publishes."""
    audit, raw, name = "dev__main__audit", "dev__main__raw", "dev__main"
    relations = [warehouses.Relation(schema, "t") for schema in (audit, f"{audit}_marts", raw, "prod", "dev__mainx")]
    assert warehouses.outside_schemas(relations, audit, raw) == relations[3:]
    assert warehouses.published_schema(audit, audit, name) == name
    assert warehouses.published_schema(f"{audit}_marts", audit, name) == "dev__main_marts"
    assert warehouses.published_schema("prod", audit, name) == "prod"


def test_a_missing_relation_is_the_seams_error_not_duckdbs(tmp_path: Path) -> None:
    with File(tmp_path / "w.duckdb").session() as session:
        with pytest.raises(MissingRelation) as missing:
            session.query("select count(*) from main.absent")
        assert not isinstance(missing.value, duckdb.Error)
        with pytest.raises(WarehouseError):
            session.query("select nonsense(")
        assert session.tables("main") == []
        session.execute("create table main.t as select 1 as x, 'a' as y")
        assert session.tables("main") == ["t"]
        assert session.describe("main", "t") == [("x", "INTEGER"), ("y", "VARCHAR")]
        assert session.query_with_names("select x, y from main.t where x = ?", [1]) == (["x", "y"], [(1, "a")])


def _record(run_id: str) -> IngestRecord:
    return IngestRecord("raw", "t", "t", "t.csv", "a" * 64, "spec", run_id)


def _rows(count: int) -> LocalRows:
    return LocalRows("select range as x, now()::timestamp as _loaded_at from range(?)", [count])


def _quarantine(run_id: str) -> LocalRows:
    return LocalRows("select ?, 't', 't.csv', 2, 'bad', '{}', now()::timestamp", [run_id])


def test_a_load_writes_table_quarantine_and_state_together_or_not_at_all(tmp_path: Path) -> None:
    target = File(tmp_path / "w.duckdb")
    with target.raw_loader(["raw"], memory_limit="64MB") as loader:
        counts = loader.load_raw(
            _record("r1"),
            _rows(3),
            _quarantine("r1"),
        )
        assert counts == (3, 1)
    with pytest.raises(RuntimeError), target.raw_loader(["raw"], memory_limit="64MB") as loader:
        loader.load_raw(
            _record("r2"),
            _rows(5),
            _quarantine("r2"),
        )
        raise RuntimeError  # e.g. the next table's file fails: nothing of this ingest stays
    with target.session(read_only=True) as session:
        assert session.query("select count(*) from raw.t") == [(3,)]
        assert session.query("select run_id, loaded_rows, quarantined_rows from raw._ingest_state") == [("r1", 3, 1)]
    with target.raw_loader(["raw"], memory_limit="64MB") as loader:
        kept = loader.reusable(_record("r3"))
        assert kept == warehouses.Kept("r1", 3, 1)
        assert loader.reusable(IngestRecord("raw", "t", "t", "t.csv", "b" * 64, "spec", "r3")) is None
        loader.touch("raw", "t", datetime(2026, 1, 1))
        loader.engine.execute("delete from raw.t where x = 0")  # a table changed since its load is not kept
        assert loader.reusable(_record("r3")) is None


@pytest.mark.duckdb
def test_the_published_location_is_read_through_a_read_only_session(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    warehouse = warehouses.for_settings(settings)
    with pytest.raises(MissingRelation, match="does not exist yet"), warehouse.session(AUDIT, read_only=True):
        pass
    assert warehouse.create() is True
    assert warehouse.create() is False
    assert warehouse.snapshot() == {}
    assert [instance.name for instance in warehouses.list_instances(project)] == ["ci"]
    assert warehouse.drop() is True
