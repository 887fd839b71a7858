"""Run history in the warehouse, and statistical process control over it.

Every run appends one row to `pipeline.run_history` in the instance's audit database, so
trends survive between runs. A metric (a mart's row count, a model's or the whole run's
seconds) outside mean ± 3 standard deviations of the last published runs is flagged as a
warning: the data or the code changed more than its own history says is normal.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from .checks import Check

TABLE = "pipeline.run_history"
WINDOW = 10  # previous runs that set the control limits
MIN_RUNS = 5  # fewer than this and the limits mean little: report, do not flag
SIGMAS = 3.0


@dataclass(frozen=True)
class Control:
    metric: str
    value: float
    mean: float
    lower: float
    upper: float
    flagged: bool
    runs: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _connect(database: Path) -> duckdb.DuckDBPyConnection:
    database.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database))
    con.execute("create schema if not exists pipeline")
    con.execute(
        f"create table if not exists {TABLE} (run_id varchar, started_at timestamp, status varchar, "
        "seconds double, metrics varchar)"
    )
    return con


def load(database: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The last runs, oldest first, each with its metrics as a dict."""
    if not database.is_file():
        return []
    with _connect(database) as con:
        rows = con.execute(
            f"select run_id, started_at, status, seconds, metrics from {TABLE} order by started_at desc limit ?",
            [limit],
        ).fetchall()
    return [
        {"run_id": r[0], "started_at": r[1].isoformat(), "status": r[2], "seconds": r[3], "metrics": json.loads(r[4])}
        for r in reversed(rows)
    ]


def append(
    database: Path, *, run_id: str, started_at: str, status: str, seconds: float, metrics: Mapping[str, float]
) -> None:
    """Record one run and its metrics."""
    with _connect(database) as con:
        con.execute(
            f"insert into {TABLE} values (?, cast(? as timestamp), ?, ?, ?)",
            [run_id, started_at.replace("Z", ""), status, seconds, json.dumps(dict(metrics), sort_keys=True)],
        )


def control(history: list[dict[str, Any]], current: Mapping[str, float]) -> list[Control]:
    """Control limits per metric from the last published runs, and whether this run falls outside."""
    baseline = [run["metrics"] for run in history if run["status"] == "published"][-WINDOW:]
    limits = []
    for metric, value in sorted(current.items()):
        past = [float(run[metric]) for run in baseline if metric in run]
        if len(past) < 2:  # noqa: PLR2004 - a spread needs two points
            continue
        mean, spread = statistics.fmean(past), statistics.stdev(past)
        lower, upper = mean - SIGMAS * spread, mean + SIGMAS * spread
        outside = not lower <= value <= upper
        limits.append(Control(metric, value, mean, lower, upper, outside and len(past) >= MIN_RUNS, len(past)))
    return limits


def trend_checks(limits: list[Control]) -> list[Check]:
    """Each metric under control as a check: a point outside its limits is a warning."""
    return [
        Check(
            stage="trend",
            name=f"{limit.metric} within control limits",
            severity="warn",
            status="fail" if limit.flagged else "pass",
            message=f"{limit.value:,.2f} against {limit.lower:,.2f} .. {limit.upper:,.2f} over {limit.runs} runs",
            observed=limit.value,
            expected=f"{limit.lower:,.2f} .. {limit.upper:,.2f}",
        )
        for limit in limits
    ]
