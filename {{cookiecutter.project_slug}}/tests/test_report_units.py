"""Unit tests of report.py: outcomes, counts and each format rendered whole (lines, rows, XML elements)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from {{ cookiecutter.package_name }} import config, report, report_html
from {{ cookiecutter.package_name }}.checks import Check
from {{ cookiecutter.package_name }}.history import Control
from {{ cookiecutter.package_name }}.ingest import IngestResult, Reason, TableResult


@pytest.mark.parametrize(
    ("check", "kind"),
    [
        (Check("output", "keys", "error", "fail", "Got 3 results"), "error"),
        (Check("output", "keys", "fatal", "fail"), "error"),  # an unknown severity that failed stops the line
        (Check("output", "dupes", "warn", "fail"), "warn"),
        (Check("output", "keys", "error", "pass"), "pass"),
        (Check("output", "dupes", "warn", "pass"), "pass"),
        (Check("business", "share", "info", "fail", "Got 40 results"), "info"),
        (Check("business", "share", "info", "pass"), "info"),
        (Check("regression", "r", "info", "pass", "Not compared: fct_x was not built"), "not compared"),
        (Check("regression", "r", "info", "pass", "not comparable: Catalog Error"), "not compared"),
        (Check("regression", "r", "info", "fail", "no production database to compare with"), "not compared"),
        (Check("regression", "r", "warn", "fail", "not compared here, but failed"), "warn"),
        (Check("regression", "r", "error", "not compared"), "not compared"),
        (Check("output", "r", "error", "skipped"), "not compared"),
        (Check("trend", "t", "warn", "not judged", "not judged yet"), "not judged"),
        (Check("trend", "t", "info", "not judged"), "not judged"),
        ({"severity": "warn", "status": "fail"}, "warn"),
        ({"status": "fail"}, "error"),  # no severity: an error
        ({"severity": "warn"}, "pass"),  # no status: passed
        ({}, "pass"),
        ({"severity": "info", "message": None}, "info"),
    ],
)
def test_each_check_has_one_outcome(check: Check | dict[str, Any], kind: str) -> None:
    assert report.outcome(check) == kind
    if isinstance(check, Check):
        assert report.outcome(check.as_dict()) == kind


MIXED = [
    Check("output", "a", "error", "fail"),
    Check("output", "b", "warn", "fail"),
    Check("output", "c", "warn", "fail"),
    Check("output", "d", "info", "fail"),
    Check("output", "e", "error", "pass"),
    Check("trend", "f", "warn", "not judged"),
    Check("regression", "g", "info", "pass", "no production database to compare with"),
    Check("regression", "h", "info", "pass", "not compared: x"),
]


def test_tally_counts_every_outcome_zeros_included() -> None:
    assert dict(report.tally([])) == dict.fromkeys(report.OUTCOMES, 0)
    assert dict(report.tally(iter(MIXED))) == {
        "error": 1, "warn": 2, "info": 1, "not compared": 2, "not judged": 1, "pass": 1,
    }  # fmt: skip
    assert report.count_line(MIXED) == (
        "8 checks: 1 error(s) failed, 2 warning(s), 1 info, 2 not compared, 1 not judged yet, 1 passed"
    )
    assert report.count_line([]) == (
        "0 checks: 0 error(s) failed, 0 warning(s), 0 info, 0 not compared, 0 not judged yet, 0 passed"
    )


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (Check("b", "s", "info", "fail", "Got 1 result, configured to warn if != 0"),
         "1 row found (info: reported, never fails the run)"),
        (Check("b", "s", "info", "fail", "Got 1234 results, configured to fail if >0"),
         "1,234 rows found (info: reported, never fails the run)"),
        (Check("b", "s", "info", "fail", "Got 0 results, configured to warn if != 0"),
         "0 rows found (info: reported, never fails the run)"),
        (Check("b", "s", "info", "fail", "Got 3 results"), "Got 3 results"),  # not dbt's whole sentence
        (Check("b", "s", "info", "fail", "see: Got 3 results, configured to warn if x"),
         "see: Got 3 results, configured to warn if x"),
        (Check("b", "s", "warn", "fail", "Got 2 results, configured to warn if != 0"),
         "Got 2 results, configured to warn if != 0"),
        (Check("b", "s", "info", "pass"), ""),
        ({"severity": "info"}, ""),
    ],
)  # fmt: skip
def test_a_finding_says_what_the_check_found(check: Check | dict[str, Any], text: str) -> None:
    assert report.finding(check) == text


def _mart(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "resource_type": "model", "name": name, "fqn": ["p", "marts", name], "database": "audit", "schema": "main",
        "alias": name, "relation_name": f'"audit"."main"."{name}"', **fields,
    }  # fmt: skip


def test_mart_relations_are_the_marts_with_a_table() -> None:
    nodes = {
        "model.p.fct_b": _mart("fct_b", alias="fct_b_v2"),
        "model.p.fct_a": _mart("fct_a", alias=None),
        "model.p.fct_eph": _mart("fct_eph", relation_name=None),  # ephemeral
        "model.p.fct_nodb": _mart("fct_nodb", database=None),  # Spark: schema.alias
        "model.p.fct_noschema": _mart("fct_noschema", schema=None),
        "model.p.stg_a": {**_mart("stg_a"), "fqn": ["p", "staging", "stg_a"]},
        "seed.p.fct_seed": {**_mart("fct_seed"), "resource_type": "seed"},
        "model.p.fct_nofqn": {k: v for k, v in _mart("fct_nofqn").items() if k != "fqn"},
    }
    relations = report._mart_relations({"nodes": nodes})
    assert list(relations.items()) == [
        ("fct_a", '"audit"."main"."fct_a"'),
        ("fct_b", '"audit"."main"."fct_b_v2"'),
        ("fct_nodb", '"main"."fct_nodb"'),
    ]
    assert report._mart_relations({"nodes": []}) == {}
    assert report._mart_relations({}) == {}


def _settings(tmp_path: Path) -> config.Settings:
    return config.Settings(
        env="ci", name="ci", project_dir=tmp_path, duckdb_path=tmp_path / "ci.duckdb", raw_dir=tmp_path, threads=1
    )


def _artifacts(settings: config.Settings, manifest: dict[str, Any], results: object) -> None:
    settings.target_dir.mkdir(parents=True, exist_ok=True)
    (settings.target_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (settings.target_dir / "run_results.json").write_text(json.dumps({"results": results}), encoding="utf-8")


def test_metrics_are_rows_per_mart_and_seconds_per_built_model(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    nodes = {
        "model.p.fct_a": _mart("fct_a", database="ci__audit"),
        "model.p.fct_gone": _mart("fct_gone", database="ci__audit"),  # dbt built it; the table is gone
        "model.p.stg_a": {"resource_type": "model", "name": "stg_a"},
    }
    results = [
        {"unique_id": "model.p.fct_a", "status": "success", "execution_time": 1.23456},
        {"unique_id": "model.p.stg_a", "status": "success", "execution_time": 0.5},
        {"unique_id": "model.p.fct_gone", "status": "error", "execution_time": 9.0},
        {"unique_id": "test.p.t", "status": "success", "execution_time": 9.0},
    ]
    _artifacts(settings, {"nodes": nodes}, results)
    assert report.metrics(settings) == {"model_seconds:fct_a": 1.235, "model_seconds:stg_a": 0.5}  # no audit db yet
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create table fct_a as select * from range(7)")
    assert report.metrics(settings) == {"rows:fct_a": 7.0, "model_seconds:fct_a": 1.235, "model_seconds:stg_a": 0.5}
    _artifacts(settings, {"nodes": nodes}, {"not": "a list"})
    assert report.metrics(settings) == {"rows:fct_a": 7.0}


def test_the_models_of_a_run_are_those_it_timed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    nodes = {
        "model.p.c": {"resource_type": "model", "name": "c"},  # not timed: skipped, and the rest still read
        "model.p.b": {"resource_type": "model", "name": "b", "meta": {"budget_seconds": 1, "owner": "x"},
                      "config": {"meta": {"budget_seconds": 3}}},
        "model.p.a": {"resource_type": "model", "name": "a", "meta": {"budget_seconds": 2}},
        "test.p.b": {"resource_type": "test", "name": "b"},
    }  # fmt: skip
    _artifacts(settings, {"nodes": nodes}, [])
    run_metrics = {"model_seconds:b": 0.5, "model_seconds:a": 1.5, "rows:a": 10.0, "rows:c": 3.0}
    assert report._models(settings, run_metrics) == [
        {"name": "a", "seconds": 1.5, "budget_seconds": 2, "rows": 10.0},
        {"name": "b", "seconds": 0.5, "budget_seconds": 3, "rows": None},
    ]
    _artifacts(settings, {"nodes": ["model.p.a"]}, [])
    assert report._models(settings, run_metrics) == []


def _document(settings: config.Settings, status: str, ingested: IngestResult | None) -> dict[str, Any]:
    nodes = {"model.p.fct_a": _mart("fct_a", database="ci__audit", config={"meta": {"budget_seconds": 2}})}
    _artifacts(settings, {"nodes": nodes}, [{"unique_id": "model.p.fct_a", "status": "success", "execution_time": 0.4}])
    history = [
        {"run_id": "r0", "started_at": "2025-12-31T00:00:00", "status": "published", "seconds": 9.0,
         "metrics": {"rows:fct_a": 5.0, "model_seconds:fct_a": 0.3, "seconds": 9.0}},
        {"run_id": "r1", "started_at": "2026-01-01T00:00:00", "status": status, "seconds": 12.346,
         "metrics": {"rows:fct_a": 7.0, "model_seconds:fct_a": 0.4, "seconds": 12.346}},
    ]  # fmt: skip
    return report.document(
        settings=settings, run_id="r1", started_at="2026-01-01T23:59:50+00:00", seconds=12.346, status=status,
        parameters={"select": ["fct_a"]}, checks=MIXED[:2], ingested=ingested, history=history,
        control=[Control("rows:fct_a", 7.0, 6.0, 4.0, 8.0, False, 3)],
    )  # fmt: skip


def test_the_document_holds_every_part_of_the_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    ingested = IngestResult(
        (
            TableResult("orders", "orders.csv", 995, 5, "raw", reasons=(Reason("order_id is missing", 5, 7),)),
            TableResult("items", "items.csv", 20, 0, "erp", reused_from="r0"),
        )
    )
    assert _document(settings, "published", ingested) == {
        "run_id": "r1",
        "env": "ci",
        "instance": "ci",
        "started_at": "2026-01-01T23:59:50+00:00",
        "finished_at": "2026-01-02T00:00:02+00:00",
        "seconds": 12.35,
        "status": "published",
        "published": True,
        "publish_note": "to ci.duckdb",
        "parameters": {"select": ["fct_a"]},
        "checks": [
            {"stage": "output", "name": "a", "severity": "error", "status": "fail", "message": "", "observed": None,
             "expected": None},
            {"stage": "output", "name": "b", "severity": "warn", "status": "fail", "message": "", "observed": None,
             "expected": None},
        ],
        "counts": {"error": 1, "warn": 1, "info": 0, "not compared": 0, "not judged": 0, "pass": 0},
        "models": [{"name": "fct_a", "seconds": 0.4, "budget_seconds": 2, "rows": 7.0}],
        "loaded": {"orders": 995, "items": 20},
        "quarantine": {"orders": 5, "items": 0},
        "quarantine_relations": ["raw._quarantine"],  # erp._quarantine holds no row of this run
        "quarantine_reasons": {"orders": [{"reason": "order_id is missing", "rows": 5, "first_row_number": 7}]},
        "quarantine_withheld": [],  # prod: the tables with pii columns
        "reused": {"items": "r0"},  # items.csv was unchanged since run r0: not loaded again
        "not_loaded": [],  # a slim run names the raw tables its selection reads none of
        "history": [
            {"run_id": "r0", "started_at": "2025-12-31T00:00:00", "status": "published", "seconds": 9.0,
             "rows": {"fct_a": 5.0}, "model_seconds": {"fct_a": 0.3}},
            {"run_id": "r1", "started_at": "2026-01-01T00:00:00", "status": "published", "seconds": 12.346,
             "rows": {"fct_a": 7.0}, "model_seconds": {"fct_a": 0.4}},
        ],
        "control": [{"metric": "rows:fct_a", "value": 7.0, "mean": 6.0, "lower": 4.0, "upper": 8.0, "flagged": False,
                     "runs": 3}],
        "min_runs": 5,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "published", "note"),
    [
        ("failed", False, "nothing: the run failed, so consumers keep the previous tables"),
        (
            "passed",
            False,
            "nothing: this run built no relation that is published, so consumers keep the previous tables",
        ),
    ],
)
def test_a_run_that_did_not_publish_says_why(tmp_path: Path, status: str, published: bool, note: str) -> None:
    document = _document(_settings(tmp_path), status, None)
    assert (document["published"], document["publish_note"]) == (published, note)
    assert (document["loaded"], document["quarantine"], document["reused"]) == ({}, {}, {})


def test_a_document_without_history_has_no_models(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    document = report.document(
        settings=settings, run_id="r", started_at="2026-01-01T00:00:00+00:00", seconds=1.0, status="passed",
        parameters={}, checks=[], ingested=None, history=[], control=[],
    )  # fmt: skip
    assert (document["models"], document["history"], document["control"]) == ([], [], [])


# ---- the formats, each rendered whole from one document ----

DOCUMENT: dict[str, Any] = {
    "run_id": "r9",
    "instance": "ci_pr_3",
    "status": "failed",
    "seconds": 12.46,
    "publish_note": "nothing: the run failed, so consumers keep the previous tables",
    "checks": [
        Check("input", "freshness of shop.orders", "warn", "pass", "last loaded 9 s ago").as_dict(),
        Check("output", "keys", "error", "fail", "Got 3 results | of\nthree").as_dict(),
        Check("business", "share", "info", "fail", "Got 40 results, configured to warn if != 0").as_dict(),
        Check("business", "quiet", "info", "pass").as_dict(),
        Check("input", "dupes", "warn", "fail", "Got 2 results").as_dict(),
        Check("regression", "fct_a rows against production", "warn", "pass", "5.00 in production, 5.00 now (+0.0%)",
              0.0, "within ±10%").as_dict(),
        Check("regression", "fct_a sum(x) against production", "error", "fail", "1.00 in production, 2.00 now",
              1.0, None).as_dict(),
        Check("regression", "fct_b against production", "info", "pass", "not comparable: gone").as_dict(),
        Check("regression", "fct_c note", "info", "fail", "reported only").as_dict(),
        Check("trend", "rows:fct_a within control limits", "warn", "not judged", "needs 5 runs").as_dict(),
        Check("trend", "seconds within control limits", "warn", "pass", "").as_dict(),
    ],
    "models": [
        {"name": "fct_a", "seconds": 0.404, "budget_seconds": None, "rows": 1234.0},
        {"name": "stg_a", "seconds": 0.1, "budget_seconds": None, "rows": None},
    ],
    "quarantine": {"orders": 1200, "items": 3},
    "quarantine_relations": ["raw._quarantine"],
}  # fmt: skip


def test_the_summary_names_the_quarantine_the_run_wrote_to() -> None:
    """A hand-written source without `schema:` lands in a schema named after the source, not `raw`."""
    ingested = IngestResult(
        (TableResult("leads", "crm/leads.csv", 9, 1, "crm"), TableResult("notes", "n.csv", 5, 2, "Sales Ops"))
    )
    assert ingested.quarantines == ['"Sales Ops"._quarantine', "crm._quarantine"]
    document = {**DOCUMENT, "quarantine": {"leads": 1, "notes": 2}, "quarantine_relations": ingested.quarantines}
    (line,) = [line for line in report.render_document(document).splitlines() if "quarantine " in line]
    assert line == '  quarantine  3 rows (leads 1, notes 2); see "Sales Ops"._quarantine, crm._quarantine'
    html = report_html.render_html(document)
    assert "rows quarantined (see &quot;Sales Ops&quot;._quarantine, crm._quarantine)" in html
    assert "raw._quarantine" not in html
    # A report.json written before the relation was recorded still renders, naming none.
    older = {key: value for key, value in document.items() if key != "quarantine_relations"}
    assert report.render_document(older).count("see ") == 0


def test_the_summary_markdown_and_html_list_the_quarantine_s_reasons() -> None:
    """The first reasons of each raw table in the summary and the markdown, all kept ones in report.html."""
    reasons = [{"reason": f"amount 'x{i}' is not a valid integer", "rows": 10 - i, "first_row_number": i + 2}
               for i in range(4)]  # fmt: skip
    document = {
        **DOCUMENT,
        "quarantine": {"orders": 34, "items": 3, "people": 2},
        "quarantine_reasons": {"orders": reasons},
        "quarantine_withheld": ["people"],
        "reused": {"items": "r7"},
    }
    summary = report.render_document(document).splitlines()
    start = summary.index("  quarantine  39 rows (orders 34, items 3, people 2); see raw._quarantine")
    assert summary[start + 1 : start + 7] == [
        "    orders: 10 rows from row 2: amount 'x0' is not a valid integer",
        "    orders: 9 rows from row 3: amount 'x1' is not a valid integer",
        "    orders: 8 rows from row 4: amount 'x2' is not a valid integer",
        "    orders: 7 rows more, for other reasons",
        "    items: 3 rows: reasons in the report of run r7, which loaded the file",
        "    people: 2 rows: reasons not copied into reports in prod (pii columns)",
    ]
    assert "- `orders`: `9 rows from row 3: amount 'x1' is not a valid integer`" in report.markdown(document)
    html = report_html.render_html(document)
    assert "7 rows from row 5: amount &#x27;x3&#x27; is not a valid integer" in html  # the 4th: only in the page
    assert "for other reasons" not in html  # every reason ingest kept is on the page


def test_a_reason_quoting_markup_or_control_characters_stays_one_inert_line() -> None:
    """A reason quotes the raw value as it was: `|`, HTML, markdown, backticks, ANSI escapes and newlines in it
    must neither render nor be altered (the markdown once showed `a|b` as `a/b`), and stay on one line."""
    values = ["a|b", "<img src=x onerror=alert(1)>", "**bold** [x](http://e.example)", "`tick`", "\x1b[31mRED\nx"]
    reasons = [
        {"reason": f"label '{value}' is bad", "rows": 1, "first_row_number": i + 2} for i, value in enumerate(values)
    ]
    document = {**DOCUMENT, "quarantine": {"t": 5}, "quarantine_reasons": {"t": reasons}}
    markdown = report.markdown(document).splitlines()
    assert [line for line in markdown if line.startswith("- `t`")] == [
        "- `t`: `1 row from row 2: label 'a|b' is bad`",
        "- `t`: `1 row from row 3: label '<img src=x onerror=alert(1)>' is bad`",
        "- `t`: `1 row from row 4: label '**bold** [x](http://e.example)' is bad`",
        "- `t`: `2 rows more, for other reasons`",
    ]
    # the rest of the table's reasons are in report.html only; there, as in the terminal, nothing is markup
    rest = {**document, "quarantine_reasons": {"t": reasons[3:]}}
    summary = report.render_document(rest).splitlines()
    assert "    t: 1 row from row 5: label '`tick`' is bad" in summary
    assert "    t: 1 row from row 6: label '\\x1b[31mRED\\nx' is bad" in summary
    assert "- `t`: ``1 row from row 5: label '`tick`' is bad``" in report.markdown(rest)
    html = report_html.render_html(document)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "\x1b" not in html and "\\x1b[31mRED\\nx" in html


def test_the_terminal_summary_in_full() -> None:
    assert report.render_document(DOCUMENT) == "\n".join(
        [
            "Run summary (ci_pr_3): FAILED in 12.5 s",
            "  checks      11 checks: 2 error(s) failed, 1 warning(s), 3 info, 1 not compared, 1 not judged yet, "
            "3 passed (2 of them trend checks added by the report step)",
            "  published   nothing: the run failed, so consumers keep the previous tables",
            "  quarantine  1,203 rows (orders 1,200, items 3); see raw._quarantine",
            "  mart        fct_a                             1,234 rows",
            "  error       [output] keys: Got 3 results | of\nthree",
            "  info        [business] share: 40 rows found (info: reported, never fails the run)",
            "  warn        [input] dupes: Got 2 results",
            "  error       [regression] fct_a sum(x) against production: 1.00 in production, 2.00 now",
            "  info        [regression] fct_c note: reported only",
        ]
    )


def test_the_terminal_summary_of_a_quiet_run_is_two_lines() -> None:
    quiet = {"instance": "dev", "status": "passed", "seconds": 3.0, "publish_note": "", "checks": [], "models": [],
             "quarantine": {}}  # fmt: skip
    assert report.render_document(quiet) == (
        "Run summary (dev): PASSED in 3.0 s\n"
        "  checks      0 checks: 0 error(s) failed, 0 warning(s), 0 info, 0 not compared, 0 not judged yet, 0 passed"
    )


def test_a_finding_line_without_words_ends_at_its_name() -> None:
    document = {**DOCUMENT, "publish_note": "", "quarantine": {}, "models": [],
                "checks": [Check("output", "keys", "error", "fail").as_dict()]}  # fmt: skip
    assert report.render_document(document).splitlines()[-1] == "  error       [output] keys:"


def test_the_markdown_in_full() -> None:
    assert report.markdown(DOCUMENT) == "\n".join(
        [
            "### ❌ `ci_pr_3` run r9: failed",
            "",
            "11 checks: 2 error(s) failed, 1 warning(s), 3 info, 1 not compared, 1 not judged yet, 3 passed. "
            "Errors stop the line; warnings and info only report.",
            "",
            "Published nothing: the run failed, so consumers keep the previous tables.",
            "",
            "| outcome | stage | check | result |",
            "|---|---|---|---|",
            "| error | output | `keys` | Got 3 results / of three |",
            "| error | regression | `fct_a sum(x) against production` | 1.00 in production, 2.00 now |",
            "| warn | input | `dupes` | Got 2 results |",
            "| info | business | `share` | 40 rows found (info: reported, never fails the run) |",
            "| info | regression | `fct_c note` | reported only |",
            "",
            "**Against production**",
            "",
            "| check | result | tolerance |",
            "|---|---|---|",
            "| `fct_a rows against production` | 5.00 in production, 5.00 now (+0.0%) | within ±10% |",
            "| `fct_a sum(x) against production` | 1.00 in production, 2.00 now |  |",
            "",
            "**Not compared or not judged yet**",
            "",
            "- `fct_b against production`: not comparable: gone",
            "- `rows:fct_a within control limits`: needs 5 runs",
            "",
            "| mart | rows | seconds |",
            "|---|---:|---:|",
            "| `fct_a` | 1,234 | 0.40 |",
            "",
            "Quarantined: orders 1,200, items 3.",
            "",
        ]
    )


def test_the_markdown_of_a_quiet_passing_run_is_its_headline() -> None:
    quiet = {"run_id": "r1", "instance": "dev", "status": "published", "checks": [], "models": [], "quarantine": {}}
    assert report.markdown(quiet) == (
        "### ✅ `dev` run r1: published\n\n"
        "0 checks: 0 error(s) failed, 0 warning(s), 0 info, 0 not compared, 0 not judged yet, 0 passed. "
        "Errors stop the line; warnings and info only report.\n"
    )


def test_the_markdown_lists_a_regression_warning_against_production() -> None:
    flagged = Check("regression", "fct_a rows against production", "warn", "fail", "5.00 in production, 9.00 now",
                    0.8, "within ±10%").as_dict()  # fmt: skip
    lines = report.markdown({**DOCUMENT, "checks": [flagged]}).splitlines()
    assert lines[lines.index("**Against production**") + 4] == (
        "| `fct_a rows against production` | 5.00 in production, 9.00 now | within ±10% |"
    )


def test_a_long_markdown_cell_is_cut_at_200_characters() -> None:
    document = {**DOCUMENT, "checks": [Check("output", "k", "error", "fail", "x" * 300).as_dict()]}
    assert f"| error | output | `k` | {'x' * 200} |" in report.markdown(document).splitlines()


def _case(suite: ET.Element, name: str) -> ET.Element:
    (case,) = [case for case in suite.iter("testcase") if case.get("name") == name]
    return case


def test_the_junit_xml_in_full() -> None:
    text = report.junit(DOCUMENT)
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"ci_pr_3 r9\">\n  <testsuite ")
    assert text.endswith("</testsuites>\n")
    suites = ET.fromstring(text)
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) for s in suites] == [
        ("business", "2", "0", "0", "0"),
        ("input", "2", "0", "0", "0"),
        ("output", "1", "1", "0", "0"),
        ("regression", "4", "1", "0", "1"),
        ("trend", "2", "0", "0", "1"),
    ]
    children = {
        case.get("name"): (
            case.get("classname"),
            [(p.get("name"), p.get("value")) for p in case.iter("property")],
            [(child.tag, dict(child.attrib), child.text) for child in case if child.tag != "properties"],
        )
        for case in suites.iter("testcase")
    }
    assert children == {
        "share": ("business.info", [("severity", "info"), ("outcome", "info")],
                  [("system-out", {}, "INFO: 40 rows found (info: reported, never fails the run)")]),
        "quiet": ("business.info", [("severity", "info"), ("outcome", "info")], []),
        "freshness of shop.orders": ("input.warn", [("severity", "warn"), ("outcome", "pass")], []),
        "dupes": ("input.warn", [("severity", "warn"), ("outcome", "warn")],
                  [("system-out", {}, "WARN: Got 2 results")]),
        "keys": ("output.error", [("severity", "error"), ("outcome", "error")],
                 [("failure", {"message": "Got 3 results | of\nthree", "type": "error"}, None)]),
        "fct_a rows against production": ("regression.warn", [("severity", "warn"), ("outcome", "pass")], []),
        "fct_a sum(x) against production": (
            "regression.error", [("severity", "error"), ("outcome", "error")],
            [("failure", {"message": "1.00 in production, 2.00 now", "type": "error"}, None)],
        ),
        "fct_b against production": ("regression.info", [("severity", "info"), ("outcome", "not compared")],
                                     [("skipped", {"message": "not compared: not comparable: gone"}, None)]),
        "fct_c note": ("regression.info", [("severity", "info"), ("outcome", "info")],
                       [("system-out", {}, "INFO: reported only")]),
        "rows:fct_a within control limits": (
            "trend.warn", [("severity", "warn"), ("outcome", "not judged")],
            [("skipped", {"message": "not judged yet: needs 5 runs"}, None)],
        ),
        "seconds within control limits": ("trend.warn", [("severity", "warn"), ("outcome", "pass")], []),
    }  # fmt: skip


def test_junit_messages_are_cut_at_500_characters() -> None:
    long = "y" * 600
    document = {
        **DOCUMENT,
        "checks": [
            Check("output", "k", "error", "fail", long).as_dict(),
            Check("trend", "t", "warn", "not judged", long).as_dict(),
        ],
    }
    suites = ET.fromstring(report.junit(document))
    assert next(suites.iter("failure")).get("message") == "y" * 500
    assert next(suites.iter("skipped")).get("message") == ("not judged yet: " + long)[:500]
    assert report.junit({**DOCUMENT, "checks": []}) == (
        "<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"ci_pr_3 r9\" />\n"
    )


def test_the_run_folder_holds_each_format_of_the_document(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert report.latest(settings) is None
    document = _document(settings, "failed", None)
    folder = report.write(settings, document)
    assert folder == tmp_path / "reports" / "ci" / "r1"
    assert sorted(path.name for path in folder.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    assert json.loads((folder / "report.json").read_text(encoding="utf-8")) == json.loads(json.dumps(document))
    assert (folder / "report.json").read_text(encoding="utf-8").startswith('{\n  "run_id": "r1",\n')
    assert (folder / "summary.md").read_text(encoding="utf-8") == report.markdown(document)
    assert (folder / "junit.xml").read_text(encoding="utf-8") == report.junit(document)
    assert (folder / "report.html").read_text(encoding="utf-8") == report_html.render_html(document)
    assert report.write(settings, document) == folder  # a second write replaces the files
    dated = {**document, "parameters": {"day": date(2025, 1, 31), "path": Path("data/raw")}}
    report.write(settings, dated)  # values JSON has no type for are written as text
    assert json.loads((folder / "report.json").read_text(encoding="utf-8"))["parameters"] == {
        "day": "2025-01-31", "path": "data/raw",
    }  # fmt: skip
    later = report.write(settings, {**document, "run_id": "r2"})
    assert report.latest(settings) == later
    (settings.reports_dir / "r3").mkdir()  # a folder without report.json is no run
    assert report.latest(settings) == later
