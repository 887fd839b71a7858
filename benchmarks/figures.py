"""The benchmark suite's figures and its one table: summaries of samples, the baked benchmarks' lines, markdown.

Nothing here runs anything: `suite.py` measures, this module summarises, parses and renders, so all of it is
unit-tested (tests/test_benchmark_suite.py) without a bake.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# The prefix of the line a baked benchmark prints for programs (the bake's benchmarks/_project.py, `report`).
MACHINE_PREFIX = "BENCHMARK-JSON "
UNITS = ("s", "ratio", "MiB")
COLUMNS = ("figure", "ours (median [min-max])", "compared with", "ratio", "target", "met?")


@dataclass(frozen=True)
class Figure:
    """One measured quantity: the median, min and max of `runs` samples, in `unit` (`s`, `ratio` or `MiB`).

    `extra` holds what a baked benchmark added to its line (e.g. `{"scale": 10}`), matched by `find_figure`.
    """

    name: str
    median: float
    low: float
    high: float
    unit: str
    runs: int
    extra: Mapping[str, object] = field(default_factory=dict)

    def cell(self) -> str:
        """`median unit [min-max]`, e.g. `6.41 s [6.02-7.90]`; one run shows its value alone."""
        suffix = "" if self.unit == "ratio" else f" {self.unit}"
        if self.runs == 1:
            return f"{number(self.median)}{suffix}"
        return f"{number(self.median)}{suffix} [{number(self.low)}-{number(self.high)}]"


def number(value: float) -> str:
    """A figure's value with three significant digits at least two decimals under 10 (0.0412, 6.41, 118)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 100:  # three digits before the point: no decimals
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def summarise(name: str, samples: Sequence[float], unit: str, **extra: object) -> Figure:
    """The Figure of `samples` (one per run, in `unit`): median, min and max.

    Raises ValueError for no samples or a unit not in UNITS.
    """
    if not samples:
        raise ValueError(f"figure {name!r} has no samples")
    if unit not in UNITS:
        raise ValueError(f"figure {name!r} has unit {unit!r}, not one of {', '.join(UNITS)}")
    values = [float(value) for value in samples]
    return Figure(name, statistics.median(values), min(values), max(values), unit, len(values), dict(extra))


def parse_figures(output: str) -> list[Figure]:
    """The figures a baked benchmark printed: every `BENCHMARK-JSON {...}` line of `output` (its stdout), in order.

    Each JSON object needs `figure` (str), `median`, `min`, `max` (numbers) and `unit` (one of UNITS); `runs`
    defaults to the length of `samples`, else 1; any other key goes to `extra`. A line that is not such an object
    is skipped (a benchmark's own output must not crash the suite); `missing_reason` then names the figure missing.
    """
    figures = []
    for line in output.splitlines():
        if not line.startswith(MACHINE_PREFIX):
            continue
        try:
            record = json.loads(line[len(MACHINE_PREFIX) :])
            name, unit = record.pop("figure"), record.pop("unit")
            values = [float(record.pop(key)) for key in ("median", "min", "max")]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if not isinstance(name, str) or unit not in UNITS:
            continue
        samples = record.pop("samples", None)
        runs = record.pop("runs", len(samples) if isinstance(samples, list) else 1)
        figures.append(Figure(name, *values, unit, int(runs), record))
    return figures


def find_figure(figures: Iterable[Figure], name: str, **match: object) -> Figure | None:
    """The first figure called `name` whose extra fields equal `match` (e.g. `scale=10`, which a printed 10.0 equals),
    else None.
    """
    for figure in figures:
        if figure.name == name and all(figure.extra.get(key) == value for key, value in match.items()):
            return figure
    return None


@dataclass(frozen=True)
class Target:
    """A goal from issue 11: `ours` (`of="ours"`) or the ratio (`of="ratio"`) at most `limit`, in the figure's unit.

    `label` is what the table shows, e.g. `P3 ≤ 1.05`.
    """

    label: str
    limit: float
    of: str = "ratio"


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure, optionally what it is compared with, and a target.

    `missing` (non-empty) says why the row was not measured; it then shows in place of our figure. `against` names
    the comparison (e.g. "cookiecutter-data-science"). The ratio is ours.median / compared.median.
    """

    label: str
    ours: Figure | None = None
    compared: Figure | None = None
    against: str = ""
    target: Target | None = None
    missing: str = ""

    def ratio(self) -> float | None:
        """Our median over the compared median, or None without both (or with a zero compared median)."""
        if self.ours is None or self.compared is None or self.compared.median == 0:
            return None
        return self.ours.median / self.compared.median

    def met(self) -> str:
        """`yes` or `no` against the target; empty without a target, `n/a` when the figure it needs is missing."""
        if self.target is None:
            return ""
        value = self.ratio() if self.target.of == "ratio" else (self.ours.median if self.ours else None)
        if value is None:
            return "n/a"
        return "yes" if value <= self.target.limit else "no"

    def cells(self) -> tuple[str, ...]:
        """The row's cells, in COLUMNS order."""
        if self.missing or self.ours is None:
            reason = self.missing or "no figure"
            return (self.label, f"not measured: {reason}", self.against or "", "", self.target_label(), self.met())
        compared = f"{self.against}: {self.compared.cell()}" if self.compared else self.against
        ratio = self.ratio()
        return (
            self.label,
            self.ours.cell(),
            compared,
            "" if ratio is None else f"{ratio:.2f}",
            self.target_label(),
            self.met(),
        )

    def target_label(self) -> str:
        return self.target.label if self.target else ""


def missing_reason(script: str, figure: str, **match: object) -> str:
    """Why a row is empty when a benchmark ran but printed no such figure (one line, for the table)."""
    where = "".join(f", {key} {value}" for key, value in match.items())
    return f"{script} printed no figure '{figure}'{where}"


def render_table(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """The markdown table of `rows` (COLUMNS), then each note as a list item; ends with a newline.

    A `|` inside a cell is escaped, so a reason quoting a command cannot break the table.
    """
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = (cell.replace("|", "\\|").replace("\n", " ") for cell in row.cells())
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
