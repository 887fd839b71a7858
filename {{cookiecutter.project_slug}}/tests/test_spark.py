"""Spark (local mode) behind the seam: mask_pii()'s SQL, ingest's load, publish, instances (warehouses/spark.py)."""

from __future__ import annotations

import dataclasses
import socket
from datetime import datetime
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import config, history, pii
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.warehouses import AUDIT, PUBLISHED, IngestRecord, LocalRows, Relation, WarehouseError, spark
from test_pii import _render_mask_pii


@pytest.mark.parametrize("keep_email_shape", [False, True])
def test_mask_pii_on_spark_is_pii_py_s_mask_and_keeps_masked_values(
    spark_settings: Settings, keep_email_shape: bool
) -> None:
    """The macro's Spark SQL gives pii.py's digest under the ci key, for clear, already-masked and NULL values, and
    the key is nowhere in the SQL (the session's variables hold its pads)."""
    expression = _render_mask_pii("ci", "value", keep_email_shape, warehouse="spark")
    key = pii.DEV_KEY.encode()
    ingested = pii.mask("zoë@example.com", key) or ""
    session = spark.spark_session(spark_settings)
    rows = session.sql(
        f"select {expression} as masked from values (?), (?), (null) as t(value)", args=["zoë@example.com", ingested]
    ).collect()
    expected = ingested.removeprefix(pii.PREFIX) + "@example.invalid" if keep_email_shape else ingested
    assert [row["masked"] for row in rows] == [expected, expected, None]
    assert pii.DEV_KEY not in expression
    assert _render_mask_pii("prod", "value", keep_email_shape, warehouse="spark").strip() == "value"


def _instance(settings: Settings, name: str) -> spark.Warehouse:
    return spark.Warehouse(dataclasses.replace(settings, name=name))


def test_each_instance_keeps_its_own_run_history_in_its_audit_database(
    spark_settings: Settings, spark_databases: str
) -> None:
    """Two instances on one server: a run recorded in one is not in the other's history (not a shared `pipeline`
    database), and the history table is in the instance's audit database, dropped with it."""
    first, second = _instance(spark_settings, spark_databases + "_a"), _instance(spark_settings, spark_databases + "_b")
    for warehouse in (first, second):
        warehouse.create()
    with first.session(AUDIT) as session:
        history.append(session, run_id="r1", started_at="2026-01-01T00:00:00Z", status="published", seconds=1.0,
                       metrics={"rows:fct": 1.0})  # fmt: skip
    with first.session(AUDIT) as session:
        assert [run["run_id"] for run in history.load(session)] == ["r1"]
        assert "run_history" in session.tables(first.audit)
    with second.session(AUDIT) as session:
        assert history.load(session) == []


def test_publish_replaces_each_table_and_keeps_the_others(spark_settings: Settings, spark_databases: str) -> None:
    """Publish copies the audited tables into the published database (audit `<name>__audit` -> `<name>`), replaces
    what was there, and leaves a published table it was not given as it was; no `__publishing` copy stays."""
    warehouse = _instance(spark_settings, spark_databases)
    assert warehouse.create()
    with warehouse.session(AUDIT) as audit:
        audit.execute(f"create table {audit.relation(warehouse.audit, 'a')} using parquet as select 1 as id")
        audit.execute(f"create table {audit.relation(warehouse.audit, 'b')} using parquet as select 'x' as v")
    warehouse.publish([Relation(warehouse.audit, "a"), Relation(warehouse.audit, "b")])
    with warehouse.session(AUDIT) as audit:
        audit.execute(f"drop table {audit.relation(warehouse.audit, 'a')}")
        audit.execute(f"create table {audit.relation(warehouse.audit, 'a')} using parquet as select 2 as id")
    warehouse.publish([Relation(warehouse.audit, "a")])

    published = warehouse.snapshot(PUBLISHED)
    assert published == {f"{warehouse.name}.a": [(2,)], f"{warehouse.name}.b": [("x",)]}
    with warehouse.session(PUBLISHED, read_only=True) as session:
        assert session.tables(warehouse.audit) == ["a", "b"]  # dbt's audit database, read where it is published
        assert session.query(f"select id from {session.relation(warehouse.audit, 'a')}") == [(2,)]


def test_a_publish_that_fails_leaves_the_published_tables_as_they_were(
    spark_settings: Settings, spark_databases: str
) -> None:
    """A relation missing from the audit database stops publish with a WarehouseError; the table before it in the
    list is new, the published tables after it keep their rows (per-table publish, see the module docstring)."""
    warehouse = _instance(spark_settings, spark_databases)
    warehouse.create()
    with warehouse.session(AUDIT) as audit:
        audit.execute(f"create table {audit.relation(warehouse.audit, 'a')} using parquet as select 1 as id")
    warehouse.publish([Relation(warehouse.audit, "a")])
    with pytest.raises(WarehouseError, match="publish failed"):
        warehouse.publish([Relation(warehouse.audit, "missing"), Relation(warehouse.audit, "a")])
    assert warehouse.snapshot(PUBLISHED) == {f"{warehouse.name}.a": [(1,)]}


