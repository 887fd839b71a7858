"""DuckDB against PostgreSQL, side by side in one run: load, build and publish of the example, per data scale.

For the committed sample and each generated scale (`--scales`, scale 1 = ~100k orders), each round runs the
stages on DuckDB, then on Postgres, so machine noise hits both alike:
  load     `ingest.ingest`: DuckDB validates and loads in the audit file itself; Postgres validates in a local
           DuckDB engine and COPYs the checked rows to `<instance>__raw` (one server transaction).
  build    `dbt build` of every model and test on the audit location (dbtRunner, in this process).
  publish  the three marts into the published location (`Warehouse.publish`: DuckDB's file swap, Postgres's
           one-transaction copy).
It prints wall seconds, median (min-max) of `--repeat` rounds. The server is a throwaway one from the local
binaries, or the one PGHOST names. Not a test: it prints figures. `nox -s benchmark -- warehouses --scales 1`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _project import PACKAGE, copy_project, report
from dbt.cli.main import dbtRunner

from {{ cookiecutter.package_name }} import generate, ingest
from {{ cookiecutter.package_name }}.config import SAMPLE_DIR, Settings
from {{ cookiecutter.package_name }}.warehouses import Relation, duckdb, postgres
from {{ cookiecutter.package_name }}.warehouses.postgres_server import throwaway

STAGES = ("load", "build", "publish")
MARTS = ("dim_customers", "fct_daily_revenue", "fct_orders")
DUCKDB_PROFILE = """
{package}:
  target: ci
  outputs:
    ci:
      type: duckdb
      path: "{path}"
      threads: 4
      plugins:
        - module: {package}.pii_plugin
          config:
            environment: ci
"""


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for dbt and libpq; put the previous values back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt(project: Path, profiles: Path, *args: str) -> None:
    """One dbt command on the ci target; stop the benchmark when it fails."""
    outcome = dbtRunner().invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(profiles), "--target", "ci", "--quiet",
         "--target-path", str(project / "target"), "--log-path", str(project / "logs")]
    )  # fmt: skip
    if not outcome.success:
        raise SystemExit(f"dbt {args[0]} failed: {outcome.exception or 'see the log'}")


def timed(stage: Callable[[], object]) -> float:
    started = time.perf_counter()
    stage()
    return time.perf_counter() - started


def settings(project: Path, name: str, database: Path) -> Settings:
    return Settings(env="ci", name=name, project_dir=project, duckdb_path=database, raw_dir=project, threads=4)


ROUNDS = itertools.count(1)  # a new instance name per round: dbt-duckdb keeps a file it opened open in-process


def on_duckdb(project: Path, specs: list[ingest.TableSpec], raw_dir: Path, scratch: Path) -> dict[str, float]:
    """Seconds of each stage on a new DuckDB instance."""
    name = f"bench{next(ROUNDS)}"
    warehouse = duckdb.Warehouse(settings(project, name, scratch / f"{name}.duckdb"))
    audit = warehouse.settings.audit_path
    profiles = scratch / "duckdb-profile"
    profiles.mkdir(exist_ok=True)
    (profiles / "profiles.yml").write_text(DUCKDB_PROFILE.format(package=PACKAGE, path=audit), encoding="utf-8")
    with environ({"DBT_RAW_SCHEMA": "raw"}):
        return {
            "load": timed(lambda: ingest.ingest(duckdb.File(audit), specs, raw_dir, "bench", progress=lambda _: None)),
            "build": timed(lambda: dbt(project, profiles, "build")),
            "publish": timed(lambda: warehouse.publish([Relation("main", mart) for mart in MARTS])),
        }


def on_postgres(project: Path, specs: list[ingest.TableSpec], raw_dir: Path, scratch: Path) -> dict[str, float]:
    """Seconds of each stage on a new Postgres instance (dropped first)."""
    warehouse = postgres.Warehouse(settings(project, "bench", scratch / "bench.duckdb"))
    warehouse.drop()
    warehouse.create()
    raw = [dataclasses.replace(spec, schema=warehouse.raw) for spec in specs]
    with environ(warehouse.dbt_env()):
        return {
            "load": timed(lambda: ingest.ingest(warehouse, raw, raw_dir, "bench", progress=lambda _: None)),
            "build": timed(lambda: dbt(project, project, "build")),
            "publish": timed(lambda: warehouse.publish([Relation(warehouse.audit, mart) for mart in MARTS])),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scale (default 3)")
    parser.add_argument("--scales", type=float, nargs="*", default=[1.0], help="generated scales besides the sample")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="warehouses-bench-")))
        if not os.environ.get("PGHOST"):
            server = stack.enter_context(throwaway())
            stack.enter_context(environ(server.environ()))
        project = copy_project(scratch / "project")
        dbt(project, project, "parse")
        specs = ingest.load_specs(json.loads((project / "target" / "manifest.json").read_text(encoding="utf-8")))
        datasets = [("sample", project / SAMPLE_DIR)]
        datasets += [(f"scale {s:g}", generate.ensure(s, project)) for s in args.scales]

        print(f"seconds, median (min-max) of {args.repeat} interleaved rounds")
        print(f"{'data':<10}{'warehouse':<10}" + "".join(f"{stage:>20}" for stage in (*STAGES, "total")))
        for label, raw_dir in datasets:
            times: dict[str, dict[str, list[float]]] = {"duckdb": {}, "postgres": {}}
            for _ in range(args.repeat):
                for name, stages in (("duckdb", on_duckdb), ("postgres", on_postgres)):
                    seconds = stages(project, specs, raw_dir, scratch)
                    seconds["total"] = sum(seconds.values())
                    for stage, value in seconds.items():
                        times[name].setdefault(stage, []).append(value)
            for name, by_stage in times.items():
                cells = "".join(
                    f"{statistics.median(t):>7.2f} ({min(t):.2f}-{max(t):.2f})".rjust(20) for t in by_stage.values()
                )
                print(f"{label:<10}{name:<10}{cells}")
            for name, by_stage in times.items():
                for stage, samples in by_stage.items():
                    report(f"{stage} on {name}", samples, "s", data=label, warehouse=name)


if __name__ == "__main__":
    main()
