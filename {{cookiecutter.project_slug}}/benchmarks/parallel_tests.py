"""What pytest's workers save: the whole suite (integration tests too, as CI runs it) in one process, then in parallel.

The two runs take turns (`--repeat` rounds of parallel, then serial), so a busy machine slows both alike; the ratio of
each round (parallel / serial) is printed with the seconds. Parallel is the suite as configured in pyproject.toml
(`[tool.pytest.ini_options]` addopts: pytest-xdist, a test file per worker); serial is the same with `-n 0`. Extra
arguments go to both pytest runs (e.g. `-- -k ingest`). A failing run stops the benchmark with its output: the
time of a failing suite means nothing. Not a test: it prints figures, never judges them. Run it with
`nox -s benchmark -- parallel_tests` (`--repeat 3` prints medians, min and max: `_project.report`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PROJECT_DIR, report


def timed(temp: Path, *args: str) -> float:
    """Wall seconds of one `pytest --integration ARGS` in this project, with its own TMPDIR under `temp`."""
    folder = Path(tempfile.mkdtemp(dir=temp))
    # Its own TMPDIR: pytest prunes all but the newest three of `<TMPDIR>/pytest-of-<user>/pytest-N`, which would
    # delete the folders of a pytest run that started this benchmark, or of another run beside it.
    env = {**os.environ, "TMPDIR": str(folder)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--integration", *args]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[2:])} failed:\n{result.stdout[-5000:]}{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of parallel then serial (default 1)")
    args, pytest_args = parser.parse_known_args()
    serial: list[float] = []
    parallel: list[float] = []
    with tempfile.TemporaryDirectory(prefix="parallel-tests-") as folder:
        for _ in range(args.repeat):
            parallel.append(timed(Path(folder), *pytest_args))
            serial.append(timed(Path(folder), "-n", "0", *pytest_args))
    print(f"pytest --integration, {args.repeat} round(s), {os.cpu_count()} cores; a shared machine slows both alike")
    report("pytest serial (-n 0)", serial, "s")
    report("pytest parallel (as configured)", parallel, "s")
    report("parallel / serial", [p / s for p, s in zip(parallel, serial, strict=True)], "ratio")


if __name__ == "__main__":
    main()
