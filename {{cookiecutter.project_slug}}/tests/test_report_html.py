"""The run report's HTML page: every section, honest labels, charts that cannot mislead, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }} import report_html


def _check(stage: str, name: str, severity: str = "error", status: str = "pass", **extra: Any) -> dict[str, Any]:
    check = dict(stage=stage, name=name, severity=severity, status=status, message="", observed=None, expected=None)
    return check | extra


def _run(i: int, seconds: float, orders: int, status: str = "published") -> dict[str, Any]:
    rows = dict(fct_orders=orders, dim_customers=200)
    started = f"2026-11-1{i}T08:45:00Z"
    return dict(run_id=f"2026111{i}T084500Z", started_at=started, status=status, seconds=seconds, rows=rows)


def example() -> dict[str, Any]:
    """A failed CI run: one error check, two warnings, an over-budget model and two flagged metrics."""
    checks = [
        *(_check(stage, f"{stage}_check_{n}") for stage in report_html.STAGES for n in range(3)),
        _check(
            "input", "source_unique_shop_products_product_id", status="fail", message="3 duplicate keys", observed=3
        ),
        _check("business", "refund_rate_below_5_percent", "warn", "fail", observed=0.07, expected="<= 0.05"),
        _check("pii", "no_emails_in_marts", "info", "pass", message="2 columns scanned"),
        _check("regression", "rows_fct_orders_within_limits", "warn", "fail", observed=1210, expected="950..1046"),
    ]
    checks[-3]["message"] = "refund rate 7% <script>alert(1)</script>"
    checks[-1]["message"] = "fct_orders has 1,210 rows; the control limits are 950 to 1,046"
    models = [
        dict(name="stg_shop__orders", seconds=0.42, budget_seconds=2.0, rows=1005),
        dict(name="int_orders_enriched", seconds=1.1, budget_seconds=2.0, rows=1000),
        dict(name="fct_orders", seconds=3.4, budget_seconds=2.5, rows=1210),
        dict(name="dim_customers", seconds=0.3, budget_seconds=0.0, rows=200),
    ]
    seconds = [11.2, 10.8, 12.0, 11.5, 10.9, 11.7, 11.1]
    orders = [990, 1002, 995, 1010, 998, 1001, 993]
    history = [_run(i, s, n) for i, (s, n) in enumerate(zip(seconds, orders, strict=True))]
    history.append(_run(8, 13.9, 1210, "failed"))
    return dict(
        run_id="20261121T084500Z",
        env="ci",
        instance="ci_pr_7",
        started_at="2026-11-21T08:45:00Z",
        finished_at="2026-11-21T08:45:12Z",
        status="failed",
        published=False,
        parameters=dict(select=["marts.sales+"], vars=dict(start_date="2026-01-01"), slim=True, scale=None),
        checks=checks,
        models=models,
        quarantine=dict(customers=2, orders=5, products=0),
        loaded=dict(customers=200, orders=1000, products=50),
        history=history,
        control=[
            dict(metric="rows:fct_orders", value=1210, mean=998.6, lower=950.0, upper=1046.0, flagged=True, runs=8),
            dict(metric="seconds", value=13.9, mean=11.3, lower=9.6, upper=13.0, flagged=True, runs=8),
            dict(metric="rows:dim_customers", value=200, mean=200.0, lower=200.0, upper=200.0, flagged=False, runs=8),
        ],
    )


def test_a_full_run_renders_every_section_in_order() -> None:
    page = report_html.render_html(example())
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in page
    assert "<title>Run 20261121T084500Z · ci · failed</title>" in page
    positions = [page.index(f"<h2>{heading}</h2>") for heading in report_html.SECTIONS]
    assert positions == sorted(positions)
    assert page.count("<svg ") == 3 + 3  # checks, models, quarantine, and three trend charts


def test_the_header_shows_the_status_and_parameters() -> None:
    page = report_html.render_html(example())
    assert '<span class="badge failed">failed</span>' in page
    assert "ci_pr_7" in page
    assert "took 12 s" in page
    assert "start_date=2026-01-01" in page


def test_failed_checks_and_their_messages_are_listed() -> None:
    page = report_html.render_html(example())
    notable = page[page.index("Failed, info, not compared") : page.index(report_html.SECTIONS[1])]
    assert "source_unique_shop_products_product_id" in notable
    assert "3 duplicate keys" in notable
    assert "no_emails_in_marts" in notable  # info checks are listed even when they pass
    assert "input_check_0" not in notable  # passing checks only in the full table
    assert "input_check_0" in page[page.index(report_html.SECTIONS[4]) :]


def test_the_summary_counts_checks_by_outcome() -> None:
    page = report_html.render_html(example())
    assert "<b>1</b><span>error(s) failed</span>" in page
    assert "<b>2</b><span>warning(s)</span>" in page
    assert "<b>1</b><span>info</span>" in page
    assert "<b>24</b><span>passed</span>" in page
    assert "<b>28</b><span>checks in all</span>" in page


def test_text_from_the_document_is_escaped() -> None:
    doc = example()
    doc["env"] = "<b>ci</b>"
    page = report_html.render_html(doc)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>ci</b>" not in page


def test_a_model_over_its_budget_is_marked_in_words_and_colour() -> None:
    page = report_html.render_html(example())
    models = page[page.index(report_html.SECTIONS[1]) : page.index(report_html.SECTIONS[2])]
    assert models.count('<rect class="over"') == 1
    assert "⚠ over budget: 3.4 s of 2.5 s" in models
    assert "0.3 s, no budget" in models  # a zero budget is no budget, not a division by zero


def _between(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end, page.index(start))]


def test_the_quarantine_section_shows_each_tables_rows() -> None:
    page = report_html.render_html(example())
    quarantine = _between(page, report_html.SECTIONS[2], report_html.SECTIONS[3])
    assert "5 quarantined (0.5%) · 1,000 loaded" in quarantine
    assert "2 quarantined (1.0%) · 200 loaded" in quarantine
    assert "0 quarantined (0.0%) · 50 loaded" in quarantine
    assert quarantine.count('<rect class="warn"') == 3
    assert "<title>5 rows quarantined</title>" in quarantine


def test_shares_and_changes_are_percentages_in_every_column() -> None:
    doc = example()
    share = _check("input", "quarantined share", "warn", "fail", observed=0.045, expected="<= 1% (error above 5%)")
    change = _check("regression", "rows against production", "warn", "pass", observed=-0.05, expected="within ±10%")
    runtime = _check("performance", "runtime of fct_orders", "warn", "pass", observed=0.42, expected="<= 2 s")
    doc["checks"] = [share, change, runtime, _check("input", "duplicates", "error", "fail", observed=3)]
    table = _between(report_html.render_html(doc), "All checks", "</table>")
    assert re.findall(r'<td class="num">([^<]*)</td>', table) == ["4.5%", "-5.0%", "0.42 s", "3"]


def test_long_model_names_keep_their_start_and_end() -> None:
    doc = example()
    name = "int_payments_aggregated_to_orders"
    doc["models"] = [dict(name=name, seconds=1.0, budget_seconds=2.0, rows=5)]
    models = _between(report_html.render_html(doc), report_html.SECTIONS[1], report_html.SECTIONS[2])
    labels = re.findall(r'text-anchor="end">(?:<title>([^<]*)</title>)?([^<]*)</text>', models)
    (full, shown), *_ = [(t, v) for t, v in labels if v.startswith("int_")]
    assert full == name  # the whole name on hover
    assert len(shown) <= report_html.LABEL_CHARS
    assert shown.startswith("int_pay") and shown.endswith("to_orders") and "…" in shown


def _trends(doc: dict[str, Any]) -> str:
    page = report_html.render_html(doc)
    return _between(page, report_html.SECTIONS[3], report_html.SECTIONS[4])


def _figure(trends: str, title: str) -> str:
    return _between(trends, f">{title}</h3>", "</figure>")


def test_control_bands_never_go_below_zero() -> None:
    doc = example()
    doc["control"] = [dict(metric="seconds", value=12, mean=11, lower=-31.99, upper=54, flagged=False, runs=8)]
    figure = _figure(_trends(doc), "run seconds")
    assert "-31.99" not in figure
    assert "limits 0 to 54" in figure
    band = re.search(r'<rect class="band" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', figure)
    assert band is not None
    assert float(band[1]) + float(band[2]) <= report_html.TREND_H - 26 + 0.1  # the band stops at the axis


def test_a_band_of_zero_width_is_drawn_as_a_line() -> None:
    figure = _figure(_trends(example()), "dim_customers rows")  # every past run had 200 rows
    assert 'class="band-line"' in figure
    assert 'height="0.0"' not in figure


def test_runs_on_one_day_are_told_apart_on_the_axis() -> None:
    doc = example()
    doc["history"] = [_run(4, 11.0, 990), _run(4, 12.0, 995)]
    doc["history"][0]["started_at"], doc["history"][1]["started_at"] = "2026-11-14T08:45:00Z", "2026-11-14T13:10:05Z"
    doc["control"] = []
    axis = r'<text class="tick" x="[\d.]+" y="142.0" text-anchor="(?:start|end)">([^<]*)</text>'
    ticks = re.findall(axis, _trends(doc))
    assert ticks[:2] == ["#1 11-14 08:45:00", "#2 11-14 13:10:05"]


def test_a_point_outside_too_young_limits_is_not_judged_yet() -> None:
    doc = example()
    doc["control"] = [dict(metric="seconds", value=30, mean=11, lower=9, upper=13, flagged=False, runs=3)]
    doc["checks"].append(
        _check("trend", "seconds within control limits", "warn", "not judged",
               message="not judged yet (needs 5 runs, has 3): 30.00 against 9.00 .. 13.00 over 3 runs")
    )  # fmt: skip
    page = report_html.render_html(doc)
    trends = _between(page, report_html.SECTIONS[3], report_html.SECTIONS[4])
    assert "flagged only once 5 published runs set the band" in trends
    figure = _figure(trends, "run seconds")
    assert "outside, not judged yet (needs 5 runs, has 3)" in figure
    assert '<circle class="waiting"' in figure and "FLAGGED" not in figure
    row = next(r for r in page.split("<tr>") if "seconds within control limits" in r)
    assert "… not judged yet" in row and "✓" not in row
    assert "<b>1</b><span>not judged yet</span>" in page


def test_a_flagged_control_point_is_marked() -> None:
    page = report_html.render_html(example())
    trends = page[page.index(report_html.SECTIONS[3]) : page.index(report_html.SECTIONS[4])]
    assert trends.count('<figure class="flagged">') == 2
    assert trends.count('<circle class="flagged"') == 2
    assert "⚠ flagged" in trends
    assert 'class="band"' in trends


@pytest.mark.parametrize(
    "doc",
    [
        {},
        dict(status="passed", checks=[], models=[], history=[], control=[], quarantine={}, loaded={}),
        dict(status="published", history=[_run(1, 5.0, 10)], models=[dict(name="m", seconds=0, budget_seconds=0)]),
        dict(checks=[dict(name="odd")], models=[dict()], history=[dict(), dict(seconds=None)], parameters=None),
    ],
    ids=["empty", "empty-lists", "first-run", "missing-keys"],
)
def test_sparse_documents_render_and_say_what_is_missing(doc: dict[str, Any]) -> None:
    page = report_html.render_html(doc)
    assert page.rstrip().endswith("</html>")
    for heading in report_html.SECTIONS:
        assert f"<h2>{heading}</h2>" in page


def test_a_first_run_says_there_is_no_history_yet() -> None:
    page = report_html.render_html(dict(history=[_run(1, 5.0, 10)]))
    assert "No previous runs yet" in page


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = report_html.render_html(example())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "@import" not in page
    assert "url(" not in page


# Debian's package, other distributions' name for it, and the Chrome that GitHub's ubuntu runners ship.
CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = next(filter(None, map(shutil.which, CHROMIUM)), None)
    if binary is None:
        missing = "headless Chromium is missing: install the Debian package `chromium` (apt-get install chromium)"
        if _in_ci():  # CI must prove the page renders: a missing browser is a broken runner, not a skip
            pytest.fail(missing)
        pytest.skip(f"{missing}; skipped outside CI (with CI=true this test fails instead)")
    # Chromium puts a Unix socket in its profile and TMPDIR; a socket path over 107 bytes aborts it, and
    # nested runs (a template test's baked nox) give this test a deep tmp_path: use a short folder of its own.
    root = "/tmp"  # noqa: S108 - mkdtemp below makes a private folder; /tmp keeps the socket path short
    short = Path(tempfile.mkdtemp(prefix="chromium-", dir=root if Path(root).is_dir() else None))
    try:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={short / 'profile'}", *args],
            capture_output=True, text=True, timeout=120, check=True, env={**os.environ, "TMPDIR": str(short)},
        )  # fmt: skip
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.integration
def test_the_page_loads_in_a_browser_without_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report_html.render_html(example()), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    for heading in report_html.SECTIONS:
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count("<svg") == 6
    assert dom.count("<rect") > 40

    screenshot = tmp_path / "report.png"
    log = _chromium(
        tmp_path, "--enable-logging=stderr", "--v=0", f"--screenshot={screenshot}", "--window-size=1280,2000",
        page.as_uri(),
    ).stderr  # fmt: skip
    problems = [line for line in log.splitlines() if re.search(r"CONSOLE|Uncaught|ERR_|Failed to load", line)]
    assert not problems, "\n".join(problems)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
