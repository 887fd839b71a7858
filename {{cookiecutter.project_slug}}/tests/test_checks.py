"""Severities: error stops the line, warn flags, info only reports; each check lands in its stage."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.package_name }} import build, checks, config
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.warehouses.duckdb import Session


def _node(name: str, **config: object) -> dict[str, object]:
    return {
        "name": name,
        "resource_type": "test",
        "config": config,
        "test_metadata": {"name": "accepted_range"},
        "depends_on": {"nodes": ["model.p.fct_orders"]},
    }


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """dbt artifacts with one failing test of each severity, a passing one, a unit test and freshness."""
    nodes = {
        "model.p.fct_orders": {"resource_type": "model", "name": "fct_orders", "fqn": ["p", "marts", "fct_orders"],
                               "config": {"meta": {"budget_seconds": 1}}},
        "test.p.keys": _node("keys"),
        "test.p.dupes": _node("dupes", severity="warn"),
        "test.p.share": _node("share", severity="warn", meta={"severity": "info"}),
        "test.p.fine": _node("fine"),
        "test.p.fan": {**_node("fan"), "test_metadata": {"name": "no_fanout"}},
        "test.p.src": {**_node("src"), "depends_on": {"nodes": ["source.p.shop.orders"]}},
        "test.p.rule": {**_node("rule"), "test_metadata": None},
    }  # fmt: skip
    unit_tests = {"unit_test.p.fct_orders.nets": {"resource_type": "unit_test", "name": "nets", "config": {}}}
    results = [
        {"unique_id": "model.p.fct_orders", "status": "success", "execution_time": 2.5},
        {"unique_id": "test.p.keys", "status": "fail", "failures": 3, "message": "Got 3 results"},
        {"unique_id": "test.p.dupes", "status": "warn", "failures": 2, "message": "Got 2 results"},
        {"unique_id": "test.p.share", "status": "warn", "failures": 40, "message": "Got 40 results"},
        {"unique_id": "test.p.fine", "status": "pass", "failures": 0},
        {"unique_id": "test.p.fan", "status": "pass", "failures": 0},
        {"unique_id": "test.p.src", "status": "pass", "failures": 0},
        {"unique_id": "test.p.rule", "status": "pass", "failures": 0},
        {"unique_id": "unit_test.p.fct_orders.nets", "status": "pass"},
    ]
    sources = [{"unique_id": "source.p.shop.orders", "status": "warn", "max_loaded_at_time_ago_in_s": 90000.0}]
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": nodes, "unit_tests": unit_tests}), encoding="utf-8")
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}), encoding="utf-8")
    (tmp_path / "sources.json").write_text(json.dumps({"results": sources}), encoding="utf-8")
    return tmp_path


def test_each_severity_behaves_as_declared(target: Path) -> None:
    found = {check.name: check for check in checks.from_dbt(target)}
    assert (found["keys"].severity, found["keys"].status, found["keys"].stops_the_line) == ("error", "fail", True)
    assert (found["dupes"].severity, found["dupes"].flagged, found["dupes"].stops_the_line) == ("warn", True, False)
    assert (found["share"].severity, found["share"].flagged, found["share"].stops_the_line) == ("info", False, False)
    assert found["keys"].observed == 3
    assert checks.verdict(found.values()) == (1, 2, 1)  # the stale source is a warning too


def test_checks_land_in_their_stage(target: Path) -> None:
    stages = {check.name: check.stage for check in checks.from_dbt(target)}
    assert stages["fan"] == "joins"
    assert stages["src"] == "input"
    assert stages["rule"] == "business"  # singular tests state business rules
    assert stages["nets"] == "business"  # unit tests too
    assert stages["keys"] == "output"
    assert stages["freshness of shop.orders"] == "input"


def test_a_test_that_cannot_run_is_an_error_whatever_its_severity(target: Path) -> None:
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    results["results"][2]["status"] = "error"
    (target / "run_results.json").write_text(json.dumps(results), encoding="utf-8")
    dupes = next(c for c in checks.from_dbt(target) if c.name == "dupes")
    assert dupes.stops_the_line


def test_a_model_that_crashes_is_an_error_of_the_build_stage(target: Path) -> None:
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    results["results"][0] = {"unique_id": "model.p.fct_orders", "status": "error", "message": "Binder Error"}
    (target / "run_results.json").write_text(json.dumps(results), encoding="utf-8")
    crash = next(c for c in checks.from_dbt(target) if c.stage == "build")
    assert (crash.name, crash.severity, crash.message) == ("fct_orders", "error", "Binder Error")


@pytest.mark.parametrize(
    ("quarantined", "status", "severity"),
    [(0, "pass", "warn"), (5, "pass", "warn"), (30, "fail", "warn"), (80, "fail", "error")],
)
def test_the_quarantined_share_is_a_check_with_two_thresholds(quarantined: int, status: str, severity: str) -> None:
    (check,) = checks.quarantine_checks({"orders": 1000 - quarantined}, {"orders": quarantined})
    assert (check.stage, check.status, check.severity) == ("input", status, severity)
    assert check.observed == pytest.approx(quarantined / 1000)


def test_runtimes_are_checked_against_their_budgets(target: Path) -> None:
    (check,) = checks.budget_checks(target)
    assert (check.stage, check.name, check.status, check.severity) == (
        "performance",
        "runtime of fct_orders",
        "fail",
        "warn",
    )
    assert check.message == "2.50 s against a budget of 1 s"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    manifest["nodes"]["model.p.fct_orders"]["config"]["meta"]["budget_seconds"] = 5
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert checks.budget_checks(target)[0].status == "pass"


def test_a_declared_budget_severity_is_the_checks_severity(target: Path) -> None:
    """`meta.budget_severity: error` makes a blown budget stop the line, not just warn."""
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    manifest["nodes"]["model.p.fct_orders"]["config"]["meta"]["budget_severity"] = "error"
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (check,) = checks.budget_checks(target)
    assert (check.severity, check.status, check.stops_the_line) == ("error", "fail", True)


def test_a_freshness_check_on_an_empty_table_says_it_has_no_rows(target: Path) -> None:
    """dbt reports an empty source as loaded in year 1; the check names the empty table, not an age."""
    empty = {
        "unique_id": "source.p.shop.customers", "status": "error", "max_loaded_at": "0001-01-01T00:00:00+00:00",
        "max_loaded_at_time_ago_in_s": 63931653001.0,
    }  # fmt: skip
    (target / "sources.json").write_text(json.dumps({"results": [empty]}), encoding="utf-8")
    (check,) = [c for c in checks.from_dbt(target) if c.name.startswith("freshness")]
    assert (check.name, check.status, check.severity) == ("freshness of shop.customers", "fail", "error")
    assert check.message == "shop.customers has no rows: nothing was loaded into it"
    assert check.observed is None


def test_regression_against_production_flags_changes_beyond_tolerance(tmp_path: Path) -> None:
    import duckdb  # noqa: PLC0415

    production = tmp_path / "prod__audit.duckdb"
    with duckdb.connect(str(production)) as con:
        con.execute("create table fct_sales as select range as id, 10.0 as amount from range(100)")
    regression = {"metrics": {"amount": "sum"}, "tolerance": 0.05}
    manifest = {
        "nodes": {
            "model.p.fct_sales": {
                "resource_type": "model", "name": "fct_sales", "fqn": ["p", "marts", "fct_sales"], "schema": "main",
                "alias": "fct_sales", "config": {"meta": {"regression": regression}},
            }
        }
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with duckdb.connect(str(tmp_path / "ci__audit.duckdb")) as audit:
        audit.execute("create table fct_sales as select range as id, 10.2 as amount from range(130)")
        results = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
    found = {c.name: c for c in results}
    rows, amount = found["fct_sales rows against production"], found["fct_sales sum(amount) against production"]
    assert (rows.stage, rows.severity, rows.status) == ("regression", "warn", "fail")
    assert rows.message == "100.00 in production, 130.00 now (+30.0%)"
    assert amount.status == "fail"  # 1,000 -> 1,326: beyond the declared 5 %
    assert amount.observed == pytest.approx(0.326)


def _sales_manifest(tmp_path: Path, regression: dict[str, object]) -> None:
    node = {
        "resource_type": "model", "name": "fct_sales", "fqn": ["p", "marts", "fct_sales"], "schema": "main",
        "alias": "fct_sales", "config": {"meta": {"regression": regression}},
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": {"model.p.fct_sales": node}}), encoding="utf-8")


@pytest.mark.parametrize(("amount", "status"), [("10.4", "pass"), ("10.7", "fail")])
def test_regression_applies_the_declared_tolerance_not_the_default(tmp_path: Path, amount: str, status: str) -> None:
    """Declared 5 %: a 4 % change passes and a 7 % change (inside the default 10 %) is flagged."""
    import duckdb  # noqa: PLC0415

    production = tmp_path / "prod.duckdb"
    with duckdb.connect(str(production)) as con:
        con.execute("create table fct_sales as select range as id, 10.0 as amount from range(100)")
    _sales_manifest(tmp_path, {"metrics": {"amount": "sum"}, "tolerance": 0.05})
    with duckdb.connect(str(tmp_path / "ci__audit.duckdb")) as audit:
        audit.execute(f"create table fct_sales as select range as id, {amount} as amount from range(100)")
        found = {
            c.name: c for c in checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
        }
    check = found["fct_sales sum(amount) against production"]
    assert (check.status, check.expected) == (status, "within ±5%")
    assert found["fct_sales rows against production"].status == "pass"


def test_regression_binds_a_production_path_holding_quotes(tmp_path: Path) -> None:
    """The production path is a bound parameter: a quote or SQL in it is only a file name."""
    import duckdb  # noqa: PLC0415

    folder = tmp_path / 'o\'brien "data" é; create table injected (x int)'
    folder.mkdir()
    production = folder / "prod.duckdb"
    with duckdb.connect(str(production)) as con:
        con.execute("create table fct_sales as select range as id, 10.0 as amount from range(100)")
    _sales_manifest(tmp_path, {"metrics": {"amount": "sum"}})
    with duckdb.connect(str(tmp_path / "ci__audit.duckdb")) as audit:
        audit.execute("create table fct_sales as select range as id, 10.0 as amount from range(100)")
        found = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
        tables = {row[0] for row in audit.execute("select table_name from duckdb_tables()").fetchall()}
    assert [c.status for c in found] == ["pass", "pass"]
    assert "injected" not in tables


def test_a_regression_metric_must_name_a_known_aggregate(tmp_path: Path) -> None:
    """An aggregate is spliced into SQL as a keyword: anything but sum, avg, min, max, count is refused."""
    import duckdb  # noqa: PLC0415

    production = tmp_path / "prod.duckdb"
    with duckdb.connect(str(production)) as con:
        con.execute("create table fct_sales as select 1.0 as amount")
    _sales_manifest(tmp_path, {"metrics": {"amount": "sum(amount)) from fct_sales; drop table fct_sales; --"}})
    with duckdb.connect(str(tmp_path / "ci__audit.duckdb")) as audit:
        audit.execute("create table fct_sales as select 1.0 as amount")
        (check,) = checks.regression_checks(Session(audit, production), tmp_path, ["model.p.fct_sales"])
        assert audit.execute("select count(*) from fct_sales").fetchone() == (1,)
    assert (check.severity, check.status) == ("error", "fail")
    assert "use one of sum, avg, min, max, count" in check.message


def test_control_limits_are_three_sigma_wide() -> None:
    """A point 2 standard deviations out is normal variation; only beyond 3 is it flagged."""
    from {{ cookiecutter.package_name }} import history  # noqa: PLC0415

    past = [{"status": "published", "metrics": {"rows": value}} for value in (990.0, 1010.0) * 5]
    spread = statistics.stdev([990.0, 1010.0] * 5)
    (inside,) = history.control(past, {"rows": 1000 + 2 * spread})
    (outside,) = history.control(past, {"rows": 1000 + 3.5 * spread})
    assert not inside.flagged
    assert outside.flagged
    assert inside.upper == pytest.approx(1000 + 3 * spread)


def test_without_production_the_regression_stage_only_reports(tmp_path: Path) -> None:
    import duckdb  # noqa: PLC0415

    with duckdb.connect(str(tmp_path / "a.duckdb")) as audit:
        (check,) = checks.regression_checks(Session(audit, None), tmp_path, [])
    assert (check.severity, check.status, check.message) == ("info", "pass", "no production database to compare with")


RECONCILIATIONS = """
reconciliations:
  - name: monthly_revenue
    reference: monthly.csv
    keys: [month]
    figures: [revenue]
    query: select month, sum(amount) as revenue from {fct_sales} group by 1
    tolerance: {absolute: 0.01}
    severity: error
