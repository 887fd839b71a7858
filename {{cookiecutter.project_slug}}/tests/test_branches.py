"""The innovation pipeline on real builds: isolated branch environments and slim CI against production.

Each pipeline runs in its own process, as on a laptop or a CI runner: dbt-duckdb keeps its
database files open for the life of a process. Tests read what a run wrote through the warehouse seam.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ENVIRONMENT_VARIABLES, PACKAGE, cli, dbt_schema, raw_schema, start, warehouse_of
from {{ cookiecutter.package_name }} import config, locking, warehouses
from {{ cookiecutter.package_name }}.config import INSTANCE_VAR
from {{ cookiecutter.package_name }}.warehouses import AUDIT, PUBLISHED, Location, Warehouse

pytestmark = pytest.mark.integration

CHANGED = "fct_orders"


def instance(project: Path, env: str, **environ: str) -> tuple[str, Warehouse]:
    """The name and warehouse of the instance `env` resolves to with `environ` (a branch, a PR, a parameter set)."""
    variables = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    settings = config.resolve(env, environ={**variables, **environ, "DBT_PROJECT_DIR": str(project)})
    return settings.name, warehouses.for_settings(settings)


def rows(
    project: Path, table: str, env: str, location: Location = PUBLISHED, **environ: str
) -> list[tuple[object, ...]]:
    """Every row of model `table` in `location` of the instance, sorted, read through the seam (any warehouse)."""
    name, warehouse = instance(project, env, **environ)
    with warehouse.session(location, read_only=True) as session:
        found = session.query(f"select * from {session.relation(dbt_schema(project, name, table), table)}")
    return sorted((tuple(row) for row in found), key=lambda row: [repr(v) for v in row])


def models_built(project: Path, instance: str) -> set[str]:
    results = json.loads((project / "target" / instance / "run_results.json").read_text(encoding="utf-8"))
    return {r["unique_id"].split(".")[-1] for r in results["results"] if r["unique_id"].startswith("model.")}


def lineage(project: Path, instance: str, model: str, direction: str) -> set[str]:
    """The model and every model downstream (child_map) or upstream (parent_map) of it."""
    graph = json.loads((project / "target" / instance / "manifest.json").read_text(encoding="utf-8"))[direction]
    seen, todo = set(), [f"model.{PACKAGE}.{model}"]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += [n for n in graph.get(node, []) if n.startswith("model.")]
    return {node.split(".")[-1] for node in seen}


def change_a_model(project: Path) -> None:
    """A change on the branch: same result, different code, so dbt sees the model as modified."""
    path = project / "models" / "marts" / "sales" / f"{CHANGED}.sql"
    path.write_text(path.read_text(encoding="utf-8") + "-- reviewed on a feature branch\n", encoding="utf-8")


PROD_RUN = {"RAW_DATA_DIR": "data/raw/sample"}


@pytest.fixture
def production(project: Path, tmp_path: Path) -> dict[str, str]:
    """A production instance built from the sample, and the settings a slim CI run takes to defer to it.

    Those settings are production's manifest as slim CI's state (DBT_STATE_DIR) and, where production is a file
    of its own (DuckDB), that file (DBT_DEFER_DUCKDB_PATH); a server warehouse's production is schema `prod`
    of the same database, which the run finds itself.
    """
    prod = {**PROD_RUN, "DBT_DUCKDB_PATH": str(tmp_path / "prod.duckdb")}
    cli(project, "run", "--env", "prod", env=prod)
    state = tmp_path / "state"
    state.mkdir()
    (state / "manifest.json").write_bytes((project / "target" / "prod" / "manifest.json").read_bytes())
    settings = {"DBT_STATE_DIR": str(state)}
    database = tmp_path / "prod__audit.duckdb"  # production's audit file, which the DuckDB ci target attaches
    if database.is_file():
        settings["DBT_DEFER_DUCKDB_PATH"] = str(database)
    assert warehouse_of(project, "prod", prod).exists()
    return settings


def test_two_branches_build_at_the_same_time_without_touching_each_other(project: Path) -> None:
    a = start(project, "run", "--env", "dev", GITHUB_HEAD_REF="feature_a")
    b = start(project, "run", "--env", "dev", "--scale", "0.02", GITHUB_HEAD_REF="feature_b")
    for process in (a, b):
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out
    assert len(rows(project, "fct_orders", "dev", GITHUB_HEAD_REF="feature_a")) == 1_000
    assert len(rows(project, "fct_orders", "dev", GITHUB_HEAD_REF="feature_b")) == 2_000
    assert models_built(project, "dev__feature_a") == models_built(project, "dev__feature_b") != set()


def test_slim_ci_builds_only_the_change_and_its_children_deferring_the_rest(
    project: Path, production: dict[str, str]
) -> None:
    change_a_model(project)
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="7", env=production)
    assert f"state: production manifest from {production['DBT_STATE_DIR']}" in out
    assert "the rest deferred to" in out
    report = json.loads(next((project / "reports" / "ci_pr_7").glob("*/report.json")).read_text(encoding="utf-8"))
    regression = {c["name"]: c for c in report["checks"] if c["stage"] == "regression"}
    assert regression[f"{CHANGED} rows against production"]["message"].endswith("(+0.0%)")  # same data, same rows
    assert regression[f"{CHANGED} sum(net_amount) against production"]["status"] == "pass"  # a declared key metric
    assert report["status"] == "published"
    summary = next((project / "reports" / "ci_pr_7").glob("*/summary.md")).read_text(encoding="utf-8")
    assert f"| `{CHANGED} sum(net_amount) against production` |" in summary  # the PR summary shows the comparison
    expected = lineage(project, "ci_pr_7", CHANGED, "child_map")
    assert models_built(project, "ci_pr_7") == expected
    assert len(expected) < len(lineage(project, "ci_pr_7", CHANGED, "parent_map") | expected)

    cli(project, "run", "--env", "ci", PR_NUMBER="8")  # the full build to compare with
    assert models_built(project, "ci_pr_8") > expected
    for model in expected:
        slim = rows(project, model, "ci", AUDIT, PR_NUMBER="7")
        assert slim == rows(project, model, "ci", AUDIT, PR_NUMBER="8"), model
        assert slim


def test_a_slim_build_reads_unselected_parents_from_production_not_stale_copies_in_the_instance(
    project: Path, production: dict[str, str]
) -> None:
    """A PR instance that holds its own copy of a parent (an earlier full build), now stale: the slim build reads
    production's (dbt's `--favor-state`), as the progress line says, not the copy (plain `--defer` reads it)."""
    cli(project, "run", "--env", "ci", PR_NUMBER="9", env=production)  # a full build: the PR has every parent
    expected = rows(project, CHANGED, "ci", AUDIT, PR_NUMBER="9")
    name, warehouse = instance(project, "ci", PR_NUMBER="9", **production)
    parent = "stg_shop__orders"  # a view: made stale as a table of 10 of its rows, under its name
    schema = dbt_schema(project, name, parent)
    with warehouse.session(AUDIT) as session, session.transaction():
        view, stale = session.relation(schema, parent), session.relation(schema, "stale")
        session.execute(f"create table {stale} as select * from {view} limit 10")
        session.execute(f"drop view {view} cascade")
        session.execute(f"alter table {stale} rename to {parent}")
    change_a_model(project)
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="9", env=production)
    assert rows(project, CHANGED, "ci", AUDIT, PR_NUMBER="9") == expected != []  # not 10 orders
    said = out.split("the rest deferred to ", 1)[1].split()[0]  # `schema prod__audit` / `prod__audit.duckdb`
    deferred_to = out.split("the rest deferred to schema ", 1)[1].split()[0] if said == "schema" else said
    compiled = next((project / "target" / name / "compiled").rglob(f"{CHANGED}.sql")).read_text(encoding="utf-8")
    assert f'"{deferred_to.removesuffix(".duckdb")}"' in compiled  # what the build read is what the line named


def raw_tables(project: Path, pr: str) -> set[str]:
    """The raw tables the ingest of instance ci_pr_<pr> loaded (its raw schema, ingest's own `_` tables left out)."""
    name, warehouse = instance(project, "ci", PR_NUMBER=pr)
    with warehouse.session(AUDIT, read_only=True) as session:
        return {table for table in session.tables(raw_schema(project, name)) if not table.startswith("_")}


def freshness_checked(project: Path, instance: str) -> set[str]:
    """The source tables whose freshness the instance's last build checked (sources.json; none without it)."""
    path = project / "target" / instance / "sources.json"
    if not path.is_file():
        return set()
    return {r["unique_id"].split(".")[-1] for r in json.loads(path.read_text(encoding="utf-8"))["results"]}


def edit(project: Path, model: str) -> None:
    """Change one model's code (not its result), so dbt sees it as modified."""
    path = next((project / "models").rglob(f"{model}.sql"))
    path.write_text(path.read_text(encoding="utf-8") + "-- reviewed on a feature branch\n", encoding="utf-8")


def test_a_slim_run_deferring_a_mart_change_ingests_nothing_and_skips_freshness(
    project: Path, production: dict[str, str]
) -> None:
    change_a_model(project)
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="21", env=production)
    raw = raw_schema(project, "ci_pr_21")  # `raw` on DuckDB, `ci_pr_21__raw` on a server warehouse
    assert "the slim selection reads no raw table: nothing to ingest" in out
    assert f"not loaded, not read by the slim selection: {raw}.customers" in out
    assert "source freshness not checked: the slim selection reads no source" in out
    assert raw_tables(project, "21") == set()
    assert freshness_checked(project, "ci_pr_21") == set()
    assert CHANGED in models_built(project, "ci_pr_21")
    report = json.loads(next((project / "reports" / "ci_pr_21").glob("*/report.json")).read_text(encoding="utf-8"))
    assert report["status"] == "published"
    assert set(report["not_loaded"]) == {
        f"{raw}.{table}" for table in ("customers", "products", "orders", "order_items", "payments")
    }
    assert f"not loaded  {raw}.customers" in out  # the run summary names them too

    cli(project, "run", "--env", "ci", PR_NUMBER="22")  # a full run still loads every raw table
    every = {"customers", "products", "orders", "order_items", "payments"}
    assert raw_tables(project, "22") == every
    assert freshness_checked(project, "ci_pr_22") == every


