"""What the quality gates cost: the full pipeline with every check against a bare `dbt build`, in one run.

Both build the same project on the same data (a fresh ci instance each time, repeated and
interleaved so machine noise hits both alike) and run in their own process, so both pay
the same interpreter and dbt start. Prints medians, min and max (`_project.report`). Not a test: it prints
figures. Run it with `nox -s benchmark -- checks_overhead --repeat 5`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PACKAGE, copy_project, report


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(command)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (default 3)")
    args = parser.parse_args()
    bare, full = [], []
    with tempfile.TemporaryDirectory(prefix="checks-overhead-") as scratch:
        project = copy_project(Path(scratch) / "project")
        base = {**os.environ, "DBT_PROJECT_DIR": str(project)}
        for i in range(args.repeat):
            # The bare build needs raw data in its database too: ingest it first, untimed.
            bare_env = {**base, "PR_NUMBER": f"{2 * i + 1}"}
            subprocess.run([sys.executable, "-m", PACKAGE, "ingest", "--env", "ci"], env=bare_env, check=True,
                           capture_output=True)  # fmt: skip
            database = project / "warehouse" / f"ci_pr_{2 * i + 1}__audit.duckdb"
            dbt = [str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(project), "--profiles-dir",
                   str(project), "--target", "ci", "--target-path", str(project / "target" / "bare")]  # fmt: skip
            bare.append(timed(dbt, {**bare_env, "DBT_DUCKDB_PATH": str(database)}))
            full.append(
                timed([sys.executable, "-m", PACKAGE, "run", "--env", "ci"], {**base, "PR_NUMBER": f"{2 * i + 2}"})
            )
    print(f"{args.repeat} runs each (medians [min-max]), committed sample")
    report("bare dbt build", bare, "s")  # after an untimed ingest
    report("pipeline run", full, "s")  # ingest, build, checks, publish, report
    report("pipeline run / bare dbt build", [f / b for f, b in zip(full, bare, strict=True)], "ratio")


if __name__ == "__main__":
    main()
