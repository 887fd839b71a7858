"""The template's own checks: `nox` lints the hooks and tests, then bakes and tests every combination."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Compiled bytecode saves ~2 s on every dbt start inside the baked projects' sessions.
ENV = {"UV_COMPILE_BYTECODE": "1"}
PYTHON_PATHS = ("hooks", "tests", "local_extensions.py", "noxfile.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and format-check the hooks, tests and this file with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"), env=ENV)
    # Named paths: the baked project's pyproject.toml is a template, not TOML ruff can read.
    session.run("ruff", "check", *PYTHON_PATHS)
    session.run("ruff", "format", "--check", *PYTHON_PATHS)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the template's tests; `nox -s tests -- -m "not slow"` skips the baked projects' own nox runs."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), env=ENV)
    # The slow tests start nox inside baked projects: it must not inherit this venv's uv target.
    session.run("pytest", *session.posargs, env={**ENV, "UV_PYTHON": None})
