"""One folder per run: JSON, markdown for CI summaries, JUnit XML for test tabs, HTML for people."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }} import checks, config, history, pipeline, report, report_html
from {{ cookiecutter.package_name }}.checks import Check
from {{ cookiecutter.package_name }}.history import Control
from {{ cookiecutter.package_name }}.ingest import IngestResult, TableResult
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

CHECKS = [
    Check("output", "unique_fct_orders_order_id", "error", "fail", "Got 3 results", 3),
    Check("input", "source_unique_shop_products_product_id", "warn", "fail", "Got 2 results", 2),
    Check("business", "share_of_returned_orders", "info", "fail", "Got 40 results, configured to warn if != 0", 40),
    Check("joins", "no_fanout_fct_orders", "error", "pass"),
]
# One of each outcome that is neither a failure nor a pass, as the check and report steps emit them.
NOT_COMPARED = Check("regression", "compared with production", "info", "pass", "no production database to compare with")
NOT_JUDGED = Check("trend", "rows:fct_orders within control limits", "warn", "not judged",
                   "not judged yet (needs 5 runs, has 3): 90.00 against 7.00 .. 7.00 over 3 runs", 90)  # fmt: skip
AUDIT = "ci_pr_3__audit"


def _append(database: Path, **run: Any) -> None:
    """history.append on a Session of one DuckDB file."""
    with File(database).session() as session:
        history.append(session, **run)


def _load(database: Path, limit: int = 50) -> list[dict[str, Any]]:
    """history.load from a Session of one DuckDB file."""
    with File(database).session() as session:
        return history.load(session, limit)


@pytest.fixture
def settings(project: Path) -> config.Settings:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": "3"})
    settings.target_dir.mkdir(parents=True)
    manifest = {
        "nodes": {
            "model.p.fct_orders": {
                "resource_type": "model", "name": "fct_orders", "fqn": ["p", "marts", "fct_orders"],
                "database": AUDIT, "schema": "main", "alias": "fct_orders",
                "relation_name": f'"{AUDIT}"."main"."fct_orders"', "config": {"meta": {"budget_seconds": 10}},
            }
        }
    }  # fmt: skip
    (settings.target_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    results = {"results": [{"unique_id": "model.p.fct_orders", "status": "success", "execution_time": 0.42}]}
    (settings.target_dir / "run_results.json").write_text(json.dumps(results), encoding="utf-8")
    import duckdb  # noqa: PLC0415

    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create table fct_orders as select * from range(7)")
    return settings


def _document(settings: config.Settings, status: str = "failed", checks: list[Check] = CHECKS) -> dict[str, Any]:
    metrics = report.metrics(settings)
    ingested = IngestResult((TableResult("orders", "orders.parquet", 995, 5, "raw"),))
    return report.document(
        settings=settings, run_id="20260101T000000Z-abc123", started_at="2026-01-01T00:00:00+00:00", seconds=12.5,
        status=status, parameters={"select": [], "vars": {"day": "2025-01-01"}}, checks=checks, ingested=ingested,
        history=[{"run_id": "r1", "started_at": "2026-01-01T00:00:00", "status": status, "seconds": 12.5,
                  "metrics": metrics}],
        control=[Control("rows:fct_orders", 7, 7, 7, 7, False, 3)],
    )  # fmt: skip


@pytest.mark.duckdb
def test_metrics_are_rows_per_mart_and_seconds_per_model(settings: config.Settings) -> None:
    assert report.metrics(settings) == {"rows:fct_orders": 7.0, "model_seconds:fct_orders": 0.42}


@pytest.mark.duckdb
def test_the_document_holds_the_run(settings: config.Settings) -> None:
    document = _document(settings)
    assert (document["instance"], document["status"], document["published"]) == ("ci_pr_3", "failed", False)
    assert document["models"] == [{"name": "fct_orders", "seconds": 0.42, "budget_seconds": 10, "rows": 7.0}]
    assert document["quarantine"] == {"orders": 5}
    assert document["loaded"] == {"orders": 995}
    assert document["history"][-1]["rows"] == {"fct_orders": 7.0}
    assert document["history"][-1]["model_seconds"] == {"fct_orders": 0.42}


@pytest.mark.duckdb
def test_the_terminal_summary_names_failures_by_severity(settings: config.Settings) -> None:
    text = report.render_document(_document(settings))
    assert text.startswith("Run summary (ci_pr_3): FAILED in 12.5 s")
    assert "4 checks: 1 error(s) failed, 1 warning(s), 1 info, 0 not compared, 0 not judged yet, 1 passed" in text
    assert "error       [output] unique_fct_orders_order_id: Got 3 results" in text
    assert "warn        [input] source_unique_shop_products_product_id: Got 2 results" in text
    # The mart's own line, not a check that happens to name it.
    assert re.search(r"^  mart +fct_orders +7 rows$", text, re.MULTILINE), text
    assert "  quarantine  5 rows (orders 5); see raw._quarantine" in text


def test_an_info_check_is_a_finding_never_a_failure(settings: config.Settings) -> None:
    document = _document(settings)
    text = report.render_document(document)
    assert "info        [business] share_of_returned_orders: 40 rows found (info: reported" in text
    assert "configured to warn" not in text
    page = report_html.render_html(document)
    row = next(r for r in page.split("<tr>") if "share_of_returned_orders" in r)
    assert "● info" in row and "40 rows found" in row
    assert "✗" not in row and " fail<" not in row and "configured to warn" not in row


def test_a_check_that_compared_nothing_says_not_compared(settings: config.Settings) -> None:
    document = _document(settings, checks=[*CHECKS, NOT_COMPARED])
    assert "1 not compared" in report.render_document(document)
    row = next(r for r in report_html.render_html(document).split("<tr>") if "compared with production" in r)
    assert "○ not compared" in row and "no production database to compare with" in row
    assert "✓" not in row and " pass<" not in row
    assert "- `compared with production`: no production database to compare with" in report.markdown(document)


def test_every_format_counts_the_checks_the_same_way(settings: config.Settings) -> None:
    """The terminal, the markdown, the report.json counts and the HTML strip agree, check by check."""
    document = _document(settings, checks=[*CHECKS, NOT_COMPARED, NOT_JUDGED])
    line = "6 checks: 1 error(s) failed, 1 warning(s), 1 info, 1 not compared, 1 not judged yet, 1 passed"
    assert f"  checks      {line} (1 of them trend checks added by the report step)" in report.render_document(document)
    assert line in report.markdown(document)
    assert document["counts"] == {"error": 1, "warn": 1, "info": 1, "not compared": 1, "not judged": 1, "pass": 1}
    tiles = re.findall(r"<b>(\d+)</b><span>([^<]+)</span>", report_html.render_html(document))
    assert {label: int(n) for n, label in tiles} == {
        "error(s) failed": 1, "warning(s)": 1, "info": 1, "not compared": 1, "not judged yet": 1, "passed": 1,
        "checks in all": 6,
    }  # fmt: skip


def test_the_check_step_counts_as_the_summary_does(settings: config.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check step's count and the summary's are one function's; the summary says what came later."""
    # The example's reconciliations query columns this fixture's tiny mart lacks; they are not counted here.
    monkeypatch.setattr(checks, "reconciliation_checks", lambda *_, **__: [])
    run = pipeline.Run(settings, checks=list(CHECKS))
    said: list[str] = []
    pipeline.check_step(run, said.append)
    assert said[-1] == f"  so far {report.count_line(run.checks)}"
    at_check_step = len(run.checks)
    run.checks.append(NOT_JUDGED)  # the report step adds trend checks
    text = report.render_document(_document(settings, checks=run.checks))
    assert f"{at_check_step + 1} checks: " in text
    assert "(1 of them trend checks added by the report step)" in text


