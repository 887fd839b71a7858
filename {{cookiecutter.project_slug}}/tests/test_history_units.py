"""In-process unit tests of `history`: the stored rows, the control limits' exact values, and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from {{ cookiecutter.package_name }} import history
from {{ cookiecutter.package_name }}.checks import Check
from {{ cookiecutter.package_name }}.history import Control
from {{ cookiecutter.package_name }}.warehouses.duckdb import File


def _append(database: Path, **run: Any) -> None:
    """history.append on a Session of one DuckDB file."""
    with File(database).session() as session:
        history.append(session, **run)


def _load(database: Path, limit: int = 50) -> list[dict[str, Any]]:
    """history.load from a Session of one DuckDB file."""
    with File(database).session() as session:
        return history.load(session, limit)


def _run(metrics: dict[str, float], status: str = "published") -> dict[str, Any]:
    return {"run_id": "r", "started_at": "2026-01-01T00:00:00", "status": status, "seconds": 1.0, "metrics": metrics}


def test_append_and_load_store_whole_rows_in_a_nested_new_folder(tmp_path: Path) -> None:
    database = tmp_path / "a" / "b" / "audit.duckdb"
    _append(
        database,
        run_id="r1",
        started_at="2026-03-04T05:06:07Z",
        status="published",
        seconds=12.5,
        metrics={"rows:b": 2.0, "rows:a": 1.0},
    )
    assert _load(database) == [
        {
            "run_id": "r1",
            "started_at": "2026-03-04T05:06:07",
            "status": "published",
            "seconds": 12.5,
            "metrics": {"rows:a": 1.0, "rows:b": 2.0},
        }
    ]
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select metrics from pipeline.run_history").fetchall() == [
            ('{"rows:a": 1.0, "rows:b": 2.0}',)
        ]
        assert con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'pipeline' and table_name = 'run_history' order by ordinal_position"
        ).fetchall() == [
            ("run_id", "VARCHAR"),
            ("started_at", "TIMESTAMP"),
            ("status", "VARCHAR"),
            ("seconds", "DOUBLE"),
            ("metrics", "VARCHAR"),
        ]


def test_load_returns_the_last_fifty_runs_oldest_first(tmp_path: Path) -> None:
    database = tmp_path / "audit.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema pipeline")
        con.execute(
            "create table pipeline.run_history (run_id varchar, started_at timestamp, status varchar, "
            "seconds double, metrics varchar)"
        )
        con.execute(
            "insert into pipeline.run_history select 'r' || i, timestamp '2026-01-01' + to_seconds(i), "
            "'published', i, '{}' from range(60) t(i)"
        )
    runs = _load(database)
    assert [run["run_id"] for run in runs] == [f"r{i}" for i in range(10, 60)]
    assert [run["run_id"] for run in _load(database, limit=2)] == ["r58", "r59"]
    assert _load(tmp_path / "absent.duckdb") == []


def test_control_limits_have_exact_values_and_skip_metrics_without_two_points() -> None:
    past = [_run({"rows:m": v, "seconds": s}) for v, s in [(10, 1), (12, 3)]]
    past.append(_run({"rows:m": 1000, "seconds": 1000}, status="failed"))
    limits = history.control(past, {"a_new": 5, "rows:m": 11, "seconds": 2})
    spread = 2**0.5  # stdev of (10, 12) and of (1, 3)
    assert limits == [
        Control("rows:m", 11, 11.0, 11 - 3 * spread, 11 + 3 * spread, flagged=False, runs=2),
        Control("seconds", 2, 2.0, 0.0, 2 + 3 * spread, flagged=False, runs=2),
    ]
    assert limits[0].as_dict() == {
        "metric": "rows:m",
        "value": 11,
        "mean": 11.0,
        "lower": 11 - 3 * spread,
        "upper": 11 + 3 * spread,
        "flagged": False,
        "runs": 2,
    }


def test_control_window_is_the_last_ten_published_runs() -> None:
    past = [_run({"m": 1000.0}) for _ in range(3)] + [_run({"m": float(v)}) for v in (10, 11) * 5]
    (limit,) = history.control(past, {"m": 10.5})
    assert (limit.runs, limit.mean) == (10, 10.5)


def test_a_point_on_a_limit_is_inside_and_five_runs_judge() -> None:
    past = [_run({"m": v}) for v in (10, 12, 10, 12, 11)]
    (low,) = history.control(past, {"m": 0.0})
    lower, upper = low.lower, low.upper
    assert lower > 0
    assert (low.runs, low.judged, low.outside, low.flagged) == (5, True, True, True)
    (on_lower,) = history.control(past, {"m": lower})
    (on_upper,) = history.control(past, {"m": upper})
    assert not on_lower.outside and not on_lower.flagged
    assert not on_upper.outside and not on_upper.flagged
    four = history.control(past[:4], {"m": 0.0})[0]
    assert (four.judged, four.outside, four.flagged) == (False, True, False)


def test_trend_checks_are_whole_checks() -> None:
    passing = Control("rows:fct", 1001.0, 1001.0, 998.0, 1004.0, flagged=False, runs=3)
    failing = Control("seconds", 1234.5, 10.0, 0.0, 20.0, flagged=True, runs=6)
    young = Control("rows:dim", 5000.0, 1001.0, 998.0, 1004.0, flagged=False, runs=3)
    assert history.trend_checks([passing, failing, young]) == [
        Check(
            stage="trend",
            name="rows:fct within control limits",
            severity="warn",
            status="pass",
            message="1,001.00 against 998.00 .. 1,004.00 over 3 runs",
            observed=1001.0,
            expected="998.00 .. 1,004.00",
        ),
        Check(
            stage="trend",
            name="seconds within control limits",
            severity="warn",
            status="fail",
            message="1,234.50 against 0.00 .. 20.00 over 6 runs",
            observed=1234.5,
            expected="0.00 .. 20.00",
        ),
        Check(
            stage="trend",
            name="rows:dim within control limits",
            severity="warn",
            status="not judged",
            message="not judged yet (needs 5 runs, has 3): 5,000.00 against 998.00 .. 1,004.00 over 3 runs",
            observed=5000.0,
            expected="998.00 .. 1,004.00",
        ),
    ]
