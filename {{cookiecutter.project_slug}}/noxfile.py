"""Every check and pipeline stage, for people and CI alike: `nox` runs the default set."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests", "dbt"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Bytecode is compiled once, when a session installs (~2 s saved on every dbt start after that); compiling on
# every `uv run` instead would redo ~3,500 files each time.
ENV = {"UV_COMPILE_BYTECODE": "1"}
# Mutants run in this many forked pytest processes at once: one per core (2 on CI runners).
CHILDREN = str(os.cpu_count() or 2)


def install(session: nox.Session, *groups: str, tools_only: bool = False) -> None:
    """Install exactly what uv.lock pins (the package, the dev group and `groups`) into this session's virtualenv.

    `tools_only` installs the dev group alone, without the package and its dependencies.

    `--locked` fails, naming the fix (`uv lock`), when pyproject.toml changed and uv.lock was not updated, so a
    session, CI and the image never run on versions nobody committed.
    """
    options = ["--only-group=dev"] if tools_only else ["--group=dev", *(f"--group={group}" for group in groups)]
    command = ("uv", "sync", "--locked", *options)
    env = {**ENV, "UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    # uv sync compiles every file of the environment again (~3,500, ~1 s) even when it installs nothing: sync only
    # when uv's check finds something to change.
    check = session.run_install(*command, "--check", env=env, silent=True, success_codes=[0, 1, 2])
    if "Would make no changes" not in str(check):
        session.run_install(*command, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook (ruff, sqlfluff, YAML, secrets) on all files."""
    install(session, tools_only=True)
    # nox points UV_PYTHON at this session's venv; pre-commit-uv would then install the
    # hooks' tools there instead of into pre-commit's own hook environments.
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs, env={"UV_PYTHON": None})


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests and this file with mypy --strict."""
    install(session)
    session.run("mypy", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run pytest (integration tests too with `-- --integration`, as CI=true does always), then dbt's unit tests."""
    install(session)
    session.run("pytest", *session.posargs, env=ENV)
    session.run("{{ cookiecutter.project_slug }}", "unit-test", "--env", "ci", env=ENV)


@nox.session
def dbt(session: nox.Session) -> None:
    """Build every model and run every data and unit test on the ci target."""
    install(session)
    session.run("{{ cookiecutter.project_slug }}", "run", "--env", "ci", *session.posargs, env=ENV)


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """Slim CI build on the ci target: only what changed against production state, then the report."""
    install(session)
    session.run("{{ cookiecutter.project_slug }}", "run", "--env", "ci", "--slim", *session.posargs, env=ENV)


@nox.session(default=False)
def env(session: nox.Session) -> None:
    """Manage environment instances, e.g. `nox -s env -- list` or `nox -s env -- drop --env ci`."""
    install(session)
    session.run("{{ cookiecutter.project_slug }}", "env", *(session.posargs or ["list"]), env=ENV)


@nox.session(default=False)
def pipeline(session: nox.Session) -> None:
    """Run the value pipeline; arguments go to the CLI, e.g. `nox -s pipeline -- run --env dev`."""
    install(session)
    session.run("{{ cookiecutter.project_slug }}", *(session.posargs or ["run", "--env", "dev"]), env=ENV)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the ci instance, then generate the dbt docs site from it into target/docs."""
    install(session)
    session.run("{{ cookiecutter.project_slug }}", "run", "--env", "ci", env=ENV)
    session.run("{{ cookiecutter.project_slug }}", "docs", "--env", "ci", env=ENV)


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Print a benchmark's figures: `-- nox_sessions`, `-- checks_overhead` or `-- slim_ci{% if cookiecutter.include_example == "yes" %} --scale 0.5{% endif %}`."""
    install(session)
    name, *args = session.posargs or ["slim_ci"]
    session.run("python", f"benchmarks/{name}.py", *args, env=ENV)


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve uv.lock, the one lock of development, CI and the image: `-- --upgrade` takes newer versions."""
    session.run("uv", "lock", *session.posargs)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation-test the modules of [tool.mutmut] (or those named: `-- ingest state`); print a score per module."""
    install(session, "mutation")
    mutated = [Path(path) for path in PYPROJECT["tool"]["mutmut"]["only_mutate"]]
    package = mutated[0].parent.name
    modules = session.posargs or [path.stem for path in mutated]
    # mutmut runs, for each mutant, the tests that called its function in-process; a CLI started in a subprocess
    # imports the installed, unmutated package, so only in-process tests (unit tests) can kill a mutant.
    seconds: dict[str, float] = {}
    for module in modules:
        start = time.monotonic()
        session.run("mutmut", "run", "--max-children", CHILDREN, f"{package}.{module}.*", env=ENV, silent=True)
        seconds[module] = time.monotonic() - start
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
