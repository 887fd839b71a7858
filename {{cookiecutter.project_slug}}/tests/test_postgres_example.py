"""The example on PostgreSQL: `dbt build` of every model, data test and unit test, with pii.py's own mask."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import PACKAGE, connect, parsed
from {{ cookiecutter.package_name }} import pii
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.sql import identifier, relation
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server, pgoptions
from test_postgres import KEY, PII_SETTING


def load_raw(server: Server, duckdb_path: Path, schema: str, target: str) -> dict[str, int]:
    """Copy every table of DuckDB schema `schema` into Postgres schema `target` (COPY); return rows per table."""
    counts = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as source, connect(server) as connection:
        cursor = connection.cursor()
        cursor.execute(f"create schema if not exists {identifier(target)}")
        tables = source.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
        ).fetchall()
        for (table,) in tables:
            columns = source.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            definition = ", ".join(f"{identifier(name)} {data_type.lower()}" for name, data_type in columns)
            cursor.execute(f"create table {relation(target, table)} ({definition})")
            path = duckdb_path.parent / f"{table}.csv"
            source.execute(f"copy (select * from {relation(schema, table)}) to '{path}' (header false)")
            with path.open(encoding="utf-8") as rows:
                cursor.copy_expert(f"copy {relation(target, table)} from stdin with (format csv)", rows)
            cursor.execute(f"select count(*) from {relation(target, table)}")
            counts[table] = int((cursor.fetchone() or (0,))[0])
        connection.commit()
    return counts


def dbt(project: Path, *args: str, profiles: Path | None = None) -> None:
    """Run one dbt command on the ci target of the project's profiles.yml (or of `profiles`, a folder holding one);
    fail the test, naming the nodes that failed."""
    outcome = dbtRunner().invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(profiles or project), "--target", "ci",
         "--target-path", str(project / "target"), "--log-path", str(project / "logs")]
    )  # fmt: skip
    failed = [f"{r.node.name}: {r.message}" for r in getattr(outcome.result, "results", None) or []
              if str(r.status) in ("error", "fail", "partial success")]  # fmt: skip
    assert outcome.success, failed or outcome.exception


def test_the_example_builds_on_postgres_and_masks_as_pii_py_does(
    project: Path, postgres: Server, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt build` of the example (models, data tests, unit tests) passes on Postgres from clear raw rows, and the
    masked names and emails of dim_customers are exactly pii.py's mask of the same values under the same key."""
    specs = load_specs(parsed(project))
    database = tmp_path / "clear.duckdb"
    ingest(database, specs, project / "data" / "raw" / "sample", "r1", progress=lambda _: None, pii_key=None)
    raw_schemas = {spec.schema for spec in specs}
    assert raw_schemas == {"raw"}
    counts = load_raw(postgres, database, "raw", f"{schema}__raw")
    assert counts["customers"] > 0
    environ = {
        **postgres.environ(),
        "DBT_SCHEMA": f"{schema}__audit",
        "DBT_RAW_SCHEMA": f"{schema}__raw",
        "PGOPTIONS": pgoptions({PII_SETTING: KEY}),
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    dbt(project, "build")

    with connect(postgres) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"select customer_id, first_name, last_name, email from {relation(f'{schema}__raw', 'customers')}"
        )
        clear = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(f"select customer_id, full_name, email from {relation(f'{schema}__audit', 'dim_customers')}")
        masked = {row[0]: row[1:] for row in cursor.fetchall()}
    key = KEY.encode()
    assert masked.keys() == clear.keys()
    for customer_id, (first, last, email) in clear.items():
        assert masked[customer_id] == (
            f"{pii.mask(first, key)} {pii.mask(last, key)}",
            f"{pii.digest(email.lower(), key)}@example.invalid",
        )


# The same example on DuckDB: the profile a DuckDB project has, with the mask as its ingest step registers it.
DUCKDB_PROFILE = """
{package}:
  target: ci
  outputs:
    ci:
      type: duckdb
      path: "{path}"
      threads: 4
      plugins:
        - module: {package}.pii_plugin
          config:
            environment: ci
"""
MARTS = ("dim_customers", "fct_daily_revenue", "fct_orders")
# The figures a reader of the marts asks for first, in SQL both warehouses run.
METRICS = {
    "revenue by month": "select cast(date_trunc('month', order_date) as date) as month, sum(net_revenue) "
    "from {fct_daily_revenue} group by 1 order by 1",
    "orders by status": "select status, count(*), sum(net_amount) from {fct_orders} group by 1 order by 1",
    "customers": "select count(*), count(first_ordered_at), sum(order_count), sum(lifetime_value) from {dim_customers}",
}


def test_duckdb_and_postgres_build_the_same_marts_from_the_same_sample(
    project: Path, postgres: Server, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example built on DuckDB and on Postgres from one ingest of the sample: every mart has the same rows,
    and revenue by month, orders by status and the customer counts agree to the cent."""
    for name in ("DBT_SCHEMA", "DBT_RAW_SCHEMA", "PGOPTIONS", "PII_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "ci.duckdb"
    ingest(database, load_specs(parsed(project)), project / "data" / "raw" / "sample", "r1", progress=lambda _: None)
    load_raw(postgres, database, "raw", f"{schema}__raw")  # the masked rows DuckDB's ingest wrote, as they are
    profiles = tmp_path / "duckdb-profile"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(DUCKDB_PROFILE.format(package=PACKAGE, path=database), encoding="utf-8")
    dbt(project, "build", profiles=profiles)
    # As dbt-duckdb opened it: DuckDB shares a file within a process only under one configuration.
    with duckdb.connect(str(database)) as con:
        on_duckdb = {mart: sorted(con.execute(f"select * from {relation('main', mart)}").fetchall()) for mart in MARTS}
        duckdb_metrics = {
            name: con.execute(query.format(**{mart: relation("main", mart) for mart in MARTS})).fetchall()
            for name, query in METRICS.items()
        }

    environ = {**postgres.environ(), "DBT_SCHEMA": f"{schema}__audit", "DBT_RAW_SCHEMA": f"{schema}__raw",
               "PGOPTIONS": pgoptions({PII_SETTING: pii.DEV_KEY})}  # fmt: skip
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    dbt(project, "build")
    with connect(postgres) as connection, connection.cursor() as cursor:
        on_postgres = {}
        for mart in MARTS:
            cursor.execute(f"select * from {relation(f'{schema}__audit', mart)}")
            on_postgres[mart] = sorted(cursor.fetchall())
        postgres_metrics = {}
        for name, query in METRICS.items():
            cursor.execute(query.format(**{mart: relation(f"{schema}__audit", mart) for mart in MARTS}))
            postgres_metrics[name] = cursor.fetchall()

    for mart in MARTS:
        assert on_duckdb[mart], mart
        assert on_postgres[mart] == on_duckdb[mart], mart
    assert postgres_metrics == duckdb_metrics
