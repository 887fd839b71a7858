"""Run history in the warehouse, and statistical process control over it.

Every run appends one row to `pipeline.run_history` in the instance's audit location, so
trends survive between runs. It is read and written through a warehouse Session in plain SQL that
runs on every warehouse. A metric (a mart's row count, a model's or the whole run's
seconds) outside mean ± 3 standard deviations of the last published runs is flagged as a
warning: the data or the code changed more than its own history says is normal. Every metric is a
count or a duration, so a lower limit is never below zero. With fewer than MIN_RUNS published runs the
limits are shown but a point outside them is "not judged yet", neither a pass nor a flag.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import sql
from .checks import Check
from .warehouses import Session

SCHEMA, TABLE_NAME = "pipeline", "run_history"
TABLE = sql.relation(SCHEMA, TABLE_NAME)
WINDOW = 10  # previous runs that set the control limits
MIN_RUNS = 5  # fewer than this and the limits mean little: report, do not judge
NOT_JUDGED = "not judged"  # a Check status: outside limits that too few runs set
SIGMAS = 3.0


@dataclass(frozen=True)
class Control:
    """One metric of this run against its limits: `lower`/`upper` in the metric's unit (rows or seconds).

    `runs` is how many past published runs set the limits; `flagged` only when `runs >= MIN_RUNS`.
    """

    metric: str
    value: float
    mean: float
    lower: float
    upper: float
    flagged: bool
    runs: int

    @property
    def outside(self) -> bool:
        return not self.lower <= self.value <= self.upper

    @property
    def judged(self) -> bool:
        return self.runs >= MIN_RUNS

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _ensure(session: Session) -> None:
    """Create the history table when missing (plain types every warehouse knows)."""
    session.execute(f"create schema if not exists {sql.identifier(SCHEMA)}")
    session.execute(
        f"create table if not exists {TABLE} (run_id varchar, started_at timestamp, status varchar, "
        "seconds double precision, metrics varchar)"
    )


def load(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The last `limit` runs from the audit location's history (a Session on it), oldest first.

    Each run is `{run_id, started_at (ISO, UTC), status, seconds (float), metrics: {key: float}}`;
    [] when no run was recorded yet.
    """
    if TABLE_NAME not in session.tables(SCHEMA):
        return []
    rows = session.query(
        f"select run_id, started_at, status, seconds, metrics from {TABLE} order by started_at desc limit ?",
        [limit],
    )
    return [
        {"run_id": r[0], "started_at": r[1].isoformat(), "status": r[2], "seconds": r[3], "metrics": json.loads(r[4])}
        for r in reversed(rows)
    ]


def append(
    session: Session, *, run_id: str, started_at: str, status: str, seconds: float, metrics: Mapping[str, float]
) -> None:
    """Record one run and its metrics (`started_at` ISO 8601 in UTC, `seconds` of wall time)."""
    _ensure(session)
    session.execute(
        f"insert into {TABLE} values (?, cast(? as timestamp), ?, ?, ?)",
        [run_id, started_at.replace("Z", ""), status, seconds, json.dumps(dict(metrics), sort_keys=True)],
    )


def control(history: list[dict[str, Any]], current: Mapping[str, float]) -> list[Control]:
    """Control limits per metric from the last published runs, and whether this run falls outside.

    `history` is `load()`'s list; `current` maps metric keys (`rows:<mart>`, `model_seconds:<model>`,
    `seconds`) to this run's value. Metrics with fewer than two past values get no limits.
    """
    baseline = [run["metrics"] for run in history if run["status"] == "published"][-WINDOW:]
    limits = []
    for metric, value in sorted(current.items()):
        past = [float(run[metric]) for run in baseline if metric in run]
        if len(past) < 2:  # noqa: PLR2004 - a spread needs two points
            continue
        mean, spread = statistics.fmean(past), statistics.stdev(past)
        # Rows and seconds are never negative: a limit below zero would only read as nonsense (-31.99 s).
        lower, upper = max(mean - SIGMAS * spread, 0.0), mean + SIGMAS * spread
        outside = not lower <= value <= upper
        limits.append(Control(metric, value, mean, lower, upper, outside and len(past) >= MIN_RUNS, len(past)))
    return limits


def trend_checks(limits: list[Control]) -> list[Check]:
    """Each metric under control as a check: a point outside its limits is a warning.

    Outside its limits before MIN_RUNS published runs exist, the check's status is NOT_JUDGED and its
    message says how many runs it has: the report shows it as "not judged yet", not as a pass.
    """
    found = []
    for limit in limits:
        against = f"{limit.value:,.2f} against {limit.lower:,.2f} .. {limit.upper:,.2f} over {limit.runs} runs"
        status, message = ("fail" if limit.flagged else "pass"), against
        if limit.outside and not limit.judged:
            status = NOT_JUDGED
            message = f"not judged yet (needs {MIN_RUNS} runs, has {limit.runs}): {against}"
        found.append(
            Check(
                stage="trend",
                name=f"{limit.metric} within control limits",
                severity="warn",
                status=status,
                message=message,
                observed=limit.value,
                expected=f"{limit.lower:,.2f} .. {limit.upper:,.2f}",
            )
        )
    return found
