"""The example on Spark (local mode): the seam's ingest and the same marts as DuckDB from the sample, masked alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from conftest import DUCKDB_PROFILE, MARTS, METRICS, PACKAGE, parsed, quarantine_rows
from {{ cookiecutter.package_name }} import pii
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.sql import relation
from {{ cookiecutter.package_name }}.warehouses import AUDIT, spark
from {{ cookiecutter.package_name }}.warehouses.duckdb import File


def dbt(project: Path, profiles: Path, *args: str) -> None:
    """Run one dbt command on the ci target of `profiles`/profiles.yml; fail the test, naming the nodes that failed."""
    outcome = dbtRunner().invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(profiles), "--target", "ci",
         "--target-path", str(profiles / "target"), "--log-path", str(profiles / "logs")]
    )  # fmt: skip
    failed = [f"{r.node.name}: {r.message}" for r in getattr(outcome.result, "results", None) or []
              if str(r.status) in ("error", "fail", "partial success")]  # fmt: skip
    assert outcome.success, failed or outcome.exception


def test_duckdb_and_spark_build_the_same_marts_from_the_same_sample(
    project: Path, spark_settings: Settings, spark_databases: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example (models, data tests, unit tests) built on DuckDB and on Spark from one clear ingest of the sample:
    every mart has the same rows, masked names and emails included (Spark's SQL HMAC equals pii_plugin's), and
    revenue by month, orders by status and the customer counts agree to the cent."""
    for name in ("DBT_SCHEMA", "DBT_RAW_SCHEMA", "PII_HASH_KEY", "DBT_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "ci.duckdb"
    sample = project / "data" / "raw" / "sample"
    specs = load_specs(parsed(project))
    on_duckdb_ingest = ingest(File(database), specs, sample, "r1", progress=lambda _: None, pii_key=None)
    with duckdb.connect(str(database), read_only=True) as con:
        clear = dict(con.execute("select customer_id, email from raw.customers").fetchall())
    warehouse = spark.Warehouse(dataclasses.replace(spark_settings, name=spark_databases))
    spark_specs = [dataclasses.replace(spec, schema=warehouse.raw) for spec in specs]
    on_spark_ingest = ingest(warehouse, spark_specs, sample, "r1", progress=lambda _: None, pii_key=None)
    # Validation is local on both: the same rows loaded and quarantined, table by table.
    loaded = [(t.table, t.loaded_rows, t.quarantined_rows) for t in on_duckdb_ingest.tables]
    assert loaded == [(t.table, t.loaded_rows, t.quarantined_rows) for t in on_spark_ingest.tables]
    assert any(rows for _, _, rows in loaded)
    # ... and the same quarantine rows, reasons and records (Spark's were once all NULL, its counts right).
    with File(database).session() as on_duckdb_session:
        quarantined = quarantine_rows(on_duckdb_session, "raw")
    with warehouse.session(AUDIT) as on_spark_session:
        assert quarantine_rows(on_spark_session, warehouse.raw) == quarantined
    assert len(quarantined) == sum(rows for _, _, rows in loaded) and all(row[3] for row in quarantined)

    profiles = tmp_path / "duckdb-profile"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(DUCKDB_PROFILE.format(package=PACKAGE, path=database), encoding="utf-8")
    dbt(project, profiles, "build")
    with duckdb.connect(str(database)) as con:
        columns = {mart: [c[0] for c in con.execute(f"describe {relation('main', mart)}").fetchall()] for mart in MARTS}
        on_duckdb = {
            mart: sorted(con.execute(f"select {', '.join(columns[mart])} from {relation('main', mart)}").fetchall())
            for mart in MARTS
        }
        duckdb_metrics = {
            name: con.execute(query.format(**{mart: relation("main", mart) for mart in MARTS})).fetchall()
            for name, query in METRICS.items()
        }

    session = spark.spark_session(
        warehouse.settings
    )  # before dbt: the pads of the ci key, and dbt's getOrCreate() reuses it
    for name, value in warehouse.dbt_env().items():
        monkeypatch.setenv(name, value)
    dbt(project, project, "build")
    on_spark = {
        mart: sorted(tuple(row) for row in session.sql(
            f"select {', '.join(map(spark.relation, columns[mart]))} from {spark.relation(warehouse.audit, mart)}"
        ).collect())
        for mart in MARTS
    }  # fmt: skip
    spark_metrics = {
        name: [tuple(row) for row in session.sql(
            query.format(**{mart: spark.relation(warehouse.audit, mart) for mart in MARTS})
        ).collect()]
        for name, query in METRICS.items()
    }  # fmt: skip

    for mart in MARTS:
        assert on_duckdb[mart], mart
        assert on_spark[mart] == on_duckdb[mart], mart
    assert spark_metrics == duckdb_metrics
    key, names = pii.DEV_KEY.encode(), columns["dim_customers"]
    masked = {row[names.index("customer_id")]: row[names.index("email")] for row in on_spark["dim_customers"]}
    assert masked == {id_: f"{pii.digest(email.lower(), key)}@example.invalid" for id_, email in clear.items()}