def test_a_slim_run_deferring_a_staging_change_loads_only_that_models_raw_table(
    project: Path, production: dict[str, str]
) -> None:
    edit(project, "stg_shop__orders")
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="23", env=production)
    raw = raw_schema(project, "ci_pr_23")
    assert f"not loaded, not read by the slim selection: {raw}.customers, {raw}.products" in out
    assert raw_tables(project, "23") == {"orders"}
    assert freshness_checked(project, "ci_pr_23") == {"orders"}
    assert {"stg_shop__orders", "fct_orders"} <= models_built(project, "ci_pr_23")


def test_a_slim_run_without_deferral_loads_the_sources_of_every_ancestor(
    project: Path, production: dict[str, str], tmp_path: Path
) -> None:
    # Production's manifest, but no production left to defer to.
    prod = {**PROD_RUN, "DBT_DUCKDB_PATH": str(tmp_path / "prod.duckdb")}
    cli(project, "env", "drop", "--env", "prod", "--allow-shared", env=prod)
    assert not warehouse_of(project, "prod", prod).exists()
    edit(project, "fct_daily_revenue")  # its ancestors read every raw table but customers
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="24", DBT_STATE_DIR=production["DBT_STATE_DIR"])
    assert "no production data to defer to" in out
    assert f"not loaded, not read by the slim selection: {raw_schema(project, 'ci_pr_24')}.customers" in out
    loaded = raw_tables(project, "24")
    assert loaded == {"products", "orders", "order_items", "payments"}
    assert "stg_shop__orders" in models_built(project, "ci_pr_24")


