"""The Postgres warehouse behind the seam: instances as schemas, COPY loads, publish in one transaction, quoting."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from conftest import connect
from {{ cookiecutter.package_name }} import config, history
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.warehouses import (
    AUDIT,
    KILL_DURING_PUBLISH,
    PUBLISHED,
    IngestRecord,
    InUse,
    LocalRows,
    MissingRelation,
    Relation,
    WarehouseError,
)
from {{ cookiecutter.package_name }}.warehouses import postgres as pg
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server

PROJECT_DIR = Path(__file__).resolve().parents[1]
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


def test_env_list_gives_an_instance_the_size_of_its_three_schemas(warehouse: pg.Warehouse, on_server: Server) -> None:
    """`env list` sizes: pg_total_relation_size summed over <name>, <name>__audit and <name>__raw (was 0)."""
    with warehouse.raw_loader([warehouse.raw], memory_limit="256MB") as loader:
        loader.load_raw(record(warehouse.raw), ROWS, QUARANTINE)
    build(warehouse, {"fct_a": 1000})
    warehouse.publish([Relation(warehouse.audit, "fct_a")])
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select sum(pg_total_relation_size((quote_ident(schemaname) || '.' || quote_ident(tablename))::regclass)) "
            "from pg_tables "
            "where schemaname in (%s, %s, %s)",
            [warehouse.name, warehouse.audit, warehouse.raw],
        )
        ((expected,),) = cursor.fetchall()
    found = {instance.name: instance for instance in pg.list_instances(Path())}
    assert expected > 0
    assert found[warehouse.name].size_bytes == expected


@pytest.mark.parametrize("foreign", ["", "__raw", "__audit"])
def test_schemas_this_pipeline_did_not_make_are_never_taken_over_or_dropped(
    on_server: Server, schema: str, tmp_path: Path, foreign: str
) -> None:
    """A branch or PIPELINE_INSTANCE named like someone's schema (`public`, another instance's `x__raw`) is refused:
    run (record_owner), env create and env drop leave that schema and its table as they were."""
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f'create schema "{schema}{foreign}"')
        cursor.execute(f'create table "{schema}{foreign}".precious as select 1 as mine')
    warehouse = pg.Warehouse(settings(tmp_path, schema))
    for step in (warehouse.record_owner, warehouse.create, warehouse.drop):
        with pytest.raises(WarehouseError, match=rf"schema {schema}{foreign} exists on this server but was not made"):
            step()
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f'select mine from "{schema}{foreign}".precious')
        assert cursor.fetchall() == [(1,)]
        cursor.execute("select count(*) from pg_namespace where starts_with(nspname, %s)", [schema])
        assert cursor.fetchall() == [(1,)]  # nothing else was made beside it


def test_an_instance_of_another_project_on_the_same_database_is_neither_listed_nor_taken_nor_dropped(
    warehouse: pg.Warehouse, on_server: Server, schema: str, tmp_path: Path
) -> None:
    """Two projects on one database name their instances alike (`dev__main`): the owner record names the project, and
    this project's run (record_owner), env create and env drop refuse the other's instance, which env list omits."""
    warehouse.record_owner()
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f'create table "{schema}".precious as select 1 as mine')
        other = json.dumps({"instance": schema, "env": "ci", "owner": "?", "project": "orders_platform"})
        cursor.execute(f'comment on schema "{schema}" is %s', [other])
    assert schema not in [instance.name for instance in pg.list_instances(tmp_path)]
    for step in (warehouse.record_owner, warehouse.create, warehouse.drop):
        with pytest.raises(WarehouseError, match=rf"instance {schema} in this database belongs to the project orders_"):
            step()
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f'select mine from "{schema}".precious')
        assert cursor.fetchall() == [(1,)]
    # A record naming this project (or none, as records had before they named it) is this project's.
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        ours = json.dumps({"instance": schema, "env": "ci", "owner": "?", "project": pg.PROJECT})
        cursor.execute(f'comment on schema "{schema}" is %s', [ours])
    assert schema in [instance.name for instance in pg.list_instances(tmp_path)]
    assert warehouse.drop()


def test_drop_refuses_while_objects_of_other_schemas_depend_on_the_instance_and_drops_nothing(
    warehouse: pg.Warehouse, on_server: Server, schema: str
) -> None:
    """`env drop` is `drop schema ... cascade` of the instance's three schemas, which would also drop a consumer's
    view, materialized view, foreign key, function, column default or column type in another schema: refused,
    naming each, with nothing dropped; once they are gone, the drop goes ahead."""
    consumer = f"{schema}_consumer"
    build(warehouse, {"fct_a": 10})
    warehouse.publish([Relation(warehouse.audit, "fct_a")])
    fct = f"{warehouse.name}.fct_a"  # the test's names need no quotes
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"create sequence {warehouse.raw}.ids")
        cursor.execute(f"create table {fct}_keys as select distinct n as id from {fct}")
        cursor.execute(f"alter table {fct}_keys add primary key (id)")
        for statement in (
            f"create schema {consumer}",
            f"create view {consumer}.v as select * from {fct}",
            f"create materialized view {consumer}.mv as select * from {warehouse.audit}.fct_a",
            f"create table {consumer}.fk (id int references {fct}_keys (id))",
            f"create function {consumer}.f() returns setof {fct} language sql as 'select * from {fct}'",
            f"create table {consumer}.d (id bigint default nextval('\"{warehouse.raw}\".ids'))",
            f"create table {consumer}.c (r {fct})",
        ):
            cursor.execute(statement)
    expected = [f"function {consumer}.f()", f"materialized view {consumer}.mv", f"table {consumer}.c",
                f"table {consumer}.d", f"table {consumer}.fk", f"view {consumer}.v"]  # fmt: skip
    with pytest.raises(WarehouseError) as refused:
        warehouse.drop()
    assert str(refused.value) == (
        f"refusing to drop instance {warehouse.name}: {', '.join(expected)} outside its schemas depend on its tables "
        "and would be dropped with them; drop them (or point them elsewhere) first, then run again; nothing was "
        "dropped."
    )
    assert warehouse.exists(PUBLISHED) and warehouse.exists(AUDIT)
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f"select count(*) from {consumer}.v")
        assert cursor.fetchall() == [(10,)]
        cursor.execute("select count(*) from pg_class where relnamespace = %s::regnamespace", [consumer])
        assert cursor.fetchall() == [(5,)]  # v, mv, fk, d and c
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"drop schema {consumer} cascade")
    assert warehouse.drop() is True
    assert not warehouse.exists(PUBLISHED) and not warehouse.exists(AUDIT)


def test_every_instance_keeps_its_own_run_history_and_drop_removes_it(
    on_server: Server, warehouse: pg.Warehouse, schema: str, tmp_path: Path
) -> None:
    """Trend checks judge a run against its own instance's runs: a new branch starts with no history, not main's."""
    other = pg.Warehouse(settings(tmp_path, f"{schema}_other"))
    other.create()
    with warehouse.session() as session:
        history.append(session, run_id="r1", started_at="2026-01-01T00:00:00Z", status="published", seconds=1.5,
                       metrics={"rows:fct_orders": 10.0})  # fmt: skip
        assert [run["run_id"] for run in history.load(session)] == ["r1"]
        assert "run_history" in session.tables(history.SCHEMA)
    with other.session() as session:
        assert history.load(session) == []
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_namespace where nspname = 'pipeline'")
        assert cursor.fetchall() == [(0,)]  # no schema shared by every instance
    assert warehouse.drop()
    warehouse.create()
    with warehouse.session() as session:
        assert history.load(session) == []


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
        assert ci.production() == "schema prod__audit"  # what dbt defers to: production's build
        assert pg.Warehouse(settings(tmp_path, schema)).production() is None  # no state dir: no comparison
        with ci.session() as session:
            assert session.production_relation(ci.audit, "fct_a") == '"prod"."fct_a"'
            assert session.production_relation("prod__audit", "fct_a", database="") == '"prod__audit"."fct_a"'
    finally:
        if not existed:
            prod.drop()


PG_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


@pytest.mark.parametrize(
    ("setting", "value", "fix"),
    [("PGPORT", "1", "nothing accepts connections at 127.0.0.1:1; start the server, or set PGPORT"),
     ("PGDATABASE", "no_such_db", "has no database no_such_db; set PGDATABASE"),
     ("PGUSER", "no_such_role", "has no role no_such_role; set PGUSER")],
)  # fmt: skip
def test_each_connection_fault_on_a_real_server_names_the_one_variable_to_change(
    on_server: Server, monkeypatch: pytest.MonkeyPatch, setting: str, value: str, fix: str
) -> None:
    """A wrong port, database or role: one sentence naming that variable only, not "cannot reach" and all five."""
    monkeypatch.setenv(setting, value)
    with pytest.raises(WarehouseError) as error:
        pg.Warehouse(settings(Path(), "ci")).ensure_writable()
    message = str(error.value)
    assert fix in message and "\n" not in message
    assert [var for var in PG_VARIABLES if var in message] == [setting]


# libpq's own texts for the faults a test server cannot stage (it trusts every local connection).
LIBPQ_TEXTS = {
    "PGPASSWORD": 'connection to server at "db", port 5432 failed: '
    'FATAL:  password authentication failed for user "ann"',
    "PGPASSWORD ": 'connection to server at "db", port 5432 failed: fe_sendauth: no password supplied',
    "PGHOST": 'could not translate host name "dbx" to address: Name or service not known',
    "PGHOST ": 'connection to server at "db" (10.0.0.9), port 5432 failed: timeout expired',
}


@pytest.mark.parametrize("setting", list(LIBPQ_TEXTS))
def test_a_refused_password_or_an_unknown_host_names_the_one_variable(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """psycopg2 gives connection failures no SQLSTATE: libpq's text decides, and the sentence names one variable."""
    monkeypatch.setenv("PGUSER", "ann")

    def refuse(dsn: str, **kwargs: object) -> object:
        raise psycopg2.OperationalError(LIBPQ_TEXTS[setting] + "\n")

    monkeypatch.setattr(psycopg2, "connect", refuse)
    with pytest.raises(WarehouseError) as error:
        pg.connect()
    message = str(error.value)
    assert f"set {setting.strip()} " in message and "cannot reach" not in message
    # A refused password is also what a server says of a role it does not have (PGUSER=nobody): both are named.
    named = ["PGUSER", "PGPASSWORD"] if setting == "PGPASSWORD" else [setting.strip()]
    assert [var for var in PG_VARIABLES if var in message] == named


