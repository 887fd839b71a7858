"""What the default `nox` costs: wall seconds of each default session, run one after the other as `nox` runs them.

Each session runs in its own `nox -s NAME` process in this project, reusing its virtualenv (warm caches: run it
twice, or after a `nox`, to leave installs out of the figures). `--integration` adds the tests session with its
integration tests, the set CI runs. Not a test: it prints figures, never judges them. Run it with
`nox -s benchmark -- nox_sessions` (`--repeat 3` prints medians, min and max: `_project.report`).
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import time

import nox
from _project import PROJECT_DIR, report


def default_sessions() -> list[str]:
    """The sessions a bare `nox` runs, as the noxfile sets them (`nox.options.sessions`)."""
    runpy.run_path(str(PROJECT_DIR / "noxfile.py"))
    return list(nox.options.sessions or [])


def timed(*args: str) -> float:
    """Seconds one `nox` call takes; exits with its output when it fails (a failing session's time means nothing)."""
    # A nox started from a nox session must make and find its own virtualenvs, not this session's.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "nox", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"nox {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each session; medians are printed (default 1)")
    parser.add_argument("--integration", action="store_true", help="also time `nox -s tests -- --integration`")
    args = parser.parse_args()
    defaults = default_sessions()
    runs: list[tuple[str, list[str]]] = [(name, ["-s", name]) for name in defaults]
    if args.integration:
        runs.append(("tests --integration", ["-s", "tests", "--", "--integration"]))
    seconds: dict[str, list[float]] = {label: [] for label, _ in runs}
    for _ in range(args.repeat):
        for label, nox_args in runs:
            seconds[label].append(timed(*nox_args))
    print(f"default nox sessions, {args.repeat} run(s) each, {os.cpu_count()} cores, virtualenvs reused")
    for label, values in seconds.items():
        report(f"nox -s {label}", values, "s")
    # The sessions of one round run one after the other, as a bare `nox` runs them: a round's sum is one `nox`.
    rounds = [sum(seconds[name][i] for name in defaults) for i in range(args.repeat)]
    report("default nox", rounds, "s", sessions=defaults)


if __name__ == "__main__":
    main()
