"""Unit tests of checks.py, field by field: each check is compared whole, so a changed word or limit fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from {{ cookiecutter.package_name }} import checks
from {{ cookiecutter.package_name }}.checks import Check
from {{ cookiecutter.package_name }}.warehouses.duckdb import Session, attach_read_only


def _write(folder: Path, name: str, data: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("severity", "status", "stops", "flagged"),
    [
        ("error", "fail", True, False),
        ("error", "pass", False, False),
        ("warn", "fail", False, True),
        ("warn", "pass", False, False),
        ("info", "fail", False, False),
    ],
)
def test_only_a_failed_error_stops_the_line_and_only_a_failed_warning_is_flagged(
    severity: str, status: str, stops: bool, flagged: bool
) -> None:
    check = Check("output", "keys", severity, status)
    assert (check.stops_the_line, check.flagged) == (stops, flagged)


def test_a_check_as_a_dict_holds_every_field() -> None:
    check = Check("input", "share", "warn", "fail", "3 of 9", 0.5, "<= 1%")
    assert check.as_dict() == {
        "stage": "input", "name": "share", "severity": "warn", "status": "fail", "message": "3 of 9",
        "observed": 0.5, "expected": "<= 1%",
    }  # fmt: skip


def test_verdict_counts_errors_warnings_and_failed_info() -> None:
    found = [
        Check("a", "1", "error", "fail"),
        Check("a", "2", "error", "fail"),
        Check("a", "3", "error", "pass"),
        Check("a", "4", "warn", "fail"),
        Check("a", "5", "warn", "pass"),
        Check("a", "6", "info", "fail"),
        Check("a", "7", "info", "fail"),
        Check("a", "8", "info", "fail"),
        Check("a", "9", "info", "pass"),
    ]
    assert checks.verdict(iter(found)) == (2, 1, 3)


def test_read_json_is_the_object_or_empty(tmp_path: Path) -> None:
    assert checks.read_json(tmp_path / "absent.json") == {}
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    assert checks.read_json(tmp_path / "list.json") == {}
    (tmp_path / "dict.json").write_text('{"nodes": {"a": "é"}}', encoding="utf-8")
    assert checks.read_json(tmp_path / "dict.json") == {"nodes": {"a": "é"}}
    (tmp_path / "folder.json").mkdir()
    assert checks.read_json(tmp_path / "folder.json") == {}


# ---- from_dbt: stages, severities and every field of a dbt test's check ----


def _test_node(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "resource_type": "test", "test_metadata": {"name": "not_null"}, "config": {}, **fields}


NODES = {
    "model.p.stg_orders": {"resource_type": "model", "name": "stg_orders", "fqn": ["p", "staging", "stg_orders"]},
    "model.p.int_lines": {"resource_type": "model", "name": "int_lines", "fqn": ["p", "intermediate", "int_lines"]},
    "model.p.fct_orders": {"resource_type": "model", "name": "fct_orders", "fqn": ["p", "marts", "fct_orders"]},
}


@pytest.mark.parametrize(
    ("node", "stage"),
    [
        # a declared stage wins over every other rule, from the node's meta or its config's meta
        (_test_node("t", meta={"stage": "pii"}, test_metadata={"name": "no_fanout"}), "pii"),
        (_test_node("t", config={"meta": {"stage": "trend"}}, resource_type="unit_test"), "trend"),
        (_test_node("t", resource_type="unit_test", test_metadata={"name": "no_fanout"}), "business"),
        (_test_node("t", test_metadata={"name": "no_fanout"}, depends_on={"nodes": ["source.p.shop.orders"]}), "joins"),
        (_test_node("t", test_metadata=None, depends_on={"nodes": ["source.p.shop.orders"]}), "input"),
        (_test_node("t", depends_on={"nodes": ["model.p.fct_orders", "source.p.shop.orders"]}), "input"),
        (_test_node("t", test_metadata=None, depends_on={"nodes": ["model.p.stg_orders"]}), "business"),
        (_test_node("t", depends_on={"nodes": ["model.p.stg_orders"]}), "input"),
        (_test_node("t", depends_on={"nodes": ["model.p.int_lines", "model.p.stg_orders"]}), "input"),
        (_test_node("t", depends_on={"nodes": ["model.p.int_lines"]}), "joins"),
        (_test_node("t", depends_on={"nodes": ["model.p.fct_orders"]}), "output"),
        (_test_node("t"), "output"),
        # a relationship test attached to a mart belongs to the mart, though it also reads a staging model
        (
            _test_node(
                "t",
                attached_node="model.p.fct_orders",
                depends_on={"nodes": ["model.p.fct_orders", "model.p.stg_orders"]},
            ),
            "output",
        ),
        (_test_node("t", attached_node="model.p.int_lines", depends_on={"nodes": ["model.p.fct_orders"]}), "joins"),
    ],
)
def test_a_dbt_test_lands_in_its_stage(tmp_path: Path, node: dict[str, Any], stage: str) -> None:
    _write(tmp_path, "manifest.json", {"nodes": {**NODES, "test.p.t": node}})
    _write(tmp_path, "run_results.json", {"results": [{"unique_id": "test.p.t", "status": "pass"}]})
    assert checks.from_dbt(tmp_path) == [Check(stage, "t", "error", "pass")]


@pytest.mark.parametrize(
    ("config", "meta", "severity"),
    [
        ({}, {}, "error"),
        ({"severity": "warn"}, {}, "warn"),
        ({"severity": "WARN"}, {}, "warn"),
        ({"severity": "warn", "meta": {"severity": "info"}}, {}, "info"),
        ({"severity": "warn"}, {"severity": "Info"}, "info"),
        ({"severity": "fatal"}, {}, "error"),
    ],
)
def test_a_dbt_tests_severity_is_its_declared_one(
    tmp_path: Path, config: dict[str, Any], meta: dict[str, Any], severity: str
) -> None:
    _write(tmp_path, "manifest.json", {"nodes": {"test.p.t": _test_node("t", config=config, meta=meta)}})
    _write(tmp_path, "run_results.json", {"results": [{"unique_id": "test.p.t", "status": "pass"}]})
    assert [c.severity for c in checks.from_dbt(tmp_path)] == [severity]


def test_every_field_of_a_dbt_tests_check(tmp_path: Path) -> None:
    nodes = {
        "test.p.keys.0a1b2c": _test_node("keys", config={"severity": "warn"}),
        "test.p.fine": _test_node("fine"),
        "test.p.broken": _test_node("broken", config={"severity": "warn"}),
        "test.p.crashed": _test_node("crashed", config={"meta": {"severity": "info"}}),
    }
    units = {
        "unit_test.p.fct_orders.nets_v2": {"resource_type": "unit_test", "name": "nets", "config": {"severity": "warn"}}
    }
    results = [
        {"unique_id": "test.p.keys.0a1b2c", "status": "warn", "failures": 2, "message": "Got 2 results"},
        {"unique_id": "test.p.fine", "status": "pass", "failures": 0, "message": "ok but ignored"},
        {"unique_id": "test.p.broken", "status": "error", "failures": None, "message": "Binder Error"},
        {"unique_id": "test.p.crashed", "status": "runtime error", "message": "boom"},
        {"unique_id": "test.p.unknown_test", "status": "fail", "failures": 1},
        {"unique_id": "unit_test.p.fct_orders.nets_v2", "status": "fail", "message": "actual differs"},
        {"unique_id": "unit_test.p.fct_orders.skipped_one", "status": "skipped"},
        {"unique_id": "model.p.fct_orders", "status": "success", "message": "OK"},
        {"unique_id": "model.p.int_lines", "status": "error", "message": "Catalog Error"},
        {"unique_id": "seed.p.calendar", "status": "error"},
        {"unique_id": "snapshot.p.customers", "status": "skipped", "message": "skipped"},
    ]
    _write(tmp_path, "manifest.json", {"nodes": {**NODES, **nodes}, "unit_tests": units})
    _write(tmp_path, "run_results.json", {"results": results})
    assert checks.from_dbt(tmp_path) == [
        Check("output", "keys", "warn", "fail", "Got 2 results", 2.0),
        Check("output", "fine", "error", "pass", "", 0.0),
        Check("output", "broken", "error", "fail", "Binder Error", None),  # could not run: an error
        Check("output", "crashed", "info", "fail", "boom", None),
        Check("business", "unknown_test", "error", "fail", "", 1.0),  # no node: no test_metadata
        Check("business", "nets", "warn", "fail", "actual differs"),  # the unit test's own node
        Check("business", "skipped_one", "error", "pass"),
        Check("build", "int_lines", "error", "fail", "Catalog Error"),
        Check("build", "calendar", "error", "fail", ""),
    ]


def test_without_artifacts_there_are_no_dbt_checks(tmp_path: Path) -> None:
    assert checks.from_dbt(tmp_path) == []


EMPTY = "shop.orders has no rows: nothing was loaded into it"


@pytest.mark.parametrize(
    ("result", "check"),
    [
        ({"status": "pass", "max_loaded_at": "2025-01-01T00:00:00", "max_loaded_at_time_ago_in_s": 90.4},
         Check("input", "freshness of shop.orders", "warn", "pass", "last loaded 90 s ago", 90.4)),
        ({"status": "warn", "max_loaded_at_time_ago_in_s": 90000.0},
         Check("input", "freshness of shop.orders", "warn", "fail", "last loaded 90000 s ago", 90000.0)),
        ({"status": "error", "max_loaded_at_time_ago_in_s": 200000.0},
         Check("input", "freshness of shop.orders", "error", "fail", "last loaded 200000 s ago", 200000.0)),
        ({"status": "runtime error"},
         Check("input", "freshness of shop.orders", "error", "fail", "last loaded 0 s ago", None)),
        ({"status": "pass", "max_loaded_at": None, "max_loaded_at_time_ago_in_s": 5.0},
         Check("input", "freshness of shop.orders", "warn", "fail", EMPTY)),
        ({"status": "pass", "max_loaded_at": "0001-01-01T00:00:00", "max_loaded_at_time_ago_in_s": 5.0},
         Check("input", "freshness of shop.orders", "warn", "fail", EMPTY)),
        ({"status": "pass", "max_loaded_at": "2001-01-01T00:00:00", "max_loaded_at_time_ago_in_s": 3.2e9},
         Check("input", "freshness of shop.orders", "warn", "fail", EMPTY)),
        # a century ago exactly is still a (very stale) load
        ({"status": "pass", "max_loaded_at": "1925-01-01", "max_loaded_at_time_ago_in_s": 100 * 365.25 * 86400},
         Check("input", "freshness of shop.orders", "warn", "pass", "last loaded 3155760000 s ago", 3155760000.0)),
    ],
)  # fmt: skip
def test_every_field_of_a_freshness_check(tmp_path: Path, result: dict[str, Any], check: Check) -> None:
    _write(tmp_path, "sources.json", {"results": [{"unique_id": "source.p.shop.orders", **result}]})
    assert checks.from_dbt(tmp_path) == [check]


# ---- quarantine and runtime budgets ----


def test_every_field_of_the_quarantine_checks() -> None:
    loaded = {"orders": 9_900, "customers": 950, "items": 0, "payments": 1_234}
    quarantined = {"orders": 100, "customers": 50, "payments": 12_000}
    assert checks.quarantine_checks(loaded, quarantined) == [
        Check("input", "quarantined share of customers", "warn", "fail", "50 of 1,000 rows (5.0%) quarantined",
              0.05, "<= 1% (error above 5%)"),
        Check("input", "quarantined share of items", "warn", "pass", "0 of 0 rows (0.0%) quarantined",
              0.0, "<= 1% (error above 5%)"),
        Check("input", "quarantined share of orders", "warn", "pass", "100 of 10,000 rows (1.0%) quarantined",
              0.01, "<= 1% (error above 5%)"),
        Check("input", "quarantined share of payments", "error", "fail", "12,000 of 13,234 rows (90.7%) quarantined",
              0.906755, "<= 1% (error above 5%)"),
    ]  # fmt: skip


def test_the_quarantine_thresholds_may_be_set() -> None:
    (check,) = checks.quarantine_checks({"orders": 80}, {"orders": 20}, warn_share=0.1, error_share=0.3)
    assert check == Check(
        "input", "quarantined share of orders", "warn", "fail", "20 of 100 rows (20.0%) quarantined", 0.2,
        "<= 10% (error above 30%)",
    )  # fmt: skip
    (check,) = checks.quarantine_checks({"orders": 60}, {"orders": 40}, warn_share=0.1, error_share=0.3)
    assert (check.severity, check.status) == ("error", "fail")


def test_every_field_of_the_budget_checks(tmp_path: Path) -> None:
    nodes = {
        "model.p.a": {"resource_type": "model", "name": "a", "config": {"meta": {"budget_seconds": 2}}},
        "model.p.b": {
            "resource_type": "model",
            "name": "b",
            "meta": {"budget_seconds": 1.5, "budget_severity": "error"},
        },
        "model.p.c": {"resource_type": "model", "name": "c", "config": {"meta": {"budget_seconds": 3}}},
        "model.p.free": {"resource_type": "model", "name": "free", "config": {"meta": {}}},
        "test.p.t": {"resource_type": "test", "name": "t", "config": {"meta": {"budget_seconds": 1}}},
    }
    results = [
        {"unique_id": "model.p.free", "execution_time": 99.0},  # no budget, no test, no node: no check
        {"unique_id": "test.p.t", "execution_time": 99.0},
        {"unique_id": "model.p.gone", "execution_time": 99.0},
        {"unique_id": "model.p.a", "execution_time": 2.0},  # exactly the budget: passes
        {"unique_id": "model.p.b", "execution_time": 1.23456},
        {"unique_id": "model.p.c", "execution_time": 3.0004},
    ]
    _write(tmp_path, "manifest.json", {"nodes": nodes})
    _write(tmp_path, "run_results.json", {"results": results})
    assert checks.budget_checks(tmp_path) == [
        Check("performance", "runtime of a", "warn", "pass", "2.00 s against a budget of 2 s", 2.0, "<= 2 s"),
        Check("performance", "runtime of b", "error", "pass", "1.23 s against a budget of 1.5 s", 1.235, "<= 1.5 s"),
        Check("performance", "runtime of c", "warn", "fail", "3.00 s against a budget of 3 s", 3.0, "<= 3 s"),
    ]
    results[3].pop("execution_time")
    _write(tmp_path, "run_results.json", {"results": results[3:4]})
    assert checks.budget_checks(tmp_path) == [
        Check("performance", "runtime of a", "warn", "pass", "0.00 s against a budget of 2 s", 0.0, "<= 2 s")
    ]


def test_without_a_manifest_no_runtime_is_judged(tmp_path: Path) -> None:
    assert checks.budget_checks(tmp_path) == []
    _write(tmp_path, "run_results.json", {"results": [{"unique_id": "model.p.a", "execution_time": 2.0}]})
    assert checks.budget_checks(tmp_path) == []
    _write(tmp_path, "manifest.json", {"metadata": {}})
    assert checks.budget_checks(tmp_path) == []


# ---- regression against production ----


def _mart(name: str = "fct_sales", **meta: Any) -> dict[str, Any]:
    return {
        "resource_type": "model", "name": name, "fqn": ["p", "marts", name], "schema": "main", "alias": name,
        "config": {"meta": meta},
    }  # fmt: skip


def _production(tmp_path: Path, sql: str, name: str = "prod.duckdb") -> Path:
    production = tmp_path / name
    with duckdb.connect(str(production)) as con:
        con.execute(sql)
    return production


def test_every_field_of_the_regression_checks(tmp_path: Path) -> None:
    production = _production(
        tmp_path,
        "create table fct_sales as select range as id, 10.0 as amount, -2.0 as fee from range(100);"
        "create table fct_other as select 1 as id; create schema sales;"
        "create table sales.fct_new as select 1.0 as amount where false",
    )
    regression = {"metrics": {"amount": "SUM", "fee": "avg", "id": "max"}, "tolerance": 0.02, "severity": "error"}
    nodes = {
        "model.p.fct_sales": _mart(regression=regression),
        "model.p.fct_new": {**_mart("fct_new", regression={"metrics": {"amount": "sum"}}), "schema": "sales"},
        "model.p.fct_bad": _mart("fct_bad", regression={"metrics": {"amount": "median"}}),
        "model.p.dim_sales": {**_mart("dim_sales"), "fqn": ["p", "intermediate", "dim_sales"]},
        "model.p.fct_nofqn": {k: v for k, v in _mart("fct_nofqn").items() if k != "fqn"},
        "model.p.fct_other": _mart("fct_other"),
        "model.p.stg_sales": {**_mart("stg_sales"), "fqn": ["p", "staging", "stg_sales"]},
        "seed.p.fct_seed": {**_mart("fct_seed"), "resource_type": "seed"},
    }
    _write(tmp_path, "manifest.json", {"nodes": nodes})
    with duckdb.connect(str(tmp_path / "ci.duckdb")) as audit:
        audit.execute("create table fct_sales as select range as id, 10.2 as amount, -2.1 as fee from range(110)")
        audit.execute("create schema sales; create table sales.fct_new as select 5.0 as amount")
        audit.execute("create table stg_sales as select 1 as id")
        built = ["model.p.fct_sales", "model.p.fct_new", "model.p.stg_sales", "seed.p.fct_seed", "model.p.fct_sales",
                 "model.p.dim_sales", "model.p.fct_bad", "model.p.absent", "model.p.fct_nofqn"]  # fmt: skip
        found = checks.regression_checks(Session(audit, production), tmp_path, built)
    assert found == [
        Check("regression", "fct_bad against production", "error", "fail",
              "meta.regression.metrics names median; use one of sum, avg, min, max, count"),
        Check("regression", "fct_new rows against production", "warn", "fail",
              "0.00 in production, 1.00 now (+inf%)", None, "within ±10%"),
        Check("regression", "fct_new sum(amount) against production", "warn", "fail",
              "0.00 in production, 5.00 now (+inf%)", None, "within ±1%"),
        Check("regression", "fct_sales rows against production", "error", "pass",
              "100.00 in production, 110.00 now (+10.0%)", 0.1, "within ±10%"),
        Check("regression", "fct_sales SUM(amount) against production", "error", "fail",
              "1,000.00 in production, 1,122.00 now (+12.2%)", 0.122, "within ±2%"),
        Check("regression", "fct_sales avg(fee) against production", "error", "fail",
              "-2.00 in production, -2.10 now (-5.0%)", -0.05, "within ±2%"),
        Check("regression", "fct_sales max(id) against production", "error", "fail",
              "99.00 in production, 109.00 now (+10.1%)", 0.10101, "within ±2%"),
    ]  # fmt: skip


def test_without_a_manifest_nothing_is_compared(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select 1 as id")
    _write(tmp_path, "manifest.json", {"metadata": {}})
    with duckdb.connect() as audit:
        assert checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"]) == []


def test_an_unchanged_empty_mart_and_a_metric_within_tolerance_pass(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select 100.0 as amount where false")
    _write(
        tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart(regression={"metrics": {"amount": "min"}})}}
    )
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select 100.0 as amount where false")
        found = checks.regression_checks(Session(audit, production), tmp_path, {"model.p.fct_sales"})
    assert [(c.status, c.observed, c.message) for c in found] == [
        ("pass", 0.0, "0.00 in production, 0.00 now (+0.0%)"),
        ("pass", 0.0, "0.00 in production, 0.00 now (+0.0%)"),
    ]


def test_a_metric_is_judged_against_the_default_tolerance(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select 100.0 as amount, 50.0 as fee")
    metrics = {"amount": "sum", "fee": "max"}
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart(regression={"metrics": metrics})}})
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select 100.9 as amount, 51.5 as fee")
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
    assert [(c.name, c.status, c.expected) for c in found] == [
        ("fct_sales rows against production", "pass", "within ±10%"),
        ("fct_sales sum(amount) against production", "pass", "within ±1%"),
        ("fct_sales max(fee) against production", "fail", "within ±1%"),
    ]
    assert found[1].observed == pytest.approx(0.009)


def test_a_mart_missing_in_production_is_not_comparable(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table other as select 1 as id")
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart(), "model.p.fct_more": _mart("fct_more")}})
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select 1 as id")
        audit.execute("create table fct_more as select 1 as id")
        found = checks.regression_checks(
            Session(audit, production), tmp_path, ["model.p.fct_sales", "model.p.fct_more"]
        )
    assert [(c.stage, c.name, c.severity, c.status) for c in found] == [
        ("regression", "fct_more against production", "info", "pass"),
        ("regression", "fct_sales against production", "info", "pass"),
    ]
    assert all(c.message.startswith("not comparable: Catalog Error: Table with name fct_") for c in found)


def test_a_comparison_that_fails_for_another_reason_warns_and_never_passes(tmp_path: Path) -> None:
    # A query error other than a missing mart (here max() over text: not a number) would otherwise hide the
    # regression check for good, as `cast(... as double)` did on Postgres.
    production = _production(tmp_path, "create table fct_sales as select 'a' as label")
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart(regression={"metrics": {"label": "max"}})}})
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select 'b' as label")
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
    assert [(c.name, c.severity, c.status) for c in found] == [("fct_sales against production", "warn", "fail")]
    assert found[0].message.startswith("could not compare with production: an aggregate is not a number")


def test_an_unknown_aggregate_is_an_error_naming_each(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select 1.0 as amount")
    metrics = {"amount": "median", "fee": "Sum", "id": "mode"}
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart(regression={"metrics": metrics})}})
    with duckdb.connect() as audit:
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
    assert found == [
        Check("regression", "fct_sales against production", "error", "fail",
              "meta.regression.metrics names median, mode; use one of sum, avg, min, max, count"),
    ]  # fmt: skip


def test_production_attached_already_under_its_name_is_read_there(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select range as id from range(50)")
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart()}})
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select range as id from range(50)")
        attach_read_only(audit, production, "prod")
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
        attached = sorted(row[0] for row in audit.execute("select database_name from duckdb_databases()").fetchall())
    assert [(c.name, c.status, c.message) for c in found] == [
        ("fct_sales rows against production", "pass", "50.00 in production, 50.00 now (+0.0%)")
    ]
    assert "production_prod" not in attached


def test_production_is_attached_read_only_under_a_name_of_its_own(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select range as id from range(40)")
    _write(tmp_path, "manifest.json", {"nodes": {"model.p.fct_sales": _mart()}})
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales as select range as id from range(50)")
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
        assert audit.execute("select count(*) from production_prod.main.fct_sales").fetchone() == (40,)
        names = {row[0] for row in audit.execute("select database_name from duckdb_databases()").fetchall()}
        assert "production_prod" in names
        with pytest.raises(duckdb.Error, match="read-only"):
            audit.execute("insert into production_prod.main.fct_sales values (1)")
    assert [(c.status, c.message) for c in found] == [("fail", "40.00 in production, 50.00 now (+25.0%)")]


@pytest.mark.parametrize("absent", [None, Path("nowhere.duckdb")])
def test_without_a_production_database_regression_only_reports(tmp_path: Path, absent: Path | None) -> None:
    with duckdb.connect() as audit:
        found = checks.regression_checks(Session(audit, absent and tmp_path / absent), tmp_path, ["model.p.fct_sales"])
    assert found == [
        Check("regression", "compared with production", "info", "pass", "no production database to compare with")
    ]


def test_attach_read_only_attaches_once(tmp_path: Path) -> None:
    database = _production(tmp_path, "create table t as select 1 as x", name="other.duckdb")
    with duckdb.connect() as audit:
        assert attach_read_only(audit, database, "ref") == "ref"
        assert attach_read_only(audit, database, "ref") == "ref"  # a second attach would raise
        assert audit.execute("select x from ref.t").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error, match="read-only"):
            audit.execute("insert into ref.t values (2)")


# ---- reconciliation with reference reports ----

RECONCILIATIONS = """
reconciliations:
  - name: monthly
    reference: monthly.csv
    keys: [month, region]
    figures: [revenue, orders]
    query: select month, region, sum(amount) as revenue, count(*) as orders from {fct_sales} group by all
    tolerance: {absolute: 0.5}
  - name: loose
    reference: monthly.csv
    keys: [month, region]
    figures: [revenue]
    query: select month, region, sum(amount) as revenue from {fct_sales} group by all
    tolerance: {absolute: 100}
    severity: warn
