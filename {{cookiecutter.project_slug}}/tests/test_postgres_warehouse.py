"""The Postgres warehouse behind the seam: instances as schemas, COPY loads, publish in one transaction, quoting."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from conftest import connect
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.warehouses import (
    AUDIT,
    KILL_DURING_PUBLISH,
    PUBLISHED,
    IngestRecord,
    LocalRows,
    MissingRelation,
    Relation,
    WarehouseError,
)
from {{ cookiecutter.package_name }}.warehouses import postgres as pg
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server

ODD = 'o"dd sch%ema ?'  # a quote, a space, a percent sign and a question mark: quoting and placeholders at once


@pytest.fixture
def on_server(postgres: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The session's server, named to libpq by the PG* variables as the pipeline finds it."""
    for name, value in postgres.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    return postgres


def settings(tmp_path: Path, name: str, env: str = "ci", **changes: object) -> Settings:
    values: dict[str, object] = {
        "env": env, "name": name, "project_dir": tmp_path, "duckdb_path": tmp_path / f"{name}.duckdb",
        "raw_dir": tmp_path, "threads": 1,
    }  # fmt: skip
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def warehouse(on_server: Server, schema: str, tmp_path: Path) -> Iterator[pg.Warehouse]:
    """A ci instance of this test's own name on the server, created; dropped afterwards by `schema`."""
    made = pg.Warehouse(settings(tmp_path, schema))
    assert made.create()
    yield made


def record(schema: str, table: str = "orders", run_id: str = "r1") -> IngestRecord:
    return IngestRecord(schema, table, table, f"{table}.csv", "sha", "spec", run_id)


ROWS = LocalRows(
    "select * from (values (1, 'a', 2.50::decimal(12,2), timestamp '2025-01-02 03:04:05', true), "
    "(2, '', null, null, false), (3, null, 1.00, null, null)) as t(order_id, note, amount, ordered_at, is_paid)"
)
QUARANTINE = LocalRows(
    "select 'r1', 'orders', 'orders.csv', 7::bigint, 'bad', '{\"x\": 1}', timestamp '2025-01-01 00:00:00'"
)


def test_an_instance_is_three_schemas_created_listed_and_dropped(warehouse: pg.Warehouse) -> None:
    """create() makes <name>__raw, <name>__audit and <name>; list_instances finds its owner; drop() removes all."""
    warehouse.record_owner()
    assert warehouse.exists(AUDIT) and warehouse.exists(PUBLISHED)
    assert warehouse.create() is False  # idempotent
    found = {instance.name: instance for instance in pg.list_instances(Path())}
    assert found[warehouse.name].env == "ci"
    assert warehouse.where() == f"schema {warehouse.name}"
    assert warehouse.drop() is True
    assert not warehouse.exists(PUBLISHED) and not warehouse.exists(AUDIT)
    assert warehouse.name not in {instance.name for instance in pg.list_instances(Path())}
    assert warehouse.drop() is False


def test_dbt_env_names_the_instance_schemas_and_passes_the_key_as_pgoptions(tmp_path: Path) -> None:
    """dbt builds in the audit schema and reads raw tables from <name>__raw; the mask key goes in PGOPTIONS."""
    ci = pg.Warehouse(settings(tmp_path, "ci_pr_7"))
    assert ci.dbt_env() == {
        "DBT_SCHEMA": "ci_pr_7__audit", "DBT_RAW_SCHEMA": "ci_pr_7__raw", "DBT_THREADS": "1",
        "PGOPTIONS": f"-c {pg.PII_SETTING}=dataops-public-dev-and-ci-pii-key",
    }  # fmt: skip
    assert "PGOPTIONS" not in pg.Warehouse(settings(tmp_path, "prod", env="prod")).dbt_env()  # prod: clear values