"""


@pytest.fixture
def finance(tmp_path: Path) -> tuple[Path, Path]:
    """A project with a reconciliation declared against a reference file, and the target dir of a build."""
    reference = tmp_path / "data" / "reference"
    reference.mkdir(parents=True)
    (reference / "reconciliations.yml").write_text(RECONCILIATIONS, encoding="utf-8")
    (reference / "monthly.csv").write_text("month,revenue\n2025-01,30.00\n2025-02,12.50\n", encoding="utf-8")
    target = tmp_path / "target"
    target.mkdir()
    node = {"resource_type": "model", "name": "fct_sales", "schema": "main", "alias": "fct_sales"}
    (target / "manifest.json").write_text(json.dumps({"nodes": {"model.p.fct_sales": node}}), encoding="utf-8")
    return tmp_path, target


@pytest.mark.parametrize(
    ("february", "status", "message"),
    [
        ("12.5", "pass", "2 rows agree within ±0.01"),
        ("12.495", "pass", "2 rows agree within ±0.01"),  # a rounding gap inside the tolerance
        ("12.48", "fail", "1 of 2 rows differ beyond ±0.01: 2025-02 revenue: 12.48 here, 12.50 in the reference"),
        ("12.0", "fail", "1 of 2 rows differ beyond ±0.01: 2025-02 revenue: 12.00 here, 12.50 in the reference"),
    ],
)
def test_a_figure_reconciles_with_its_reference_within_tolerance(
    finance: tuple[Path, Path], february: str, status: str, message: str
) -> None:
    import duckdb  # noqa: PLC0415

    project, target = finance
    with duckdb.connect() as audit:
        audit.execute(
            "create table fct_sales as select * from (values ('2025-01', 10.0), ('2025-01', 20.0), "
            f"('2025-02', {february})) as t(month, amount)"
        )
        (check,) = checks.reconciliation_checks(
            Session(audit), project, project / "raw", target, built=["model.p.fct_sales"]
        )
    assert (check.stage, check.severity, check.status, check.message) == ("business", "error", status, message)


def test_a_reconciliation_of_a_model_this_run_did_not_build_is_not_compared(finance: tuple[Path, Path]) -> None:
    """An empty fct_sales left by `unit-test` is not this run's: "not compared" (info), never a failure."""
    import duckdb  # noqa: PLC0415

    project, target = finance
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales (month varchar, amount double)")
        (check,) = checks.reconciliation_checks(Session(audit), project, project / "raw", target, built=[])
    assert (check.severity, check.status) == ("info", "pass")
    assert check.message == "not compared: fct_sales was not built or deferred to by this run"