def test_ingest_applies_nothing_when_it_fails_and_keeps_a_load_it_can_reuse(
    spark_settings: Settings, spark_databases: str
) -> None:
    """Rows staged by load_raw reach the raw table only when the load's block ends normally; then the record is
    reusable, with its counts, and touch moves `_loaded_at` of every row."""
    warehouse = _instance(spark_settings, spark_databases)
    record = IngestRecord(warehouse.raw, "orders", "orders", "orders.csv", "f" * 64, "spec", "r1")
    rows = LocalRows("select * from (values (1, timestamp '2025-01-01 00:00:00'), (2, null)) as t(id, _loaded_at)")
    quarantine = LocalRows(
        "select 'r1' as run_id, 'orders' as source_table, 'orders.csv' as raw_file, 3::bigint as row_number, "
        "'id is not a whole number' as reason, '{}' as record, timestamp '2025-01-01' as quarantined_at"
    )
    with (
        pytest.raises(RuntimeError),
        spark.raw_loader(warehouse.settings, [warehouse.raw], memory_limit="256MB") as loader,
    ):
        assert loader.load_raw(record, rows, quarantine) == (2, 1)
        raise RuntimeError("a later raw file failed validation")
    session = spark.spark_session(warehouse.settings)
    assert not session.catalog.tableExists(f"{warehouse.raw}.orders")

    with spark.raw_loader(warehouse.settings, [warehouse.raw], memory_limit="256MB") as loader:
        assert loader.load_raw(record, rows, quarantine) == (2, 1)
    assert sorted(session.table(spark.relation(warehouse.raw, "orders")).select("id").collect()) == [(1,), (2,)]
    moment = datetime(2026, 1, 2, 3, 4, 5)
    with spark.raw_loader(warehouse.settings, [warehouse.raw], memory_limit="256MB") as loader:
        kept = loader.reusable(record)
        assert kept is not None
        assert (kept.run_id, kept.loaded_rows, kept.quarantined_rows) == ("r1", 2, 1)
        assert loader.reusable(dataclasses.replace(record, sha256="0" * 64)) is None
        loader.touch(warehouse.raw, "orders", moment)
    stamps = {row[0] for row in session.table(spark.relation(warehouse.raw, "orders")).select("_loaded_at").collect()}
    assert stamps == {moment}


def test_an_instance_is_listed_by_its_owner_record_and_dropped_with_its_folder(tmp_path: Path) -> None:
    """record_owner writes warehouse/<name>/owner.json, which list_instances reads; drop removes the folder."""
    settings = Settings(env="dev", name="dev__feat_a", project_dir=tmp_path, duckdb_path=tmp_path / "x.duckdb",
                        raw_dir=tmp_path, threads=1, owner="branch 'feat/a'")  # fmt: skip
    warehouse = spark.Warehouse(settings)
    warehouse.record_owner()
    (listed,) = spark.list_instances(tmp_path)
    assert (listed.name, listed.env, listed.owner) == ("dev__feat_a", "dev", "branch 'feat/a'")
    assert warehouse.drop()
    assert spark.list_instances(tmp_path) == []
    assert not spark.home(settings).exists()


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("sc://spark.internal:15002", ("spark.internal", 15002)),
        ("sc://localhost", ("localhost", spark.CONNECT_PORT)),
        ("sc://10.0.0.5:443/;use_ssl=true;token=abc", ("10.0.0.5", 443)),
        ("sc://[::1]:15003", ("::1", 15003)),
    ],
)
def test_a_spark_connect_url_gives_the_address_it_names(url: str, address: tuple[str, int]) -> None:
    assert spark.connect_address(url) == address


@pytest.mark.parametrize(
    "url", ["garbage", "http://spark:15002", "sc://", "sc://spark:0", "sc://spark:99999", "sc://spark:x"]
)
def test_a_value_that_is_no_spark_connect_url_is_refused_in_one_sentence(url: str) -> None:
    with pytest.raises(
        WarehouseError, match=r"^SPARK_REMOTE='.*' is not a Spark Connect URL; set it to sc://host:port"
    ):
        spark.connect_address(url)


def test_a_spark_connect_server_that_does_not_answer_is_named_instead_of_retried() -> None:
    """Spark Connect's client would retry for minutes with no word; the pipeline says so at once."""
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WarehouseError, match=rf"^Spark Connect at sc://127.0.0.1:{port} does not answer \("):
        spark._refuse_unreachable(f"sc://127.0.0.1:{port}")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_staging_and_prod_on_spark_need_the_spark_connect_server_of_a_cluster(project: Path, env: str) -> None:
    """Every target uses the session method, so dbt and the pipeline's own Spark code share one catalog: staging
    and prod have no local mode to fall back to, and SPARK_REMOTE has no default there."""
    with pytest.raises(
        PipelineError, match=rf"^environment '{env}' needs (.* and )?SPARK_REMOTE, which (is|are) not set"
    ):
        config.resolve(env, environ={"DBT_PROJECT_DIR": str(project), "RAW_DATA_DIR": "/data/raw"}, connects=True)
