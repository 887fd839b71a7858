"""One folder per run: JSON, markdown for CI summaries, JUnit XML for test tabs, HTML for people."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }} import config, report
from {{ cookiecutter.package_name }}.checks import Check
from {{ cookiecutter.package_name }}.history import Control
from {{ cookiecutter.package_name }}.ingest import IngestResult, TableResult

CHECKS = [
    Check("output", "unique_fct_orders_order_id", "error", "fail", "Got 3 results", 3),
    Check("input", "source_unique_shop_products_product_id", "warn", "fail", "Got 2 results", 2),
    Check("business", "share_of_returned_orders", "info", "fail", "Got 40 results", 40),
    Check("joins", "no_fanout_fct_orders", "error", "pass"),
]


@pytest.fixture
def settings(project: Path) -> config.Settings:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": "3"})
    settings.target_dir.mkdir(parents=True)
    manifest = {
        "nodes": {
            "model.p.fct_orders": {
                "resource_type": "model", "name": "fct_orders", "fqn": ["p", "marts", "fct_orders"],
                "relation_name": '"ci_pr_3__audit"."main"."fct_orders"', "config": {"meta": {"budget_seconds": 10}},
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


def _document(settings: config.Settings, status: str = "failed") -> dict[str, Any]:
    metrics = report.metrics(settings)
    ingested = IngestResult((TableResult("orders", "orders.parquet", 995, 5),))
    return report.document(
        settings=settings, run_id="20260101T000000Z-abc123", started_at="2026-01-01T00:00:00+00:00", seconds=12.5,
        status=status, parameters={"select": [], "vars": {"day": "2025-01-01"}}, checks=CHECKS, ingested=ingested,
        history=[{"run_id": "r1", "started_at": "2026-01-01T00:00:00", "status": status, "seconds": 12.5,
                  "metrics": metrics}],
        control=[Control("rows:fct_orders", 7, 7, 7, 7, False, 3)],
    )  # fmt: skip


def test_metrics_are_rows_per_mart_and_seconds_per_model(settings: config.Settings) -> None:
    assert report.metrics(settings) == {"rows:fct_orders": 7.0, "model_seconds:fct_orders": 0.42}


def test_the_document_holds_the_run(settings: config.Settings) -> None:
    document = _document(settings)
    assert (document["instance"], document["status"], document["published"]) == ("ci_pr_3", "failed", False)
    assert document["models"] == [{"name": "fct_orders", "seconds": 0.42, "budget_seconds": 10, "rows": 7.0}]
    assert document["quarantine"] == {"orders": 5}
    assert document["history"][-1]["rows"] == {"fct_orders": 7.0}


def test_the_terminal_summary_names_failures_by_severity(settings: config.Settings) -> None:
    text = report.render_document(_document(settings))
    assert text.startswith("Run summary (ci_pr_3): FAILED in 12.5 s")
    assert "4 run: 1 error(s), 1 warning(s), 1 info" in text
    assert "error       [output] unique_fct_orders_order_id: Got 3 results" in text
    assert "fct_orders" in text


def test_the_markdown_lists_failed_checks_errors_first(settings: config.Settings) -> None:
    markdown = report.markdown(_document(settings))
    assert markdown.startswith("### ❌ `ci_pr_3` run 20260101T000000Z-abc123: failed")
    rows = [line for line in markdown.splitlines() if line.startswith("| error") or line.startswith("| warn")]
    assert rows[0].startswith("| error | output | `unique_fct_orders_order_id`")
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


def test_the_run_folder_has_every_format_and_is_found_again(settings: config.Settings) -> None:
    folder = report.write(settings, _document(settings))
    assert folder == settings.project_dir / "reports" / "ci_pr_3" / "20260101T000000Z-abc123"
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    assert json.loads((folder / "report.json").read_text(encoding="utf-8"))["status"] == "failed"
    assert "<html" in (folder / "report.html").read_text(encoding="utf-8")
    assert report.latest(settings) == folder