def test_a_reconciliation_reads_the_relation_a_slim_build_deferred_to(finance: tuple[Path, Path]) -> None:
    """Deferred to production (dbt's defer_relation): the figures are production's, judged as declared."""
    import duckdb  # noqa: PLC0415

    project, target = finance
    production = project / "prod.duckdb"
    with duckdb.connect(str(production)) as con:
        con.execute(
            "create table fct_sales as select * from (values ('2025-01', 30.0), ('2025-02', 12.0)) t(month, amount)"
        )
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    deferred = {"database": "prod", "schema": "main", "alias": "fct_sales"}
    manifest["nodes"]["model.p.fct_sales"]["defer_relation"] = deferred
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with duckdb.connect() as audit:
        audit.execute("create table fct_sales (month varchar, amount double)")  # empty here: not what is judged
        (check,) = checks.reconciliation_checks(
            Session(audit, production), project, project / "raw", target, built=[], deferred=True
        )
    assert (check.severity, check.status) == ("error", "fail")
    assert "2025-02 revenue: 12.00 here, 12.50 in the reference" in check.message


def test_a_reference_of_other_raw_data_is_not_compared(finance: tuple[Path, Path]) -> None:
    import duckdb  # noqa: PLC0415

    project, target = finance
    (project / "data" / "reference" / "manifest.json").write_text('{"seed": 1, "scale": 0.01}', encoding="utf-8")
    raw = project / "raw"
    raw.mkdir()
    (raw / "manifest.json").write_text('{"seed": 1, "scale": 0.5}', encoding="utf-8")
    with duckdb.connect() as audit:
        (check,) = checks.reconciliation_checks(Session(audit), project, raw, target)
    assert (check.severity, check.status) == ("info", "pass")
    assert "this run's is seed 1 at scale 0.5" in check.message


