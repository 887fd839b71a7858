from __future__ import annotations

import json
from pathlib import Path

import duckdb

from {{ cookiecutter.package_name }} import config, report


def _artifacts(settings: config.Settings, statuses: list[str]) -> None:
    settings.target_dir.mkdir(parents=True)
    results = [
        {"unique_id": f"{'model' if i == 0 else 'test'}.p.node_{i}", "status": s, "message": f"m{i}"}
        for i, s in enumerate(statuses)
    ]
    (settings.target_dir / "run_results.json").write_text(
        json.dumps({"results": results, "elapsed_time": 3.5}), encoding="utf-8"
    )
    nodes = {
        "model.p.fct_sales": {
            "resource_type": "model", "name": "fct_sales", "fqn": ["p", "marts", "fct_sales"],
            "relation_name": '"w"."main"."fct_sales"',
        },
        "model.p.stg_x": {
            "resource_type": "model", "name": "stg_x", "fqn": ["p", "staging", "stg_x"],
            "relation_name": '"w"."main"."stg_x"',
        },
    }  # fmt: skip
    (settings.target_dir / "manifest.json").write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create table fct_sales as select * from range(7)")
        con.execute("create schema raw")
        con.execute("create table raw._quarantine as select 'orders' as source_table from range(3)")


def test_the_summary_counts_results_marts_and_quarantine(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": "w.duckdb"})
    _artifacts(settings, ["success", "pass", "pass", "warn"])
    summary = report.summarize(settings)
    assert summary.ok
    assert summary.statuses == {"success": 1, "pass": 2, "warn": 1}
    assert summary.kinds == {"model": 1, "test": 3}
    assert summary.mart_rows == {"fct_sales": 7}  # staging models are not marts
    assert summary.quarantined == {"orders": 3}
    text = report.render(summary)
    assert text.startswith("Run summary (ci): OK")
    assert "fct_sales" in text
    assert "7 rows" in text
    assert "3 rows (orders 3)" in text


def test_failures_are_listed_with_their_message(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": "w.duckdb"})
    _artifacts(settings, ["success", "fail"])
    summary = report.summarize(settings)
    assert not summary.ok
    assert summary.failures == ["test.p.node_1: m1"]
    assert "FAILED" in report.render(summary)


def test_without_a_run_the_report_says_what_to_do(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    assert "run the `build` or `run` command first" in report.render(report.summarize(settings))


def test_a_run_with_nothing_to_build_says_so(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    settings.target_dir.mkdir(parents=True)
    (settings.target_dir / "run_results.json").write_text('{"results": [], "elapsed_time": 0.1}', encoding="utf-8")
    assert "nothing to build" in report.render(report.summarize(settings))


def test_the_markdown_summary_is_a_table_with_failures_listed(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": "w.duckdb"})
    _artifacts(settings, ["success", "fail"])
    markdown = report.render_markdown(report.summarize(settings))
    assert markdown.startswith("### ❌ Run summary: `ci`")
    assert "| models | 1 |" in markdown
    assert "| result: fail | 1 |" in markdown
    assert "| rows in mart `fct_sales` | 7 |" in markdown
    assert "- `test.p.node_1: m1`" in markdown