def _git(project: Path, *args: str) -> None:
    identity = ["-c", "user.name=CI", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=project, check=True, capture_output=True)


def test_without_a_production_manifest_the_merge_base_is_the_state(project: Path) -> None:
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "main")
    _git(project, "checkout", "-q", "-b", "feature")
    change_a_model(project)
    _git(project, "commit", "-q", "-am", "change a model")
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="9")
    assert "state: manifest compiled at merge-base" in out
    assert "with their children and all their parents" in out  # no production data here to defer to
    children = lineage(project, "ci_pr_9", CHANGED, "child_map")
    expected = set().union(*(lineage(project, "ci_pr_9", child, "parent_map") for child in children))
    assert models_built(project, "ci_pr_9") == expected
    assert "dim_customers" in expected


def test_with_no_state_at_all_slim_ci_says_so_and_builds_everything(project: Path) -> None:
    out = cli(project, "run", "--env", "ci", "--slim", PR_NUMBER="10")
    assert "no production manifest and no merge-base with main: full build" in out
    manifest = json.loads((project / "target" / "ci_pr_10" / "manifest.json").read_text(encoding="utf-8"))
    every_model = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert models_built(project, "ci_pr_10") == every_model


def test_parameter_sets_run_concurrently_each_in_its_own_instance(project: Path) -> None:
    out = cli(project, "run-many", "--env", "ci", "--set", "small:", "--set", "large:--scale 0.02", PR_NUMBER="4")
    assert "2 of 2 sets passed" in out
    summary = {line.split()[0]: line for line in out.splitlines() if line.startswith(("small ", "large "))}
    assert "ci_pr_4__small" in summary["small"]
    assert "published" in summary["small"]
    assert "fct_orders 1,000" in summary["small"]
    assert "fct_orders 2,000" in summary["large"]
    assert len(rows(project, "fct_orders", "ci", PUBLISHED, PR_NUMBER="4", **{INSTANCE_VAR: "ci_pr_4__large"})) == 2_000


