"""Run history survives between runs; a metric outside the control limits of past runs is flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }} import history
from {{ cookiecutter.package_name }}.warehouses.duckdb import File


def _append(database: Path, **run: Any) -> None:
    """history.append on a Session of one DuckDB file."""
    with File(database).session() as session:
        history.append(session, **run)


def _load(database: Path, limit: int = 50) -> list[dict[str, Any]]:
    """history.load from a Session of one DuckDB file."""
    with File(database).session() as session:
        return history.load(session, limit)


def _runs(database: Path, values: list[float], status: str = "published") -> None:
    for i, value in enumerate(values):
        started_at = f"2026-01-{i + 1:02d}T00:00:00Z"
        _append(
            database, run_id=f"r{i}", started_at=started_at, status=status, seconds=10.0, metrics={"rows:fct": value}
        )


def test_history_is_kept_in_order(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [100, 101, 102])
    runs = _load(database)
    assert [run["run_id"] for run in runs] == ["r0", "r1", "r2"]
    assert runs[-1]["metrics"] == {"rows:fct": 102}


def test_a_point_outside_three_sigma_is_flagged_as_a_warning(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [1000, 1004, 998, 1001, 997, 1003])
    (normal,) = history.control(_load(database), {"rows:fct": 1002})
    (outlier,) = history.control(_load(database), {"rows:fct": 1200})
    assert not normal.flagged
    assert outlier.flagged
    assert outlier.lower < 1000 < outlier.upper
    (check,) = history.trend_checks([outlier])
    assert (check.stage, check.severity, check.status) == ("trend", "warn", "fail")


def test_too_few_runs_report_limits_but_never_flag(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [1000, 1002, 1001])
    (limit,) = history.control(_load(database), {"rows:fct": 5000})
    assert limit.runs == 3
    assert not limit.flagged
    (check,) = history.trend_checks([limit])
    assert check.status == history.NOT_JUDGED  # neither a pass nor a flag
    assert check.message.startswith("not judged yet (needs 5 runs, has 3): 5,000.00 against")
    assert not check.flagged and not check.stops_the_line


def test_a_point_inside_young_limits_passes(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [1000, 1002, 1001])
    (check,) = history.trend_checks(history.control(_load(database), {"rows:fct": 1001}))
    assert (check.status, check.message) == ("pass", "1,001.00 against 998.00 .. 1,004.00 over 3 runs")


def test_limits_of_counts_and_durations_never_go_below_zero(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [1, 60, 2, 55, 1, 3])
    (limit,) = history.control(_load(database), {"rows:fct": 0})
    assert limit.lower == 0.0
    assert limit.upper > 60
    assert not limit.flagged  # zero rows is inside [0, upper]
    (check,) = history.trend_checks([limit])
    assert "-" not in check.message and check.expected is not None and check.expected.startswith("0.00 .. ")


def test_failed_runs_do_not_move_the_limits(tmp_path: Path) -> None:
    database = tmp_path / "a.duckdb"
    _runs(database, [1000, 1001, 999, 1000, 1001, 999])
    _append(
        database,
        run_id="bad",
        started_at="2026-02-01T00:00:00Z",
        status="failed",
        seconds=10.0,
        metrics={"rows:fct": 5},
    )
    (limit,) = history.control(_load(database), {"rows:fct": 1000})
    assert limit.runs == 6
    assert limit.lower > 900
