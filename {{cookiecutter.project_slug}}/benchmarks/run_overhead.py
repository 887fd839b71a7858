"""What the pipeline costs over dbt: `run --env ci` against a bare `dbt build`, warm, on one instance, side by side.

Both sides work on one ci instance whose raw data is already ingested (an untimed `run` first), so
both find the same audit database, the same raw tables and dbt's warm partial-parse state: the
difference is what the pipeline adds (ingest of unchanged files, source freshness, the checks,
publish, the report). Each side runs in its own process (`python -m <package> run` and the venv's
`dbt build` with the instance's target, target path and database), interleaved `--repeat` times so
machine noise hits both alike. Prints the medians with min and max, and the ratio of the medians.
Not a test: it prints figures (`_project.report`).
Run it with `nox -s benchmark -- run_overhead [--scale 1] [--repeat 5]`.
It replaces checks_overhead's comparison, where each side built a fresh instance and the cold start
both paid hid the pipeline's own cost.
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

from _project import PACKAGE, copy_project, report

INSTANCE = "1"  # PR_NUMBER: both sides build ci_pr_1


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command in its own process; a failing command stops the benchmark with its output."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(command)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def bare_dbt(project: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The `dbt build` command line and environment the pipeline's own build uses for this instance."""
    code = (
        "import json, sys\n"
        f"from {PACKAGE} import config, warehouses\n"
        "s = config.resolve('ci')\n"
        "e = warehouses.for_settings(s).dbt_env()\n"
        "print(json.dumps({'env': e, 'target': str(s.target_dir), 'logs': str(s.log_dir)}))\n"
    )
    resolved = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    found = json.loads(resolved.stdout)
    dbt = str(Path(sys.executable).with_name("dbt"))
    command = [
        dbt, "build", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "ci",
        "--target-path", found["target"], "--log-path", found["logs"], "--no-use-colors",
    ]  # fmt: skip
    return command, {**env, **found["env"]}


def summary(label: str, runs: list[float]) -> str:
    """One line: median, min and max seconds."""
    return f"{label:<34} {statistics.median(runs):7.2f} s  (min {min(runs):.2f}, max {max(runs):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--scale", type=float, help="generate raw data at this scale factor instead of the sample")
    args = parser.parse_args()
    scale = ["--scale", f"{args.scale:g}"] if args.scale else []
    with tempfile.TemporaryDirectory(prefix="run-overhead-") as scratch:
        project = copy_project(Path(scratch) / "project")
        env = {**os.environ, "DBT_PROJECT_DIR": str(project), "PR_NUMBER": INSTANCE}
        pipeline = [sys.executable, "-m", PACKAGE, "run", "--env", "ci", *scale]
        timed(pipeline, env)  # untimed: generates (at --scale), ingests, builds, leaves dbt's partial parse
        dbt, dbt_env = bare_dbt(project, env)
        bare, full = [], []
        for _ in range(args.repeat):
            bare.append(timed(dbt, dbt_env))
            full.append(timed(pipeline, env))
    print(f"{args.repeat} runs each, interleaved, warm ci instance; data: {args.scale or 'committed sample'}")
    print(summary("bare dbt build", bare))
    print(summary("run --env ci (all five steps)", full))
    print(f"ratio run / bare dbt build (medians): {statistics.median(full) / statistics.median(bare):.2f}")
    extra = {"scale": args.scale} if args.scale else {}
    report("dbt build", bare, "s", **extra)
    report("run", full, "s", **extra)
    # Each run against the bare build it was interleaved with.
    report("run / dbt build", [f / b for f, b in zip(full, bare, strict=True)], "ratio", **extra)


if __name__ == "__main__":
    main()