def test_ingest_loads_rows_quarantine_and_state_in_one_transaction(warehouse: pg.Warehouse) -> None:
    """Rows keep NULL apart from '' and their types; counts come back; a failed load leaves nothing behind."""
    raw = warehouse.raw
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        assert loader.reusable(record(raw)) is None
        unreadable = [("r1", "orders", "orders.csv", 9, "unreadable", "line", datetime(2025, 1, 1))]
        assert loader.load_raw(record(raw), ROWS, QUARANTINE, unreadable) == (3, 2)
    with warehouse.session() as session:
        rows = session.query(f"select * from {session.relation(raw, 'orders')} order by order_id")
        assert [row[1] for row in rows] == ["a", "", None]
        assert str(rows[0][2]) == "2.50" and rows[0][3] == datetime(2025, 1, 2, 3, 4, 5) and rows[0][4] is True
        assert ("amount", "numeric(12,2)") in session.describe(raw, "orders")
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        kept = loader.reusable(record(raw))
        assert kept is not None and (kept.loaded_rows, kept.quarantined_rows) == (3, 2)
    with pytest.raises(WarehouseError), warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        loader.load_raw(record(raw), LocalRows("select 1 as order_id"), QUARANTINE)
        loader.load_raw(record(raw, "payments"), LocalRows("select [1, 2] as a_list"), QUARANTINE)  # no such type
    with warehouse.session() as session:
        assert session.query(f"select count(*) from {session.relation(raw, 'orders')}") == [(3,)]
        assert "payments" not in session.tables(raw)


def build(warehouse: pg.Warehouse, tables: dict[str, int]) -> None:
    """Stand in for dbt: tables of the audit schema, each with `rows` rows of one column."""
    with warehouse.session() as session, session.transaction():
        for name, rows in tables.items():
            session.execute(f"drop table if exists {session.relation(warehouse.audit, name)}")
            session.execute(
                f"create table {session.relation(warehouse.audit, name)} as select generate_series(1, ?) as n", [rows]
            )


def published(warehouse: pg.Warehouse) -> dict[str, int]:
    return {key.split(".", 1)[1]: len(rows) for key, rows in warehouse.snapshot(PUBLISHED).items()}


def test_publish_swaps_every_table_or_none(warehouse: pg.Warehouse) -> None:
    """A publish that fails on its second table leaves consumers every previous table, unchanged."""
    build(warehouse, {"fct_a": 1, "fct_b": 1})
    warehouse.publish([Relation(warehouse.audit, "fct_a"), Relation(warehouse.audit, "fct_b")])
    assert published(warehouse) == {"fct_a": 1, "fct_b": 1}
    build(warehouse, {"fct_a": 5, "fct_b": 5})
    with pytest.raises(MissingRelation, match="publish failed, consumers still see the previous tables"):
        warehouse.publish([Relation(warehouse.audit, "fct_a"), Relation(warehouse.audit, "missing")])
    assert published(warehouse) == {"fct_a": 1, "fct_b": 1}
    warehouse.publish([Relation(warehouse.audit, "fct_a")])  # a slim run publishes a few: others stay
    assert published(warehouse) == {"fct_a": 5, "fct_b": 1}


