"""The example on PostgreSQL: `dbt build` of every model, data test and unit test, with pii.py's own mask."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import DUCKDB_PROFILE, MARTS, METRICS, PACKAGE, connect, parsed, quarantine_rows
from {{ cookiecutter.package_name }} import pii
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.ingest import TableSpec, ingest, load_specs
from {{ cookiecutter.package_name }}.sql import relation
from {{ cookiecutter.package_name }}.warehouses import AUDIT
from {{ cookiecutter.package_name }}.warehouses import postgres as pg
from {{ cookiecutter.package_name }}.warehouses.duckdb import File
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server, pgoptions
from test_postgres import KEY, PII_SETTING


def on_postgres(name: str, project: Path) -> tuple[pg.Warehouse, list[TableSpec]]:
    """A ci instance `name` on the test's database (PG* as the `project` fixture set them), made, and the
    project's source specs with their raw schema, `<name>__raw`, as the pipeline parses them there."""
    warehouse = pg.Warehouse(
        Settings(env="ci", name=name, project_dir=project, duckdb_path=project / "unused.duckdb", raw_dir=project,
                 threads=4)
    )  # fmt: skip
    warehouse.create()
    specs = [dataclasses.replace(spec, schema=warehouse.raw) for spec in load_specs(parsed(project))]
    return warehouse, specs


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
    project: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt build` of the example (models, data tests, unit tests) passes on Postgres from clear raw rows (as prod
    ingests them), and the masked names and emails of dim_customers are exactly pii.py's mask under the same key."""
    warehouse, specs = on_postgres(schema, project)
    ingest(warehouse, specs, project / "data" / "raw" / "sample", "r1", progress=lambda _: None, pii_key=None)
    for name, value in {**warehouse.dbt_env(), "PGOPTIONS": pgoptions({PII_SETTING: KEY})}.items():
        monkeypatch.setenv(name, value)
    dbt(project, "build")

    postgres = Server.from_environ(os.environ)
    with connect(postgres) as connection, connection.cursor() as cursor:
        cursor.execute(f"select customer_id, first_name, last_name, email from {relation(warehouse.raw, 'customers')}")
        clear = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(f"select customer_id, full_name, email from {relation(warehouse.audit, 'dim_customers')}")
        masked = {row[0]: row[1:] for row in cursor.fetchall()}
    key = KEY.encode()
    assert masked.keys() == clear.keys()
    for customer_id, (first, last, email) in clear.items():
        assert masked[customer_id] == (
            f"{pii.mask(first, key)} {pii.mask(last, key)}",
            f"{pii.digest(email.lower(), key)}@example.invalid",
        )


def test_duckdb_and_postgres_build_the_same_marts_from_the_same_sample(
    project: Path, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample ingested and the example built on DuckDB and on Postgres: the same loaded and quarantined counts,
    every mart with the same rows, and revenue by month, orders by status and the customer counts to the cent."""
    for name in ("DBT_SCHEMA", "DBT_RAW_SCHEMA", "PGOPTIONS", "PII_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    sample = project / "data" / "raw" / "sample"
    database = tmp_path / "ci.duckdb"
    loaded_duckdb = ingest(File(database), load_specs(parsed(project)), sample, "r1", progress=lambda _: None)
    warehouse, specs = on_postgres(schema, project)
    loaded_postgres = ingest(warehouse, specs, sample, "r1", progress=lambda _: None)
    counts = [(t.table, t.loaded_rows, t.quarantined_rows) for t in loaded_duckdb.tables]
    assert counts == [(t.table, t.loaded_rows, t.quarantined_rows) for t in loaded_postgres.tables]
    assert sum(quarantined for _, _, quarantined in counts) > 0
    # ... and the same quarantine rows, reasons and records.
    with File(database).session() as on_duckdb_session:
        quarantined = quarantine_rows(on_duckdb_session, "raw")
    with warehouse.session(AUDIT) as on_postgres_session:
        assert quarantine_rows(on_postgres_session, warehouse.raw) == quarantined
    assert len(quarantined) == sum(rows for _, _, rows in counts) and all(row[3] for row in quarantined)

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

    for name, value in warehouse.dbt_env().items():
        monkeypatch.setenv(name, value)
    dbt(project, "build")
    with connect(Server.from_environ(os.environ)) as connection, connection.cursor() as cursor:
        postgres_marts = {}
        for mart in MARTS:
            cursor.execute(f"select * from {relation(warehouse.audit, mart)}")
            postgres_marts[mart] = sorted(cursor.fetchall())
        postgres_metrics = {}
        for name, query in METRICS.items():
            cursor.execute(query.format(**{mart: relation(warehouse.audit, mart) for mart in MARTS}))
            postgres_metrics[name] = cursor.fetchall()

    for mart in MARTS:
        assert on_duckdb[mart], mart
        assert postgres_marts[mart] == on_duckdb[mart], mart
    assert postgres_metrics == duckdb_metrics