def test_a_failing_parameter_set_fails_the_command_and_shows_why(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"  # a raw folder without the declared files (a missing one is refused up front)
    empty.mkdir()
    out = cli(project, "run-many", "--env", "ci", "--set", "good:", "--set", f"bad:--raw-dir {empty}", expect=1)
    assert "1 of 2 sets passed; failed: bad" in out
    assert f"not found in {empty}" in out


def test_a_second_run_on_a_branch_is_refused_and_the_first_publishes_what_it_checked(
    project: Path, tmp_path: Path
) -> None:
    settings = config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "GITHUB_HEAD_REF": "main"})
    failing = tmp_path / "failing"  # other raw files, which fail an error-level check at ingest
    failing.mkdir()
    (failing / "products.csv").write_text("product_id,sku\n1,SKU-1\n", encoding="utf-8")
    first = start(project, "run", GITHUB_HEAD_REF="main")
    try:
        holder_file = locking.holder_path(settings)
        while not holder_file.is_file() and first.poll() is None:  # until run A holds the instance
            time.sleep(0.05)
        holder = json.loads(holder_file.read_text(encoding="utf-8"))
        assert holder["pid"] == first.pid
        refused = cli(project, "run", expect=1, RAW_DATA_DIR=str(failing), GITHUB_HEAD_REF="main")
    finally:
        out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert refused.strip() == (
        f"error: instance {settings.name} is in use by run {holder['run_id']} (pid {first.pid}, command `run`, "
        f"since {holder['started_at']}); wait for it to finish (or stop that process), then run again."
    )
    report = json.loads(next(settings.reports_dir.glob("*/report.json")).read_text(encoding="utf-8"))
    assert (report["run_id"], report["status"]) == (holder["run_id"], "published")
    # What is published is what run A built and checked in the audit database, from the rows it loaded.
    name, warehouse = instance(project, "dev", GITHUB_HEAD_REF="main")
    published = warehouse.snapshot()
    assert published
    for key, published_rows in published.items():
        table = key.split(".")[-1]
        audit_rows = rows(project, table, "dev", AUDIT, GITHUB_HEAD_REF="main")
        assert audit_rows == sorted(published_rows, key=lambda row: [repr(v) for v in row]), key
    with warehouse.session(AUDIT, read_only=True) as audit:
        for table, loaded in report["loaded"].items():  # and A's report describes what A loaded
            relation = audit.relation(raw_schema(project, name), table)
            assert [tuple(row) for row in audit.query(f"select count(*) from {relation}")] == [(loaded,)]