def test_a_publish_killed_midway_leaves_the_previous_tables(warehouse: pg.Warehouse, tmp_path: Path) -> None:
    """SIGKILL after the first table is swapped (PIPELINE_FAULT's hard stop): the server rolls everything back."""
    build(warehouse, {"fct_a": 1, "fct_b": 1})
    warehouse.publish([Relation(warehouse.audit, "fct_a"), Relation(warehouse.audit, "fct_b")])
    build(warehouse, {"fct_a": 5, "fct_b": 5})
    script = textwrap.dedent(f"""
        from pathlib import Path
        from {pg.__name__.split(".")[0]}.config import Settings
        from {pg.__name__} import Warehouse
        from {pg.__name__.rsplit(".", 1)[0]} import Relation
        settings = Settings(env="ci", name={warehouse.name!r}, project_dir=Path("."), duckdb_path=Path("x.duckdb"),
                            raw_dir=Path("."), threads=1, fault={KILL_DURING_PUBLISH!r})
        Warehouse(settings).publish([Relation({warehouse.audit!r}, "fct_a"), Relation({warehouse.audit!r}, "fct_b")])
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, check=False)
    assert result.returncode == -9, result.stderr
    assert published(warehouse) == {"fct_a": 1, "fct_b": 1}


def test_odd_identifiers_are_quoted_and_placeholders_stay_out_of_quotes(warehouse: pg.Warehouse) -> None:
    """A schema and table named with a quote, space, % and ? load, digest and publish like plain ones."""
    with warehouse.raw_loader([ODD], memory_limit="256MB") as loader:
        assert loader.load_raw(record(ODD, ODD), ROWS, QUARANTINE) == (3, 0)  # QUARANTINE's rows are of orders
    with warehouse.session() as session:
        assert session.tables(ODD)[-1] == ODD
        text = session.query("select '?%' || ? || '?'", ["%s"])
        assert text == [("?%%s?",)]
        first, second = session.digest(ODD, ODD), session.digest(ODD, ODD, skip=["note"])
        assert first.startswith("3:") and first != second
        session.execute(f"drop schema {session.relation(ODD)} cascade")


def test_the_published_session_reads_audit_names_in_the_published_schema(warehouse: pg.Warehouse) -> None:
    """Relations dbt recorded in the audit schema resolve to the published schema in a published session."""
    build(warehouse, {"fct_a": 2})
    warehouse.publish([Relation(warehouse.audit, "fct_a")])
    build(warehouse, {"fct_a": 3})
    with warehouse.session(PUBLISHED, read_only=True) as session:
        assert session.query(f"select count(*) from {session.relation(warehouse.audit, 'fct_a')}") == [(2,)]
        assert session.tables(warehouse.audit) == ["fct_a"]
        with pytest.raises(WarehouseError, match="read-only"):
            session.execute(f"drop table {session.relation(warehouse.audit, 'fct_a')}")
    with pytest.raises(MissingRelation):
        pg.Warehouse(settings(Path(), warehouse.name + "_absent")).session(PUBLISHED, read_only=True).__enter__()


def test_production_is_the_prod_schema_when_slim_ci_asks_for_it(on_server: Server, schema: str, tmp_path: Path) -> None:
    """With a state dir and a `prod` schema, production relations are read from `prod` (no copy, same database)."""
    prod = pg.Warehouse(settings(tmp_path, "prod", env="prod"))
    existed = prod.exists()
    ci = pg.Warehouse(settings(tmp_path, schema, state_dir=tmp_path))
    ci.create()
    try:
        prod.create()
        assert ci.production() == "schema prod"
        assert pg.Warehouse(settings(tmp_path, schema)).production() is None  # no state dir: no comparison
        with ci.session() as session:
            assert session.production_relation(ci.audit, "fct_a") == '"prod"."fct_a"'
            assert session.production_relation("prod__audit", "fct_a", database="") == '"prod__audit"."fct_a"'
    finally:
        if not existed:
            prod.drop()


def test_an_unreachable_server_is_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing listens on the port: the error names the PG* variables to set, without a traceback of psycopg2."""
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "1")
    with pytest.raises(WarehouseError, match="set PGHOST, PGPORT"):
        pg.Warehouse(settings(tmp_path, "ci")).ensure_writable()


def test_placeholders_are_rewritten_outside_quotes_only() -> None:
    assert pg.placeholders("select ?, '?', \"a?\", 5 % 2 where x = ?") == "select %s, '?', \"a?\", 5 %% 2 where x = %s"


def test_a_connection_to_the_server_reads_the_pg_variables(on_server: Server) -> None:
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)


def test_a_reload_keeps_the_views_over_a_raw_table_whose_columns_stay(warehouse: pg.Warehouse) -> None:
    """dbt's staging views read the raw tables: a reload empties and refills a table with the same columns (the
    view stays); a table whose columns changed is replaced, with the views over it (dbt's build makes them again)."""
    raw, view = warehouse.raw, f"{warehouse.audit}.stg"
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        loader.load_raw(record(raw), ROWS, QUARANTINE)
    with warehouse.session() as session:
        session.execute(f"create view {session.relation(warehouse.audit, 'stg')} as "
                        f"select order_id from {session.relation(raw, 'orders')}")  # fmt: skip
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        assert loader.load_raw(record(raw, run_id="r2"), ROWS, QUARANTINE) == (3, 1)
    with warehouse.session() as session:
        assert session.query(f"select count(*) from {session.relation(warehouse.audit, 'stg')}") == [(3,)]
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        loader.load_raw(record(raw, run_id="r3"), LocalRows("select 1 as order_id, 'x' as added"), QUARANTINE)
    with warehouse.session() as session:
        assert session.tables(warehouse.audit) == [], view
