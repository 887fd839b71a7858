"""The quality gates on real builds: severities, a join fan-out and the finance reference (PII: test_pii.py).

Each pipeline runs the CLI in its own process, as in tests/test_branches.py: dbt-duckdb keeps
its database file open for the life of a process, and a finished process releases it. Tests read what a run
wrote through the warehouse seam, so they run on the project's own warehouse.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from conftest import dbt_schema, warehouse_of
from {{ cookiecutter.package_name }}.warehouses import AUDIT, PUBLISHED

pytestmark = pytest.mark.integration

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")
SAMPLE = Path("data") / "raw" / "sample"
# A staging model that passes the feed's repeated products through, as before the dedupe.
PRODUCTS_WITHOUT_DEDUPE = """\
select product_id, sku, product_name, category, unit_price, is_active
from {% raw %}{{ source('shop', 'products') }}{% endraw %}
"""


def run(project: Path, *args: str, **environ: str) -> tuple[int, str]:
    """Run the CLI on a project in a fresh process, with no setting inherited from the caller."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "GITHUB_", "RAW_DATA_DIR", "PR_"))}
    env = {**inherited, "DBT_PROJECT_DIR": str(project), **environ}
    process = subprocess.run(
        [sys.executable, "-m", PACKAGE, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return process.returncode, process.stdout + process.stderr


def artifacts(project: Path, instance: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The manifest of an environment instance and its run results by unique_id."""
    target = project / "target" / instance
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    return manifest, {result["unique_id"]: result for result in results}


def nodes_named(manifest: dict[str, Any], prefix: str) -> list[str]:
    return [
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and node["name"].startswith(prefix)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, module_warehouse: str | None) -> tuple[Path, int, str]:
    """One copy of the project built on the ci target from the committed sample: (project, exit code, output).

    Its instance lives in the module's own place on the warehouse (`module_warehouse`); tests only read it.
    """
    project = tmp_path_factory.mktemp("checks") / "project"
    project.mkdir()
    for name in DBT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            shutil.copy2(source, project / name)
    code, out = run(project, "run", "--env", "ci")
    return project, code, out


def test_every_severity_is_exercised_and_the_run_passes(built: tuple[Path, int, str]) -> None:
    """Keys hold (error), the repeated products warn, returned orders inform; nothing stops the line."""
    project, code, out = built
    assert code == 0, out
    assert "\x1b[" not in out  # dbt's colour codes never reach output that is not a terminal
    manifest, results = artifacts(project, "ci")
    fanouts = nodes_named(manifest, "no_fanout_")
    assert len(fanouts) == 2
    for uid in fanouts:
        assert manifest["nodes"][uid]["config"]["severity"].lower() == "error"
        assert results[uid]["status"] == "pass"

    files = json.loads((project / SAMPLE / "manifest.json").read_text(encoding="utf-8"))["files"]
    (duplicated,) = nodes_named(manifest, "source_unique_shop_products_product_id")
    assert manifest["nodes"][duplicated]["config"]["severity"].lower() == "warn"
    assert manifest["nodes"][duplicated]["config"]["meta"]["note"]
    assert results[duplicated]["status"] == "warn"
    assert results[duplicated]["failures"] == files["products.csv"]["duplicate_rows"] > 0

    infos = [
        uid for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and node["config"]["meta"].get("severity") == "info"
    ]  # fmt: skip
    assert infos
    for uid in infos:
        assert manifest["nodes"][uid]["config"]["severity"].lower() == "warn"
        assert results[uid]["status"] == "warn"
        assert results[uid]["failures"] > 0  # the statistic really counts rows of the sample


def test_every_model_declares_a_runtime_budget(built: tuple[Path, int, str]) -> None:
    project, _, _ = built
    manifest, results = artifacts(project, "ci")
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    assert models
    for uid, node in models.items():
        assert node["config"]["meta"]["budget_seconds"] > 0, uid
        assert results[uid]["status"] == "success", uid


def test_the_warehouse_reconciles_with_the_finance_reference(built: tuple[Path, int, str]) -> None:
    project, _, _ = built
    manifest, _ = artifacts(project, "ci")
    relations = {
        node["name"]: node["relation_name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    reference_dir = project / "data" / "reference"
    spec = yaml.safe_load((reference_dir / "reconciliations.yml").read_text(encoding="utf-8"))
    assert spec["reconciliations"]
    # The relations of the manifest are the audit location's, where the run built everything.
    with warehouse_of(project).session(AUDIT, read_only=True) as session:
        for check in spec["reconciliations"]:
            names, found = session.query_with_names(check["query"].format_map(relations))
            got = {tuple(str(row[names.index(key)]) for key in check["keys"]): row for row in found}
            with (reference_dir / check["reference"]).open(encoding="utf-8", newline="") as handle:
                expected = {tuple(row[key] for key in check["keys"]): row for row in csv.DictReader(handle)}
            assert got.keys() == expected.keys(), check["name"]
            for key, row in expected.items():
                for figure in check["figures"]:
                    gap = abs(Decimal(str(got[key][names.index(figure)])) - Decimal(row[figure]))
                    assert gap <= Decimal(str(check["tolerance"]["absolute"])), (check["name"], key, figure)


def test_a_join_that_fans_out_on_the_repeated_products_stops_the_line(project: Path) -> None:
    """Without the dedupe (and the staging key test), only no_fanout stands between the feed and the marts."""
    (project / "models" / "staging" / "shop" / "stg_shop__products.sql").write_text(
        PRODUCTS_WITHOUT_DEDUPE, encoding="utf-8"
    )
    models_yml = project / "models" / "staging" / "shop" / "_shop__models.yml"
    document = yaml.safe_load(models_yml.read_text(encoding="utf-8"))
    products = next(model for model in document["models"] if model["name"] == "stg_shop__products")
    key = next(column for column in products["columns"] if column["name"] == "product_id")
    key["data_tests"] = ["not_null"]
    models_yml.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    code, out = run(project, "run", "--env", "ci")
    assert code == 1, out
    assert "no_fanout_int_order_items_joined" in out
    manifest, results = artifacts(project, "ci")
    (fanout,) = nodes_named(manifest, "no_fanout_int_order_items_joined")
    assert manifest["nodes"][fanout]["config"]["severity"].lower() == "error"
    assert results[fanout]["status"] == "fail"


def _latest_failures(project: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    report = json.loads(max((project / "reports" / "ci").glob("*/report.json")).read_text(encoding="utf-8"))
    return report, {c["name"]: c for c in report["checks"] if c["status"] == "fail"}


def test_output_checks_fail_at_error_level_and_nothing_is_published(project: Path) -> None:
    """An accepted range, a relationship and an enforced contract, each broken: each stops the line."""
    properties = project / "models" / "marts" / "sales" / "_sales__models.yml"
    original = properties.read_text(encoding="utf-8")
    document = yaml.safe_load(original)
    columns = {c["name"]: c for c in next(m for m in document["models"] if m["name"] == "fct_orders")["columns"]}
    columns["net_amount"].setdefault("data_tests", []).append({"accepted_range": {"arguments": {"max_value": 0}}})
    columns["customer_id"]["data_tests"].append(
        {"relationships": {"arguments": {"to": "ref('stg_shop__products')", "field": "product_id"}}}
    )
    properties.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    code, out = run(project, "run", "--env", "ci")
    assert code == 1, out
    report, failed = _latest_failures(project)
    range_check = next(c for name, c in failed.items() if name.startswith("accepted_range_fct_orders_net_amount"))
    relationship = next(c for name, c in failed.items() if name.startswith("relationships_fct_orders_customer_id"))
    assert (range_check["stage"], range_check["severity"]) == ("output", "error")
    assert (relationship["stage"], relationship["severity"]) == ("output", "error")
    assert report["status"] == "failed"

    # The contract: dim_customers returns a column its contract does not declare.
    properties.write_text(original, encoding="utf-8")
    model = project / "models" / "marts" / "sales" / "dim_customers.sql"
    text = model.read_text(encoding="utf-8")
    broken = text.replace("select * from final", "select *, 1 as undeclared_column from final")
    model.write_text(broken, encoding="utf-8")
    code, out = run(project, "build", "--env", "ci")
    assert code == 1, out
    report, failed = _latest_failures(project)
    assert (failed["dim_customers"]["stage"], failed["dim_customers"]["severity"]) == ("build", "error")
    assert "contract" in failed["dim_customers"]["message"].lower()
    assert warehouse_of(project).snapshot() == {}  # nothing was ever published here


def _revenue_by_day_and_channel(project: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(published daily mart rows, the same figures from fct_orders), as (order_date, channel, net_revenue)."""
    with warehouse_of(project).session(PUBLISHED, read_only=True) as session:
        daily_mart = session.relation(dbt_schema(project, "ci", "fct_daily_revenue"), "fct_daily_revenue")
        orders_mart = session.relation(dbt_schema(project, "ci", "fct_orders"), "fct_orders")
        daily = session.query(f"select order_date, channel, net_revenue from {daily_mart} order by 1, 2")
        orders = session.query(
            f"select order_date, channel, cast(sum(net_amount) as numeric(12, 2)) from {orders_mart} "
            "where status != 'cancelled' group by order_date, channel order by 1, 2"
        )
    return daily, orders


def test_changed_past_raw_rows_are_reprocessed_and_the_marts_agree(project: Path, tmp_path: Path) -> None:
    """Old orders move channel in a new raw data set: the incremental mart is rebuilt, not left with old batches."""
    code, out = run(project, "run", "--env", "ci")  # the build of the committed sample, in this test's own instance
    assert code == 0, out
    raw = tmp_path / "raw"
    shutil.copytree(project / SAMPLE, raw)
    orders = raw / "orders.parquet"
    with duckdb.connect() as con:  # January to March 2025 were months ago: past batches of the daily mart
        con.execute(
            "copy (select * replace (case when ordered_at < timestamp '2025-04-01' and channel = 'web' "
            "then 'store' else channel end as channel) from read_parquet(?)) to ? (format parquet)",
            [str(project / SAMPLE / "orders.parquet"), str(orders)],
        )

    code, out = run(project, "run", "--env", "ci", "--raw-dir", str(raw))
    assert code == 0, out
    assert "reprocessing every period of the incremental models (--full-refresh): raw data changed" in out
    assert f"{dbt_schema(project, 'ci', 'orders')}.orders" in out
    daily, from_orders = _revenue_by_day_and_channel(project)
    assert daily == from_orders
    assert not [row for row in daily if str(row[0]) < "2025-04-01" and row[1] == "web"]


class _Undo(Exception):
    """Raised to roll back what a test changed in a shared build."""


def test_the_daily_mart_reconciles_with_fct_orders_at_error_level(built: tuple[Path, int, str]) -> None:
    """The dbt data test that runs in every build returns the (day, channel) groups where the marts disagree."""
    project, code, out = built
    assert code == 0, out
    manifest, results = artifacts(project, "ci")
    (uid,) = nodes_named(manifest, "assert_daily_revenue_reconciles_with_orders")
    assert manifest["nodes"][uid]["config"]["severity"].lower() == "error"
    assert results[uid]["status"] == "pass"
    compiled = next((project / "target" / "ci" / "compiled").rglob("assert_daily_revenue_reconciles_with_orders.sql"))
    test_sql = compiled.read_text(encoding="utf-8")
    drift: list[tuple[Any, ...]] = []
    # The compiled test names the audit location's relations; the changes below are rolled back, the build is shared.
    with warehouse_of(project).session(AUDIT) as session, contextlib.suppress(_Undo), session.transaction():
        assert session.query(test_sql) == []
        mart = session.relation(dbt_schema(project, "ci", "fct_daily_revenue"), "fct_daily_revenue")
        first, second = (row[0] for row in session.query(f"select distinct order_date from {mart} order by 1 limit 2"))
        # A cent of rounding passes; two cents on one day and channel, or a missing group, do not.
        bump = f"update {mart} set net_revenue = net_revenue + 0.01 where order_date = ?"
        session.execute(bump, [first])
        assert session.query(test_sql) == []
        session.execute(bump, [first])
        session.execute(f"delete from {mart} where order_date = ?", [second])
        drift = session.query(test_sql)
        raise _Undo
    assert {row[2] for row in drift} == {first, second}
