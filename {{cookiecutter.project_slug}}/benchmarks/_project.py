"""What the benchmarks share: a throwaway copy of this project to build in, and one way to print a figure.

Every benchmark prints each figure twice with `report`: a line for people (`name: median [min-max] unit, n runs`) and
a line for programs, `BENCHMARK-JSON {...}`, which the template's benchmark suite (`nox -s benchmark` in
cookiecutter-dataops) reads. The JSON object has `figure` (the name), `median`, `min`, `max` (numbers, in `unit`),
`unit` (`s` for wall seconds, `ratio` for a quotient, `MiB` for memory), `runs` (how many samples) and `samples`
(each one, in run order), plus whatever the benchmark adds by keyword (e.g. `scale`, `models`).
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")
# The prefix of the line a program reads; what follows it is one JSON object.
MACHINE_PREFIX = "BENCHMARK-JSON "
UNITS = ("s", "ratio", "MiB")


def copy_project(destination: Path) -> Path:
    """Copy the dbt project and its data, so a benchmark can change and build it freely."""
    destination.mkdir(parents=True)
    for name in DBT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    return destination


def report(figure: str, samples: Sequence[float], unit: str, **extra: object) -> dict[str, object]:
    """Print one figure for people and for programs; return the JSON object printed.

    `samples` holds one measurement per run (at least one), in `unit`: `s` (wall seconds), `ratio` (a quotient,
    e.g. each run's slim / full time) or `MiB` (memory). `extra` adds fields to the JSON object (JSON-serialisable
    values, e.g. `scale=10`). Raises ValueError for no samples or an unknown unit: a figure must mean something.
    """
    if not samples:
        raise ValueError(f"figure {figure!r} has no samples: measure at least once")
    if unit not in UNITS:
        raise ValueError(f"figure {figure!r} has unit {unit!r}; use one of {', '.join(UNITS)}")
    values = [float(value) for value in samples]
    record: dict[str, object] = {
        "figure": figure,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "unit": unit,
        "runs": len(values),
        "samples": values,
        **extra,
    }
    suffix = "" if unit == "ratio" else f" {unit}"
    detail = "".join(f", {key} {value}" for key, value in extra.items())
    print(
        f"{figure}: {record['median']:.2f}{suffix} [{min(values):.2f}-{max(values):.2f}], "
        f"{len(values)} run{'s' if len(values) != 1 else ''}{detail}"
    )
    print(MACHINE_PREFIX + json.dumps(record, sort_keys=True))
    return record