def test_staging_and_prod_need_no_pgpassword_as_libpq_finds_it_or_the_server_asks_none(
    on_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trust auth or ~/.pgpass: PGPASSWORD unset is no error; profiles.yml must not demand it either."""
    for env in ("staging", "prod"):
        needed = config.profile_variables(PROJECT_DIR, env)
        assert "PGHOST" in needed and "PGPASSWORD" not in needed
    monkeypatch.delenv("PGPASSWORD")
    pg.connect().close()  # the test server trusts local connections: no password, no error


@contextlib.contextmanager
def consumer(on_server: Server, statements: list[str]) -> Iterator[Any]:
    """A consumer's session that ran `statements` in a transaction left open (it holds their locks)."""
    with connect(on_server) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        yield cursor
        connection.rollback()


@pytest.fixture
def bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every statement of the pipeline's sessions gives up after 60 s, so a publish that would wait for ever fails."""
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=60000")


def test_a_lock_held_by_a_consumer_stops_publish_after_the_lock_timeout_with_a_sentence(
    warehouse: pg.Warehouse, on_server: Server, tmp_path: Path, bounded: None
) -> None:
    """Publish waits PIPELINE_LOCK_TIMEOUT for a lock, then names the table and the fix; nothing is published."""
    build(warehouse, {"fct_a": 1})
    warehouse.publish([Relation(warehouse.audit, "fct_a")])
    build(warehouse, {"fct_a": 5})
    brief = pg.Warehouse(settings(tmp_path, warehouse.name, lock_timeout_ms=50))
    table = f'"{warehouse.name}"."fct_a"'
    with consumer(on_server, [f"lock table {table} in share mode"]), pytest.raises(InUse) as error:
        brief.publish([Relation(warehouse.audit, "fct_a")])
    message = str(error.value)
    assert f"publish waited 0.05 s for a lock on {warehouse.name}.fct_a" in message
    assert "set PIPELINE_LOCK_TIMEOUT longer" in message
    assert published(warehouse) == {"fct_a": 1}
    brief.publish([Relation(warehouse.audit, "fct_a")])  # the consumer's session ended: publish goes through
    assert published(warehouse) == {"fct_a": 5}


def test_publish_keeps_consumers_views_working_and_names_a_view_it_would_break(
    warehouse: pg.Warehouse, on_server: Server, schema: str, bounded: None
) -> None:
    """Same columns: rows replaced in place, a reader mid-transaction does not block it, views see the new rows.

    Changed columns: publish refuses with a sentence naming the consumer's view (not Postgres's CASCADE hint).
    """
    build(warehouse, {"fct_a": 1})
    warehouse.publish([Relation(warehouse.audit, "fct_a")])
    view = f'"{schema}_consumer"."fct_a_count"'
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f'create schema "{schema}_consumer"')
        cursor.execute(f'create view {view} as select count(*) as n from "{warehouse.name}"."fct_a"')
        connection.commit()
    build(warehouse, {"fct_a": 5})
    with consumer(on_server, [f"select * from {view}"]):  # a reader, mid-transaction
        warehouse.publish([Relation(warehouse.audit, "fct_a")])
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f"select n from {view}")
        assert cursor.fetchall() == [(5,)]
    with warehouse.session() as session:  # a model whose columns changed
        session.execute(f"drop table {session.relation(warehouse.audit, 'fct_a')}")
        session.execute(f"create table {session.relation(warehouse.audit, 'fct_a')} as select 'x' as label")
    with pytest.raises(WarehouseError) as error:
        warehouse.publish([Relation(warehouse.audit, "fct_a")])
    message = str(error.value)
    assert f"the columns of {warehouse.name}.fct_a changed and the view {schema}_consumer.fct_a_count" in message
    assert "CASCADE" not in message
    assert published(warehouse) == {"fct_a": 5}