def _settings(tmp_path: Path) -> config.Settings:
    return config.Settings(
        env="ci", name="ci", project_dir=tmp_path, duckdb_path=tmp_path / "ci.duckdb", raw_dir=tmp_path, threads=1
    )


def test_a_selection_that_matches_no_node_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt answers "Nothing to do" with success and no results: the run must not pass as done."""
    monkeypatch.setattr(build, "invoke", lambda _settings, args, *_, **__: build.BuildResult(args[0], True, ()))
    with pytest.raises(PipelineError, match=r"^--select 'fct_order' matches no node in the project; "):
        build.build(_settings(tmp_path), ["fct_order"])
    assert len(build.build(_settings(tmp_path))) == 2  # no selection: building nothing is not a mistake


def _raw_orders(settings: config.Settings, amounts: tuple[float, ...], loaded_at: str) -> None:
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            "create or replace table raw.orders as select range + 1 as order_id, amount, "
            "cast(? as timestamp) as _loaded_at from (select unnest(?) as amount, range from range(?))",
            [loaded_at, list(amounts), len(amounts)],
        )


def test_changed_past_raw_rows_make_the_incremental_models_reprocess(tmp_path: Path) -> None:
    """A reload of the same rows changes nothing; a changed amount of an old order asks for a full refresh."""
    settings = _settings(tmp_path)
    settings.target_dir.mkdir(parents=True)
    incremental = {"resource_type": "model", "config": {"materialized": "incremental"}}
    (settings.target_dir / "manifest.json").write_text(
        json.dumps({"nodes": {"model.p.fct_daily_revenue": incremental}}), encoding="utf-8"
    )
    tables = [("raw", "orders")]
    _raw_orders(settings, (10.0, 20.0, 30.0), "2025-01-01")
    first = build.raw_digests(settings, tables)
    assert build.reprocess_reason(settings, first) == "no record of the raw data the incremental models were built from"
    assert not build.record_digests(settings, first, built=[])  # the incremental model was not built: no record
    assert build.record_digests(settings, first, built=["model.p.fct_daily_revenue"])

    _raw_orders(settings, (10.0, 20.0, 30.0), "2025-02-01")  # the same rows, reloaded a month later
    assert build.reprocess_reason(settings, build.raw_digests(settings, tables)) == ""
    _raw_orders(settings, (10.0, 25.0, 30.0), "2025-02-01")
    assert build.reprocess_reason(settings, build.raw_digests(settings, tables)) == (
        "raw data changed since the last build (raw.orders)"
    )


def _raw_channels(settings: config.Settings, channels: list[str]) -> None:
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            "create or replace table raw.orders as select range + 1 as order_id, unnest(?) as channel from range(?)",
            [channels, len(channels)],
        )


def test_an_even_number_of_equal_changes_still_moves_the_raw_digest(tmp_path: Path) -> None:
    """Two orders moved from web to store (or a verbatim duplicate added twice) change the digest.

    A XOR of row hashes cancels such pairs: the example's reprocessing test passed only by an odd count.
    """
    settings = _settings(tmp_path)
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    tables = [("raw", "orders")]
    _raw_channels(settings, ["web", "web", "app", "web"])
    before = build.raw_digests(settings, tables)
    _raw_channels(settings, ["store", "store", "app", "web"])
    assert build.raw_digests(settings, tables) != before
    _raw_channels(settings, ["web", "web", "app", "web"])
    assert build.raw_digests(settings, tables) == before


def test_an_ingested_table_is_known_by_its_load_record_without_a_scan(tmp_path: Path) -> None:
    """What ingest recorded (rows, file sha256, spec digest) is the digest; a new file's record moves it."""
    settings = _settings(tmp_path)
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    tables = [("raw", "orders")]
    _raw_channels(settings, ["web"])

    def record(sha256: str) -> None:
        with duckdb.connect(str(settings.audit_path)) as con:
            con.execute(
                "create or replace table raw._ingest_state as select 'orders' as source_table, "
                "'orders.csv' as raw_file, 'orders' as relation, ? as sha256, 'spec' as spec_digest, "
                "1 as loaded_rows, 0 as quarantined_rows, 'r1' as run_id, now() as loaded_at",
                [sha256],
            )

    record("a" * 64)
    assert build.raw_digests(settings, tables) == {"raw.orders": f"ingest:1:{'a' * 64}:spec"}
    record("b" * 64)
    assert build.raw_digests(settings, tables) == {"raw.orders": f"ingest:1:{'b' * 64}:spec"}


