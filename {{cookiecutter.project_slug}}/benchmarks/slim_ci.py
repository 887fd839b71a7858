"""Slim CI against a full build of this project, side by side in one run: times and their ratio.

A production build makes the state; one mart model is then changed, and the ci build runs
`--repeat` times in full and `--repeat` times slim (deferring to production). Both pay the
same process start and ingest, so the ratio is what a pull request saves. Not a test: it
prints figures (`_project.report`). Run it with `nox -s benchmark -- slim_ci --repeat 5 --scale 0.5`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PACKAGE, copy_project, report

from {{ cookiecutter.package_name }}.config import SAMPLE_DIR


def pipeline(project: Path, *args: str, **environ: str) -> tuple[float, float, int]:
    """Run the CLI; return wall seconds, dbt's own build seconds, and how many models it built."""
    env = {**os.environ, "DBT_PROJECT_DIR": str(project), **environ}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark run failed: {' '.join(args)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    instance = "prod" if "prod" in args else f"ci_pr_{environ['PR_NUMBER']}"
    run_results = json.loads((project / "target" / instance / "run_results.json").read_text(encoding="utf-8"))
    models = sum(r["unique_id"].startswith("model.") for r in run_results["results"])
    return wall, float(run_results["elapsed_time"]), models


def change_a_mart(project: Path) -> str | None:
    """Append a comment to the mart with the fewest children: the smallest real change."""
    manifest = json.loads((project / "target" / "prod" / "manifest.json").read_text(encoding="utf-8"))
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and "marts" in n["fqn"]]
    if not marts:
        return None
    mart = min(marts, key=lambda n: (len(manifest["child_map"].get(n["unique_id"], [])), n["name"]))
    path = project / mart["original_file_path"]
    path.write_text(path.read_text(encoding="utf-8") + "-- changed for the slim CI benchmark\n", encoding="utf-8")
    return str(mart["name"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="builds of each kind (default 3)")
    parser.add_argument("--scale", type=float, help="generate raw data at this scale factor instead of the sample")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slim-ci-") as scratch:
        project = copy_project(Path(scratch) / "project")
        scale = ["--scale", str(args.scale)] if args.scale else []
        prod_db = Path(scratch) / "prod.duckdb"
        raw = {"RAW_DATA_DIR": str(SAMPLE_DIR)}
        pipeline(project, "run", "--env", "prod", *scale, DBT_DUCKDB_PATH=str(prod_db), **raw)
        state = Path(scratch) / "state"
        state.mkdir()
        shutil.copy2(project / "target" / "prod" / "manifest.json", state / "manifest.json")
        changed = change_a_mart(project)
        if changed is None:
            sys.exit("no mart model to change: add models under models/marts first")

        # Deferral reads production's audit database: it holds every model, the published one only marts.
        production = prod_db.with_name("prod__audit.duckdb")
        slim_env = {"DBT_STATE_DIR": str(state), "DBT_DEFER_DUCKDB_PATH": str(production)}
        full, slim = [], []
        for i in range(args.repeat):  # interleaved, so machine noise hits both kinds alike
            full.append(pipeline(project, "run", "--env", "ci", *scale, PR_NUMBER=str(2 * i + 1)))
            slim.append(pipeline(project, "run", "--env", "ci", "--slim", *scale, PR_NUMBER=str(2 * i + 2), **slim_env))

    print(f"changed model: {changed}; scale: {args.scale or 'committed sample'}; {args.repeat} runs each")
    models = {"full": full[0][2], "slim": slim[0][2]}
    for label, runs in (("full", full), ("slim", slim)):
        report(f"{label} dbt build", [run[1] for run in runs], "s", models=models[label])
        report(f"{label} run", [run[0] for run in runs], "s", models=models[label])
    # Each slim run against the full run it was interleaved with: the median of these is the saving's figure.
    report("slim / full dbt build", [s[1] / f[1] for s, f in zip(slim, full, strict=True)], "ratio")
    report("slim / full run", [s[0] / f[0] for s, f in zip(slim, full, strict=True)], "ratio")


if __name__ == "__main__":
    main()
