"""The template's own checks: `nox` lints the hooks and tests, then bakes and tests every combination."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Compiled bytecode saves ~2 s on every dbt start inside the baked projects' sessions.
ENV = {"UV_COMPILE_BYTECODE": "1"}
# Mutants run in this many forked pytest processes at once: one per core (2 on CI runners).
CHILDREN = str(os.cpu_count() or 2)
PYTHON_PATHS = ("hooks", "tests", "benchmarks", "local_extensions.py", "noxfile.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and format-check the hooks, tests, benchmarks and this file with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"), env=ENV)
    # Named paths: the baked project's pyproject.toml is a template, not TOML ruff can read.
    session.run("ruff", "check", *PYTHON_PATHS)
    session.run("ruff", "format", "--check", *PYTHON_PATHS)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the template's tests; `nox -s tests -- -m "not slow"` skips the baked projects' own nox runs."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), env=ENV)
    # The slow tests start nox and uv inside baked projects: they must not inherit this venv as their uv target
    # (with UV_PROJECT_ENVIRONMENT, a baked `uv run` syncs the baked project into this venv, dropping zizmor).
    session.run("pytest", *session.posargs, env={**ENV, "UV_PYTHON": None, "UV_PROJECT_ENVIRONMENT": None})


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Bake the default project and print issue 11's figures in one table (`-- --quick`, `-- --help`)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "benchmark"), env=ENV)
    # The bake makes its own environments: nested uv and nox must not inherit this session's.
    session.run(
        "python",
        "benchmarks/suite.py",
        *session.posargs,
        env={**ENV, "UV_PYTHON": None, "UV_PROJECT_ENVIRONMENT": None},
    )


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation-test the hooks against tests/test_hooks*.py (or name one: `-- pre_gen_project`); print their scores."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test", "mutation"), env=ENV)
    hooks = session.posargs or sorted(path.stem for path in Path("hooks").glob("*.py"))
    seconds: dict[str, float] = {}
    for hook in hooks:
        start = time.monotonic()
        session.run("mutmut", "run", "--max-children", CHILDREN, f"hooks.{hook}.*", env=ENV, silent=True)
        seconds[hook] = time.monotonic() - start
    print_mutation_scores(session, seconds)
    mutmut = Path(session.bin, "mutmut")
    session.log(f"Survivors: `{mutmut} results`; one of them: `{mutmut} show NAME`.")


# mutmut's exit code for each mutant (in mutants/**/*.py.meta), by what the score makes of it. A timeout counts as
# killed: the mutant made a test run past its limit. A mutant no test reaches ("no tests") counts as survived, and
# so does "other": a crashed or aborted test process (e.g. a segfault), which says nothing about the tests.
MUTANT_OUTCOMES = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 36: "timeout"}
MUTANT_OUTCOMES |= dict.fromkeys((24, -24, 152, 255), "timeout")  # SIGXCPU, as the child reports it
MUTANT_COLUMNS = ("mutants", "killed", "survived", "no tests", "timeout", "other", "score", "seconds")


def print_mutation_scores(session: nox.Session, seconds: dict[str, float]) -> None:
    """Log mutants, killed, survived, untested, timeouts, score (%) and wall time (s) of each module just run."""
    session.log(f"{'module':<24}" + "".join(f"{column:>9}" for column in MUTANT_COLUMNS))
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        module = meta.name.removesuffix(".py.meta")
        if module not in seconds:
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].values()
        count = Counter(MUTANT_OUTCOMES.get(code, "other") for code in codes)
        total = sum(count.values())
        score = 100 * (count["killed"] + count["timeout"]) / total if total else 0
        row = (total, *(count[outcome] for outcome in MUTANT_COLUMNS[1:6]), f"{score:.1f}%", f"{seconds[module]:.0f}")
        session.log(f"{module:<24}" + "".join(f"{value:>9}" for value in row))