def test_a_mart_without_an_enforced_contract_is_a_warning_naming_it(tmp_path: Path) -> None:
    """A mart with no contract builds; the report warns and names it. Staging models are not marts."""
    manifest = {
        "nodes": {
            "model.p.fct_a": {"resource_type": "model", "name": "fct_a", "fqn": ["p", "marts", "fct_a"],
                              "config": {"contract": {"enforced": True}}},
            "model.p.dim_b": {"resource_type": "model", "name": "dim_b", "fqn": ["p", "marts", "x", "dim_b"],
                              "config": {"contract": {"enforced": False}}},
            "model.p.stg_c": {"resource_type": "model", "name": "stg_c", "fqn": ["p", "staging", "stg_c"],
                              "config": {}},
        }
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    found = {check.name: check for check in checks.contract_checks(tmp_path)}
    assert set(found) == {"contract of fct_a", "contract of dim_b"}
    assert (found["contract of fct_a"].status, found["contract of dim_b"].status) == ("pass", "fail")
    assert found["contract of dim_b"].flagged and not found["contract of dim_b"].stops_the_line
    assert "dim_b has no contract" in found["contract of dim_b"].message
    # The help names the command that writes the column list from the built table.
    assert f"`{checks.CLI} contract dim_b`" in found["contract of dim_b"].message
