"""The example's value pipeline on DuckDB and on Spark (local mode), side by side in one run, stage by stage.

For the committed sample and each generated scale (`--scales`, scale 1 = ~100k orders) it runs, in one process,
DuckDB's pipeline then Spark's on the same raw files and prints the wall seconds of each stage:
- `ingest`: the seam's ingest (ingest.ingest): validation and quarantine in the local DuckDB engine on both; DuckDB
  writes its audit file in the same transaction, Spark gets the checked rows as parquet and replaces its raw tables;
- `build`: `dbt build` of every model, data test and unit test (dbtRunner, in this process);
- `publish`: the marts copied to the published location (warehouses.duckdb / warehouses.spark `publish`);
- `spark start`: the JVM and SparkSession, paid once per process (the pipeline's one JVM per run).
Not a test: it prints figures. Run it with `nox -s benchmark -- spark --scales 1`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _project import PACKAGE, copy_project, report
from dbt.cli.main import dbtRunner

from {{ cookiecutter.package_name }} import generate, ingest
from {{ cookiecutter.package_name }}.config import RAW_SCHEMA_VAR, SAMPLE_DIR, SCHEMA_VAR, Settings
from {{ cookiecutter.package_name }}.warehouses import Relation, spark
from {{ cookiecutter.package_name }}.warehouses import duckdb as duckdb_warehouse

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
MARTS = ("dim_customers", "fct_daily_revenue", "fct_orders")


def timed(figures: dict[str, float], name: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    @contextlib.contextmanager
    def block() -> Iterator[None]:
        started = time.perf_counter()
        yield
        figures[name] = figures.get(name, 0.0) + time.perf_counter() - started

    return block


def dbt(project: Path, profiles: Path, *args: str) -> None:
    outcome = dbtRunner().invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(profiles), "--target", "ci", "--quiet",
         "--target-path", str(profiles / "target"), "--log-path", str(profiles / "logs")]
    )  # fmt: skip
    if not outcome.success:
        raise SystemExit(f"benchmark build failed: {outcome.exception or outcome.result}")


def specs_of(project: Path, profiles: Path) -> list[ingest.TableSpec]:
    """The raw tables the project's sources declare, from a `dbt parse` (target/manifest.json under `profiles`)."""
    dbt(project, profiles, "parse")
    return ingest.load_specs(json.loads((profiles / "target" / "manifest.json").read_text(encoding="utf-8")))


def on_duckdb(project: Path, folder: Path, specs: list[ingest.TableSpec], raw_dir: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    folder.mkdir(parents=True)
    for variable in (SCHEMA_VAR, RAW_SCHEMA_VAR):  # Spark's run of the previous data set set them
        os.environ.pop(variable, None)
    settings = Settings(env="ci", name="bench", project_dir=folder, duckdb_path=folder / "bench.duckdb",
                        raw_dir=raw_dir, threads=4)  # fmt: skip
    (folder / "profiles.yml").write_text(
        DUCKDB_PROFILE.format(package=PACKAGE, path=settings.audit_path), encoding="utf-8"
    )
    with timed(figures, "ingest")():
        ingest.ingest(duckdb_warehouse.File(settings.audit_path), specs, raw_dir, "bench", progress=lambda _: None)
    with timed(figures, "build")():
        dbt(project, folder, "build")
    with timed(figures, "publish")():
        duckdb_warehouse.Warehouse(settings).publish([Relation("main", mart) for mart in MARTS])
    return figures


def on_spark(project: Path, folder: Path, specs: list[ingest.TableSpec], raw_dir: Path, name: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    folder.mkdir(parents=True)
    settings = Settings(env="ci", name=name, project_dir=Path(os.environ["BENCH_SPARK_PROJECT"]),
                        duckdb_path=folder / "x.duckdb", raw_dir=raw_dir, threads=2)  # fmt: skip
    warehouse = spark.Warehouse(settings)
    with timed(figures, "ingest")():
        specs = [dataclasses.replace(spec, schema=warehouse.raw) for spec in specs]
        ingest.ingest(warehouse, specs, raw_dir, "bench", progress=lambda _: None)
    for variable, value in warehouse.dbt_env().items():
        os.environ[variable] = value
    with timed(figures, "build")():
        dbt(project, project, "build")
    with timed(figures, "publish")():
        warehouse.publish([Relation(warehouse.audit, mart) for mart in MARTS])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="*", default=[1.0], help="generated scales besides the sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as scratch:
        project = copy_project(Path(scratch) / "project")
        os.environ["BENCH_SPARK_PROJECT"] = str(Path(scratch) / "spark")
        duck_profiles = Path(scratch) / "parse"
        duck_profiles.mkdir()
        (duck_profiles / "profiles.yml").write_text(
            DUCKDB_PROFILE.format(package=PACKAGE, path=Path(scratch) / "parse.duckdb"), encoding="utf-8"
        )
        specs = specs_of(project, duck_profiles)
        started = time.perf_counter()
        spark.spark_session(Settings(env="ci", name="bench", project_dir=Path(scratch) / "spark",
                                     duckdb_path=Path(scratch) / "x.duckdb", raw_dir=project, threads=2))  # fmt: skip
        report("spark start", [time.perf_counter() - started], "s")
        datasets = [("sample", project / SAMPLE_DIR)]
        datasets += [(f"scale {s:g}", generate.ensure(s, project)) for s in args.scales]
        for number, (label, raw_dir) in enumerate(datasets):
            duck = on_duckdb(project, Path(scratch) / f"duckdb{number}", specs, raw_dir)
            sparked = on_spark(project, Path(scratch) / f"spark{number}", specs, raw_dir, f"bench{number}")
            for warehouse, figures in (("duckdb", duck), ("spark", sparked)):
                for stage, seconds in [*figures.items(), ("run", sum(figures.values()))]:
                    report(f"{warehouse} {stage}", [seconds], "s", data=label)


if __name__ == "__main__":
    main()
