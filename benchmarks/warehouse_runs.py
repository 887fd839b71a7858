"""`run` on DuckDB, Postgres and Spark side by side in one run: wall seconds at sample scale and at scale 1.

Bakes three projects (warehouse=duckdb, postgres, spark; the example, no container) under a scratch folder,
installs each (`uv sync`), writes the scale-1 raw files once (`generate --scale 1`), then for each data set runs
`<project> run --env ci --raw-dir <data>` in each bake in turn (a fresh instance per round: PR_NUMBER), so
machine noise hits all three alike. Postgres runs against a throwaway server started for the command
(`python -m <package>.warehouses.postgres_server`, as the bake's nox does: its start is in the figure); Spark runs
in local mode, one JVM for the run (the figure includes the JVM's start). Prints a markdown table: median
(min-max) of `--repeat` rounds. Not a test: it prints figures.

    uv run python benchmarks/warehouse_runs.py [--repeat 1] [--scratch DIR]

Needs uv, Java 17 and PostgreSQL's binaries (initdb, pg_ctl); exits with a sentence when a run fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
SLUG, PACKAGE = "shop-analytics", "shop_analytics"
WAREHOUSES = ("duckdb", "postgres", "spark")
# How each bake's `run` is started: Postgres inside a throwaway server's lifetime, as its noxfile does.
PREFIX = {
    "duckdb": (SLUG,),
    "postgres": ("python", "-m", f"{PACKAGE}.warehouses.postgres_server", SLUG),
    "spark": (SLUG,),
}


def sh(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run `command`; exit with its last output lines when it fails."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{tail}")


def bake(scratch: Path, warehouse: str) -> Path:
    """A synced bake of `warehouse` under scratch/<warehouse>/shop-analytics (reused when already there)."""
    out = scratch / warehouse
    project = out / SLUG
    if not (project / ".venv").is_dir():
        sh(["uvx", "cookiecutter", "--no-input", str(TEMPLATE), "--output-dir", str(out), "-f",
            f"warehouse={warehouse}", "container=no"], cwd=scratch)  # fmt: skip
        sh(["uv", "sync", "-q"], cwd=project, env=clean_env())
    return project


def clean_env() -> dict[str, str]:
    """This environment without what would point a bake elsewhere (nox's venv, a server of ours)."""
    drop = ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "SPARK_REMOTE", "PGHOST", "CI")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "UV_COMPILE_BYTECODE": "1"}


def timed_run(project: Path, warehouse: str, raw_dir: Path, pr: int) -> float:
    """Wall seconds of one `run --env ci` of `project` on the data of `raw_dir`, as instance ci_pr_<pr>."""
    env = {**clean_env(), "PR_NUMBER": str(pr)}
    started = time.perf_counter()
    sh(["uv", "run", "--no-sync", *PREFIX[warehouse], "run", "--env", "ci", "--raw-dir", str(raw_dir)], project, env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds per data set (default 1)")
    parser.add_argument("--scratch", type=Path, help="folder for the bakes (default: a new temporary folder)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="warehouse-runs-"))
    scratch.mkdir(parents=True, exist_ok=True)
    projects = {warehouse: bake(scratch, warehouse) for warehouse in WAREHOUSES}
    scale_1 = scratch / "scale-1"
    if not (scale_1 / "manifest.json").is_file():
        sh(["uv", "run", "--no-sync", SLUG, "generate", "--scale", "1", "--out", str(scale_1)],
           projects["duckdb"], clean_env())  # fmt: skip
    datasets = {"sample": projects["duckdb"] / "data" / "raw" / "sample", "scale 1": scale_1}
    seconds: dict[tuple[str, str], list[float]] = {}
    pr = 1000
    for label, raw_dir in datasets.items():
        for _ in range(args.repeat):
            for warehouse in WAREHOUSES:
                pr += 1
                took = timed_run(projects[warehouse], warehouse, raw_dir, pr)
                seconds.setdefault((label, warehouse), []).append(took)
                print(f"{label:8} {warehouse:8} {seconds[label, warehouse][-1]:7.1f} s", file=sys.stderr, flush=True)
    print(f"\n`run --env ci`, wall seconds, median (min-max) of {args.repeat} round(s); bakes in {scratch}\n")
    print("| data | " + " | ".join(WAREHOUSES) + " |")
    print("|---|" + "---:|" * len(WAREHOUSES))
    for label in datasets:
        cells = []
        for warehouse in WAREHOUSES:
            values = seconds[label, warehouse]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
