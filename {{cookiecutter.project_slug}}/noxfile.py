"""Every check and pipeline stage, for people and CI alike: `nox` runs the default set."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests", "dbt"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")
DEV = nox.project.dependency_groups(PYPROJECT, "dev")
# Compiled bytecode saves ~2 s per dbt start; CI=true also makes dbt print plain logs.
ENV = {"UV_COMPILE_BYTECODE": "1"}


def install(session: nox.Session) -> None:
    session.install("-e", ".", *DEV, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook (ruff, sqlfluff, YAML, secrets) on all files."""
    session.install("pre-commit", "pre-commit-uv", env=ENV)
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
    """Run the pytest suite (with the end-to-end pipeline on DuckDB), then dbt's unit tests."""
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
    """Print a benchmark's figures: `-- slim_ci --scale 0.5` (slim vs full CI) or `-- checks_overhead`."""
    install(session)
    name, *args = session.posargs or ["slim_ci"]
    session.run("python", f"benchmarks/{name}.py", *args, env=ENV)


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Re-pin requirements.lock (the container's dependency set) from pyproject.toml."""
    session.install("uv")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--universal", "--generate-hashes", "--no-annotate",
        "--custom-compile-command", "nox -s lock", "--output-file", "requirements.lock", *session.posargs,
    )  # fmt: skip
