"""Ingest's cost side by side in one run: a first load, a reuse of unchanged files, a forced reload.

For the committed sample and each generated scale (`--scales`, scale 1 = ~100k orders), every
round runs the three kinds one after the other, so machine noise hits them alike: `first` loads
the raw files into a new database file, `reuse` ingests the same files again (each one unchanged
since the last ingest, so none is loaded), `reload` loads them all again (`ingest --reload`).
It prints the wall seconds of `ingest.ingest` (the dbt parse that finds the sources is paid once,
before timing) as median, min and max of `--repeat` rounds. Then it runs the whole pipeline
(`run --env ci`) twice on the same data in a fresh instance per scale and prints the audit and
published databases' sizes after each run, in MB (the no-growth rule is ± 5 %).
Not a test: it prints figures. Run it with `nox -s benchmark -- ingest --repeat 5 --scales 1 10`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PACKAGE, copy_project

from {{ cookiecutter.package_name }} import generate, ingest
from {{ cookiecutter.package_name }}.config import SAMPLE_DIR
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

KINDS = ("first", "reuse", "reload")


def cli(project: Path, *args: str, **environ: str) -> None:
    """Run the pipeline's CLI in `project`; stop the benchmark with its output when it fails."""
    env = {**os.environ, "DBT_PROJECT_DIR": str(project), **environ}
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE, *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"benchmark run failed: {' '.join(args)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def time_ingest(specs: list[ingest.TableSpec], raw_dir: Path, database: Path, kind: str) -> float:
    """Seconds of one ingest of `raw_dir` into `database` (a new file for `first`)."""
    if kind == "first":
        database.unlink(missing_ok=True)
    started = time.perf_counter()
    ingest.ingest(File(database), specs, raw_dir, f"bench-{kind}", progress=lambda _: None, reload=kind == "reload")
    return time.perf_counter() - started


def sizes(project: Path, instance: str) -> tuple[float, float]:
    """(audit, published) database sizes of an instance, MB."""
    folder = project / "warehouse"
    return tuple(  # type: ignore[return-value]
        (folder / name).stat().st_size / 1e6 for name in (f"{instance}__audit.duckdb", f"{instance}.duckdb")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the three kinds (default 5)")
    parser.add_argument("--scales", type=float, nargs="*", default=[1.0], help="generated scales besides the sample")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as scratch:
        project = copy_project(Path(scratch) / "project")
        cli(project, "ingest", "--env", "ci", PR_NUMBER="1")  # parses the project: target/ci_pr_1/manifest.json
        manifest = json.loads((project / "target" / "ci_pr_1" / "manifest.json").read_text(encoding="utf-8"))
        specs = ingest.load_specs(manifest)
        datasets: list[tuple[str, Path, list[str]]] = [("sample", SAMPLE_DIR, [])]
        datasets += [(f"scale {s:g}", generate.ensure(s, project), ["--scale", f"{s:g}"]) for s in args.scales]

        print(f"ingest seconds, median (min-max) of {args.repeat} interleaved rounds")
        print(f"{'data':<10}" + "".join(f"{kind:>22}" for kind in KINDS) + f"{'reuse/first':>13}")
        for label, raw_dir, _ in datasets:
            times: dict[str, list[float]] = {kind: [] for kind in KINDS}
            database = Path(scratch) / "bench.duckdb"
            for _ in range(args.repeat):
                for kind in KINDS:
                    times[kind].append(time_ingest(specs, raw_dir, database, kind))
            cells = "".join(
                f"{statistics.median(t):>8.2f} ({min(t):.2f}-{max(t):.2f})".rjust(22) for t in times.values()
            )
            ratio = statistics.median(times["reuse"]) / statistics.median(times["first"])
            print(f"{label:<10}{cells}{ratio:>13.2f}")

        print("\ndatabase sizes after two identical `run --env ci` (MB; run 2 / run 1)")
        print(f"{'data':<10}{'audit 1':>9}{'audit 2':>9}{'ratio':>7}{'published 1':>13}{'published 2':>13}{'ratio':>7}")
        for number, (label, _, scale) in enumerate(datasets, start=2):
            instance = f"ci_pr_{number}"
            after = []
            for _ in range(2):
                cli(project, "run", "--env", "ci", *scale, PR_NUMBER=str(number))
                after.append(sizes(project, instance))
            (audit1, published1), (audit2, published2) = after
            print(
                f"{label:<10}{audit1:>9.1f}{audit2:>9.1f}{audit2 / audit1:>7.2f}"
                f"{published1:>13.1f}{published2:>13.1f}{published2 / published1:>7.2f}"
            )


if __name__ == "__main__":
    main()