"""
REFERENCE = "month,region,revenue,orders\n2025-01,eu,30.00,2\n2025-01,us,7.00,1\n2025-02,eu,12.50,1\n2025-03,eu,1,1\n"


def _finance(tmp_path: Path, text: str = RECONCILIATIONS, nodes: dict[str, Any] | None = None) -> tuple[Path, Path]:
    reference = tmp_path / "data" / "reference"
    reference.mkdir(parents=True)
    (reference / "reconciliations.yml").write_text(text, encoding="utf-8")
    (reference / "monthly.csv").write_text(REFERENCE, encoding="utf-8")
    node = {"resource_type": "model", "name": "fct_sales", "schema": "main", "alias": "fct_sales"}
    _write(tmp_path / "target", "manifest.json", {"nodes": nodes or {"model.p.fct_sales": node}})
    return tmp_path, tmp_path / "target"


def test_every_field_of_the_reconciliation_checks(tmp_path: Path) -> None:
    project, target = _finance(tmp_path)
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 'eu', 10.0), ('2025-01', 'eu', 20.5), "
            "('2025-01', 'us', 8.0), ('2025-02', 'eu', 11.0), ('2025-04', 'eu', 3.0)) as t(month, region, amount)"
        )
        found = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert found == [
        Check("business", "reconciliation monthly", "error", "fail",
              "4 of 4 rows differ beyond ±0.5: 2025-01/us revenue: 8.00 here, 7.00 in the reference; "
              "2025-02/eu revenue: 11.00 here, 12.50 in the reference; 2025-03/eu only in the reference",
              None, "within ±0.5"),
        Check("business", "reconciliation loose", "warn", "fail",
              "2 of 4 rows differ beyond ±100: 2025-03/eu only in the reference; 2025-04/eu only in the warehouse",
              None, "within ±100"),
    ]  # fmt: skip


def test_a_reconciliation_reports_its_worst_gap(tmp_path: Path) -> None:
    project, target = _finance(tmp_path)
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 'eu', 29.5), ('2025-01', 'eu', 2.0), "
            "('2025-01', 'us', 7.5), ('2025-02', 'eu', 10.0), ('2025-03', 'eu', 1.0), ('2025-03', 'eu', null)) "
            "as t(month, region, amount)"
        )
        monthly, loose = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert (monthly.status, monthly.observed) == ("fail", 2.5)
    assert monthly.message == (
        "3 of 4 rows differ beyond ±0.5: 2025-01/eu revenue: 31.50 here, 30.00 in the reference; "
        "2025-02/eu revenue: 10.00 here, 12.50 in the reference; 2025-03/eu orders: 2.00 here, 1.00 in the reference"
    )
    assert loose == Check(
        "business", "reconciliation loose", "warn", "pass", "4 rows agree within ±100", 0.0, "within ±100"
    )


def test_a_gap_equal_to_the_tolerance_agrees(tmp_path: Path) -> None:
    project, target = _finance(tmp_path)
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 'eu', 30.5), ('2025-01', 'eu', 0.0), "
            "('2025-01', 'us', 6.5), ('2025-02', 'eu', 12.5), ('2025-03', 'eu', 1.0)) as t(month, region, amount)"
        )
        monthly, _ = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert monthly == Check(
        "business", "reconciliation monthly", "error", "pass", "4 rows agree within ±0.5", 0.0, "within ±0.5"
    )


def test_a_reconciliation_without_a_tolerance_is_exact(tmp_path: Path) -> None:
    text = RECONCILIATIONS.replace("    tolerance: {absolute: 0.5}\n", "")
    project, target = _finance(tmp_path, text)
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 'eu', 30.0), ('2025-01', 'eu', 0.0), "
            "('2025-01', 'us', 7.0), ('2025-02', 'eu', 12.51), ('2025-03', 'eu', 1.0)) as t(month, region, amount)"
        )
        monthly, _ = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert (monthly.status, monthly.expected, monthly.observed) == ("fail", "within ±0", 0.01)
    assert monthly.message == "1 of 4 rows differ beyond ±0: 2025-02/eu revenue: 12.51 here, 12.50 in the reference"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select 1 from {fct_sales} join {fct_gone} using (month)", "query names an unknown model 'fct_gone'"),
        ("select * from {stg_sales}", "query names an unknown model 'stg_sales'"),  # a test, not a model
    ],
)
def test_a_reconciliation_naming_an_unknown_model_is_an_error(tmp_path: Path, query: str, message: str) -> None:
    text = (
        "reconciliations:\n  - name: r\n    reference: monthly.csv\n    keys: [month]\n    figures: [revenue]\n"
        f"    query: {query}\n    severity: warn\n"
        "  - name: r2\n    reference: monthly.csv\n    keys: [month]\n    figures: [revenue]\n"
        "    query: select month, revenue from {fct_sales}\n"
    )
    nodes = {
        "model.p.fct_sales": {"resource_type": "model", "name": "fct_sales", "schema": "main"},
        "test.p.stg_sales": {"resource_type": "test", "name": "stg_sales", "schema": "main"},
    }
    project, target = _finance(tmp_path, text, nodes)
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert found[0] == Check("business", "reconciliation r", "error", "fail", message)
    assert (found[1].stage, found[1].name, found[1].status) == ("business", "reconciliation r2", "fail")
    assert len(found) == 2  # the next reconciliation is still judged


def test_a_reconciliation_of_a_relation_gone_from_the_warehouse_is_an_error(tmp_path: Path) -> None:
    project, target = _finance(tmp_path)
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert [(c.stage, c.name, c.severity, c.status) for c in found] == [
        ("business", "reconciliation monthly", "error", "fail"),
        ("business", "reconciliation loose", "error", "fail"),
    ]
    assert found[0].message.startswith("could not read the warehouse: Catalog Error: Table with name fct_sales")


def test_a_reconciliation_of_a_model_neither_built_nor_deferred_is_not_compared(tmp_path: Path) -> None:
    production = _production(tmp_path, "create table fct_sales as select 1 as x")
    project, target = _finance(tmp_path)  # no defer_relation: a production file does not help
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(
            Session(audit, production), project, project / "raw", target, built=["model.p.other"], deferred=True
        )
    message = "not compared: fct_sales was not built or deferred to by this run"
    assert found == [
        Check("business", "reconciliation monthly", "info", "pass", message),
        Check("business", "reconciliation loose", "info", "pass", message),
    ]


def test_a_deferred_model_is_read_from_production_under_its_database_name(tmp_path: Path) -> None:
    production = _production(
        tmp_path,
        "create schema marts; create table marts.sales as select * from (values ('2025-01', 'eu', 30.0, 2), "
        "('2025-01', 'us', 7.0, 1), ('2025-02', 'eu', 12.5, 1), ('2025-03', 'eu', 1.0, 1)) "
        "as t(month, region, amount, n)",
    )
    text = RECONCILIATIONS.replace("count(*)", "sum(n)")
    defer = {"database": "live", "schema": "marts", "alias": "sales"}
    nodes = {
        "model.p.fct_sales": {"resource_type": "model", "name": "fct_sales", "schema": "main", "defer_relation": defer},
        "model.p.fct_empty": {"resource_type": "model", "name": "fct_empty", "schema": "main", "defer_relation": {}},
    }
    project, target = _finance(tmp_path, text, nodes)
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(
            Session(audit, production), project, project / "raw", target, deferred=True
        )
        attached = {row[0] for row in audit.execute("select database_name from duckdb_databases()").fetchall()}
    assert [(c.status, c.message) for c in found] == [
        ("pass", "4 rows agree within ±0.5"),
        ("pass", "4 rows agree within ±100"),
    ]
    assert "live" in attached


def test_a_deferred_relation_without_database_or_alias_uses_production_and_the_model_name(tmp_path: Path) -> None:
    production = _production(
        tmp_path,
        "create schema marts; create table marts.fct_sales as select * from (values ('2025-01', 'eu', 30.0), "
        "('2025-01', 'eu', 0.0), ('2025-01', 'us', 7.0), ('2025-02', 'eu', 12.5), ('2025-03', 'eu', 1.0)) "
        "as t(month, region, amount)",
        name="warehouse.duckdb",
    )
    nodes = {
        "model.p.fct_sales": {"resource_type": "model", "name": "fct_sales", "defer_relation": {"schema": "marts"}}
    }
    project, target = _finance(tmp_path, nodes=nodes)
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(
            Session(audit, production), project, project / "raw", target, deferred=True
        )
        attached = {row[0] for row in audit.execute("select database_name from duckdb_databases()").fetchall()}
    assert [c.status for c in found] == ["pass", "pass"]
    assert "warehouse" in attached


def test_a_null_figure_counts_as_zero(tmp_path: Path) -> None:
    project, target = _finance(tmp_path)
    reference = project / "data" / "reference" / "monthly.csv"
    reference.write_text("month,region,revenue,orders\n2025-03,eu,0.61234567,1\n2025-04,eu,0,1\n", encoding="utf-8")
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-03', 'eu', null), ('2025-04', 'eu', null)) "
            "as t(month, region, amount)"
        )
        monthly, _ = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert monthly == Check(
        "business", "reconciliation monthly", "error", "fail",
        "1 of 2 rows differ beyond ±0.5: 2025-03/eu revenue: 0.00 here, 0.61 in the reference", 0.612346,
        "within ±0.5",
    )  # fmt: skip


def test_a_built_model_is_read_from_its_schema_under_its_alias(tmp_path: Path) -> None:
    nodes = {
        "test.p.t": {"resource_type": "test", "name": "t", "schema": "main"},
        "model.p.fct_sales": {"resource_type": "model", "name": "fct_sales", "schema": "finance", "alias": "sales_v2"},
    }
    project, target = _finance(tmp_path, nodes=nodes)
    with duckdb.connect() as audit:
        audit.execute("create schema finance; create table fct_sales (month varchar, region varchar, amount double)")
        audit.execute(
            "create table finance.sales_v2 as select * from (values ('2025-01', 'eu', 30.0), ('2025-01', 'eu', 0.0), "
            "('2025-01', 'us', 7.0), ('2025-02', 'eu', 12.5), ('2025-03', 'eu', 1.0)) as t(month, region, amount)"
        )
        found = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert [c.message for c in found] == ["4 rows agree within ±0.5", "4 rows agree within ±100"]


def test_a_built_model_without_alias_is_read_under_its_name(tmp_path: Path) -> None:
    nodes = {"model.p.fct_sales": {"resource_type": "model", "name": "fct_sales", "schema": "main", "alias": None}}
    project, target = _finance(tmp_path, nodes=nodes)
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 'eu', 30.0), ('2025-01', 'eu', 0.0), "
            "('2025-01', 'us', 7.0), ('2025-02', 'eu', 12.5), ('2025-03', 'eu', 1.0)) as t(month, region, amount)"
        )
        found = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert [c.message for c in found] == ["4 rows agree within ±0.5", "4 rows agree within ±100"]


@pytest.mark.parametrize(
    ("reference", "raw", "compared"),
    [
        ({"seed": 1, "scale": 0.01}, {"seed": 1, "scale": 0.01}, True),
        ({"seed": 1, "scale": 0.01}, None, True),  # cannot tell: compare
        (None, {"seed": 1, "scale": 0.01}, True),
        ({"seed": 1, "scale": 0.01}, {"seed": 2, "scale": 0.01}, False),
        ({"seed": 1, "scale": 0.01}, {"seed": 1, "scale": 0.5}, False),
    ],
)
def test_a_reference_is_compared_only_with_raw_data_of_its_seed_and_scale(
    tmp_path: Path, reference: dict[str, Any] | None, raw: dict[str, Any] | None, compared: bool
) -> None:
    project, target = _finance(tmp_path)
    if reference:
        _write(project / "data" / "reference", "manifest.json", reference)
    if raw:
        _write(project / "raw", "manifest.json", raw)
    with duckdb.connect() as audit:
        found = checks.reconciliation_checks(Session(audit), project, project / "raw", target)
    if compared:  # fct_sales was not built: not compared for that reason
        assert {c.message for c in found} == {"not compared: fct_sales was not built or deferred to by this run"}
    else:
        assert reference and raw
        message = (
            f"not compared: the reference describes raw data of seed 1 at scale 0.01; "
            f"this run's is seed {raw['seed']} at scale {raw['scale']}"
        )
        assert found == [
            Check("business", "reconciliation monthly", "info", "pass", message),
            Check("business", "reconciliation loose", "info", "pass", message),
        ]


@pytest.mark.parametrize("text", [None, "", "reconciliations:\n"])
def test_without_declared_reconciliations_there_are_none(tmp_path: Path, text: str | None) -> None:
    if text is not None:
        (tmp_path / "data" / "reference").mkdir(parents=True)
        (tmp_path / "data" / "reference" / "reconciliations.yml").write_text(text, encoding="utf-8")
    with duckdb.connect() as audit:
        assert checks.reconciliation_checks(Session(audit), tmp_path, tmp_path / "raw", tmp_path / "target") == []
