"""Slim CI against a full build of this project, side by side in one run: times and their ratio.

A production build makes the state; one mart model is then changed, and the ci build runs
`--repeat` times in full and `--repeat` times slim (deferring to production). Both pay the
same process start and ingest, so the ratio is what a pull request saves. `--fanout N` adds N
mart tables to the copy (models/marts/fanout/fct_fanout_<i>.sql, each a grouping of one of the
project's models, with a unique and a not_null test on its key), so the ratio can be read on a
project of the size slim CI is for. Not a test: it prints figures (`_project.report`). Run it with
`nox -s benchmark -- slim_ci --repeat 5 --scale 0.5` or `-- slim_ci --fanout 50`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PACKAGE, copy_project, report

from {{ cookiecutter.package_name }}.config import SAMPLE_DIR

Timing = tuple[float, float, int, dict[str, float]]
STEP_DONE = re.compile(r"^\s+(\w[\w ]*) done in ([\d.]+) s$", re.MULTILINE)


def pipeline(project: Path, *args: str, **environ: str) -> Timing:
    """Run the CLI; return wall seconds, dbt's own build seconds, how many models it built, and each step's seconds.

    The step seconds are read from the run's progress lines (`    build done in 4.2 s`).
    """
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
    steps = {name: float(seconds) for name, seconds in STEP_DONE.findall(result.stdout)}
    return wall, float(run_results["elapsed_time"]), models, steps


FANOUT_MODEL = """{% raw %}select
    {key},
    count(*) as row_count,
    {i} as variant
from {{{{ ref('{parent}') }}}}
group by {key}
{% endraw %}"""


def add_fanout(project: Path, count: int) -> int:
    """Add `count` mart tables under models/marts/fanout, each grouping a model of the project by its key.

    The parents are the project's models that have a `<entity>_id` column first in their YAML; the new models
    take them in turn. Returns how many were added (0 when no model declares such a column).
    """
    parents = [found for path in sorted((project / "models").rglob("*.yml")) for found in _models_with_keys(path)]
    if not parents:
        return 0
    folder = project / "models" / "marts" / "fanout"
    folder.mkdir(parents=True, exist_ok=True)
    tests = ["version: 2", "models:"]
    for i in range(count):
        parent, key = parents[i % len(parents)]
        name = f"fct_fanout_{i:03d}"
        (folder / f"{name}.sql").write_text(FANOUT_MODEL.format(key=key, i=i, parent=parent), encoding="utf-8")
        tests += [f"  - name: {name}", "    columns:", f"      - name: {key}", "        data_tests: [unique, not_null]"]
    (folder / "_fanout__models.yml").write_text("\n".join(tests) + "\n", encoding="utf-8")
    return count


def _models_with_keys(path: Path) -> list[tuple[str, str]]:
    """(model, key column) for each model in a properties file whose first column is named `<entity>_id`."""
    import yaml  # noqa: PLC0415 - dbt's dependency, only the fan-out needs it

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for model in document.get("models") or []:
        columns = model.get("columns") or []
        if columns and str(columns[0].get("name", "")).endswith("_id"):
            found.append((str(model["name"]), str(columns[0]["name"])))
    return found


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
    parser.add_argument("--fanout", type=int, default=0, help="add this many mart tables to the project (e.g. 50)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slim-ci-") as scratch:
        project = copy_project(Path(scratch) / "project")
        if args.fanout and not add_fanout(project, args.fanout):
            sys.exit("--fanout needs a model whose YAML lists an `<entity>_id` column first")
        scale = ["--scale", str(args.scale)] if args.scale else []
        prod_db = Path(scratch) / "prod.duckdb"
        raw = {"RAW_DATA_DIR": str(SAMPLE_DIR)}
        # This prod is the benchmark's own, deleted with the scratch folder: on a GitHub runner too.
        throwaway = {"DBT_DUCKDB_PATH": str(prod_db), "PIPELINE_ALLOW_EPHEMERAL_DUCKDB": "true"}
        pipeline(project, "run", "--env", "prod", *scale, **throwaway, **raw)
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

    print(
        f"changed model: {changed}; scale: {args.scale or 'committed sample'}; fan-out models: {args.fanout}; "
        f"{args.repeat} runs each"
    )
    # Where the whole run's time goes; dbt import, dbt parse and (slim) slim selection are parts of ingest.
    for label, runs in (("full", full), ("slim", slim)):
        steps = {name: statistics.median(run[3].get(name, 0.0) for run in runs) for name in runs[0][3]}
        print(f"{label} steps (medians): " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items()))
    models = {"full": full[0][2], "slim": slim[0][2]}
    for label, runs in (("full", full), ("slim", slim)):
        report(f"{label} dbt build", [run[1] for run in runs], "s", models=models[label])
        report(f"{label} run", [run[0] for run in runs], "s", models=models[label])
    # Each slim run against the full run it was interleaved with: the median of these is the saving's figure.
    report("slim / full dbt build", [s[1] / f[1] for s, f in zip(slim, full, strict=True)], "ratio")
    report("slim / full run", [s[0] / f[0] for s, f in zip(slim, full, strict=True)], "ratio")


if __name__ == "__main__":
    main()