@pytest.mark.duckdb
def test_a_run_that_publishes_nothing_says_so(settings: config.Settings) -> None:
    """No relation to publish: "nothing published" and why, never "published 0 relation(s) to <file>"."""
    run = pipeline.Run(settings)  # built nothing
    said: list[str] = []
    pipeline.publish_step(run, said.append)
    assert said == [
        "  nothing published: this run built no relation that is published; consumers keep the previous tables"
    ]
    assert not settings.duckdb_path.exists()
    document = _document(settings, status="passed", checks=[])
    text = report.render_document(document)
    assert "  published   nothing: this run built no relation that is published" in text
    assert settings.duckdb_path.name not in text
    page = report_html.render_html(document)
    assert "nothing was published" in page and "does not publish" not in page
    failed = report.render_document(_document(settings, status="failed"))
    assert "  published   nothing: the run failed, so consumers keep the previous tables" in failed
    published = report.render_document(_document(settings, status="published", checks=[]))
    assert f"  published   to {settings.duckdb_path.name}" in published


@pytest.mark.duckdb
def test_a_mart_whose_name_holds_quotes_is_counted(settings: config.Settings) -> None:
    """Identifiers go through sql.relation: dbt's relation_name text is never spliced into SQL."""
    import duckdb  # noqa: PLC0415

    alias = 'fct "odd" o\'rders'
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute(f'create table main."{alias.replace(chr(34), chr(34) * 2)}" as select * from range(3)')
    manifest = json.loads((settings.target_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["nodes"]["model.p.odd"] = {
        "resource_type": "model", "name": "odd", "fqn": ["p", "marts", "odd"],
        "database": AUDIT, "schema": "main", "alias": alias, "relation_name": f'"{AUDIT}"."main"."{alias}"',
    }  # fmt: skip
    (settings.target_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert report.metrics(settings)["rows:odd"] == 3.0


def test_per_model_runtimes_reach_the_history_and_its_charts(settings: config.Settings) -> None:
    """history.append/load keep `model_seconds:<model>`; the document and the page show its trend."""
    database = settings.audit_path
    for day, seconds in enumerate([0.40, 0.45, 0.42], start=1):
        _append(database, run_id=f"r{day}", started_at=f"2026-01-0{day}T00:00:00Z", status="published",
                       seconds=10.0, metrics={"model_seconds:fct_orders": seconds, "rows:fct_orders": 7.0})  # fmt: skip
    past = _load(database)
    current = report.metrics(settings)
    limits = history.control(past, current)
    run = {"run_id": "now", "started_at": "2026-01-04T00:00:00", "status": "published", "seconds": 9.0}
    document = report.document(
        settings=settings, run_id="now", started_at="2026-01-04T00:00:00+00:00", seconds=9.0, status="published",
        parameters={}, checks=[], ingested=None, history=[*past, {**run, "metrics": current}], control=limits,
    )  # fmt: skip
    assert [run["model_seconds"] for run in document["history"]] == [
        {"fct_orders": 0.40}, {"fct_orders": 0.45}, {"fct_orders": 0.42}, {"fct_orders": 0.42},
    ]  # fmt: skip
    page = report_html.render_html(document)
    assert '<h3 title="fct_orders model seconds">fct_orders model seconds</h3>' in page


@pytest.mark.duckdb
def test_the_markdown_lists_failed_checks_errors_first(settings: config.Settings) -> None:
    markdown = report.markdown(_document(settings))
    assert markdown.startswith("### ❌ `ci_pr_3` run 20260101T000000Z-abc123: failed")
    rows = [line for line in markdown.splitlines() if line.startswith(("| error", "| warn", "| info"))]
    assert rows == [
        "| error | output | `unique_fct_orders_order_id` | Got 3 results |",
        "| warn | input | `source_unique_shop_products_product_id` | Got 2 results |",
        "| info | business | `share_of_returned_orders` | 40 rows found (info: reported, never fails the run) |",
    ]
    assert "| `fct_orders` | 7 | 0.42 |" in markdown


def test_junit_fails_only_on_error_level_checks(settings: config.Settings) -> None:
    root = ET.fromstring(report.junit(_document(settings)).split("?>", 1)[1])
    suites = {suite.get("name"): suite for suite in root}
    assert set(suites) == {"output", "input", "business", "joins"}
    assert suites["output"].get("failures") == "1"
    assert suites["input"].get("failures") == "0"
    warned = suites["input"].find("testcase")
    assert warned is not None
    assert warned.find("failure") is None
    assert warned.findtext("system-out") == "WARN: Got 2 results"
    assert suites["business"].get("failures") == "0"
    info = suites["business"].find("testcase")
    assert info is not None
    assert info.find("failure") is None
    assert info.findtext("system-out") == "INFO: 40 rows found (info: reported, never fails the run)"


def test_junit_skips_what_was_not_compared_or_not_judged(settings: config.Settings) -> None:
    root = ET.fromstring(report.junit(_document(settings, checks=[NOT_COMPARED, NOT_JUDGED])).split("?>", 1)[1])
    for suite in root:
        assert (suite.get("failures"), suite.get("skipped")) == ("0", "1")
        case = suite.find("testcase")
        assert case is not None
        skipped = case.find("skipped")
        assert skipped is not None
        assert skipped.get("message", "").startswith(("not compared: no production", "not judged yet: not judged"))


def test_the_run_folder_has_every_format_and_is_found_again(settings: config.Settings) -> None:
    folder = report.write(settings, _document(settings))
    assert folder == settings.project_dir / "reports" / "ci_pr_3" / "20260101T000000Z-abc123"
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    assert json.loads((folder / "report.json").read_text(encoding="utf-8"))["status"] == "failed"
    assert "<html" in (folder / "report.html").read_text(encoding="utf-8")
    assert report.latest(settings) == folder