@pytest.mark.parametrize("target", ["dev", "ci"])
def test_unset_pg_variables_reach_the_server_dbt_reaches(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """With no PG* set, the pipeline's connection gets profiles.yml's defaults, not libpq's unix socket."""
    for var in pg.DEFAULTS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPORT", "6543")  # a variable that is set wins over the default
    given: dict[str, object] = {}

    def fake_connect(dsn: str, **kwargs: object) -> object:
        given.update(kwargs)
        raise psycopg2.OperationalError("refused")

    monkeypatch.setattr(psycopg2, "connect", fake_connect)
    with pytest.raises(WarehouseError):
        pg.connect()
    profile = (PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    block = profile.split(f"    {target}:\n", 1)[1].split("\n    staging:", 1)[0]
    for var, (key, value) in pg.DEFAULTS.items():
        if var == "PGPORT":
            assert key not in given
            continue
        assert given[key] == value
        assert f"env_var('{var}', '{value}')" in block  # the same default as dbt's profile


def test_a_run_from_another_checkout_on_the_same_instance_is_refused(warehouse: pg.Warehouse, tmp_path: Path) -> None:
    """The local run lock cannot see another machine: the server's advisory lock refuses the second at once."""
    elsewhere = tmp_path / "another-checkout"
    elsewhere.mkdir()
    other = pg.Warehouse(settings(elsewhere, warehouse.name))
    refused = rf"instance {warehouse.name} is in use by a run from another checkout"
    with warehouse.server_lock(), pytest.raises(InUse, match=refused), other.server_lock():
        pass  # pragma: no cover - never entered
    with other.server_lock():  # released when the first run's block ended
        pass


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


def test_a_raw_table_whose_columns_changed_is_not_dropped_under_a_view_of_another_schema(
    warehouse: pg.Warehouse, on_server: Server, schema: str
) -> None:
    """Replacing a raw table drops it with its dependents: the instance's staging views go (dbt makes them again),
    a consumer's view in another schema would go silently: refused, naming it, and nothing loaded."""
    raw, consumer = warehouse.raw, f"{schema}_consumer"
    with warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        loader.load_raw(record(raw), ROWS, QUARANTINE)
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"create schema {consumer}")
        cursor.execute(f"create view {consumer}.v as select order_id from {raw}.orders")
    with pytest.raises(WarehouseError) as refused, warehouse.raw_loader([raw], memory_limit="256MB") as loader:
        loader.load_raw(record(raw, run_id="r2"), LocalRows("select 1 as order_id, 'x' as added"), QUARANTINE)
    assert str(refused.value) == (
        f"the columns of raw table {raw}.orders changed and view {consumer}.v outside the instance's schemas depends "
        "on it, which dropping it would drop too; drop or change those first, then run again; nothing was loaded."
    )
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute(f"select count(*) from {consumer}.v")
        assert cursor.fetchall() == [(3,)]


@pytest.fixture
def role(on_server: Server, schema: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A login role of this test's own, with no privilege beyond PUBLIC's, as PGUSER; dropped afterwards."""
    name = f"{schema}_role"
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"create role {name} login")  # PUBLIC may connect, not create schemas (PostgreSQL 15)
    monkeypatch.setenv("PGUSER", name)
    yield name
    with connect(on_server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"drop owned by {name} cascade")
        cursor.execute(f"drop role {name}")


def test_a_role_without_a_privilege_is_named_with_the_grant_that_fixes_it(
    on_server: Server, role: str, schema: str, tmp_path: Path
) -> None:
    """insufficient_privilege (42501): one sentence naming the role (PGUSER), what it lacks on what, and the fix,
    not the server's bare `permission denied for database ...` or `must be owner of schema ...`."""
    with connect(on_server) as connection, connection.cursor() as cursor:
        cursor.execute("select current_database()")
        ((database,),) = cursor.fetchall()
    mine = pg.Warehouse(settings(tmp_path, f"{schema}_mine"))
    with pytest.raises(WarehouseError) as refused:
        mine.create()
    assert str(refused.value) == (
        f"role {role} (PGUSER) lacks the CREATE privilege on database {database}: as its owner or a superuser run "
        f"`grant create on database {database} to {role}`, or set PGUSER to a role that has it."
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGUSER", on_server.environ()["PGUSER"])
        theirs = pg.Warehouse(settings(tmp_path, f"{schema}_theirs"))
        assert theirs.create()  # made by another role
    with pytest.raises(WarehouseError) as refused:
        theirs.drop()
    assert str(refused.value) == (
        f"role {role} (PGUSER) is not the owner of schema {schema}_theirs, which another role made, and only its "
        f"owner may change or drop it: as that owner or a superuser run `alter schema {schema}_theirs owner to "
        f"{role}`, or set PGUSER to the role that owns it."
    )
    assert theirs.exists(PUBLISHED)


def test_slim_ci_as_a_role_that_cannot_read_production_names_it_and_the_grants(
    on_server: Server, role: str, schema: str, tmp_path: Path
) -> None:
    """Deferral to `prod__audit` as a role without USAGE or SELECT there: one sentence naming the role, what it
    cannot read and the grants, before dbt fails on a deferred parent with a bare `permission denied`."""
    owner = on_server.environ()["PGUSER"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGUSER", owner)
        prod = pg.Warehouse(settings(tmp_path, "prod", env="prod"))
        existed = prod.exists()
        prod.create()
    try:
        with connect(on_server) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute("create table if not exists prod__audit.fct_secret as select 1 as x")
            cursor.execute(f"grant create on database {on_server.environ()['PGDATABASE']} to {role}")
        ci = pg.Warehouse(settings(tmp_path, schema, state_dir=tmp_path))
        with pytest.raises(WarehouseError) as refused:
            ci.production()
        message = str(refused.value)
        assert message.startswith(f"role {role} (PGUSER) cannot read prod, prod__audit of production")
        assert f"grant usage on schema prod, prod__audit to {role};" in message
        with connect(on_server) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute(f"grant usage on schema prod, prod__audit to {role}")
        with pytest.raises(WarehouseError, match=r"cannot read prod__audit\.fct_secret of production"):
            ci.production()
        with connect(on_server) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute(f"grant select on all tables in schema prod, prod__audit to {role}")
        assert ci.production() == "schema prod__audit"
    finally:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PGUSER", owner)
            if not existed:
                prod.drop()
