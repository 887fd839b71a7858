"""Baking helpers shared by the template's tests: the options come from cookiecutter.json."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
CONTEXT = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
CHOICES: dict[str, list[str]] = {
    key: value for key, value in CONTEXT.items() if isinstance(value, list) and not key.startswith("_")
}


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with --no-input and these answers; return the project folder."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


# Set by nox for its own session venv: a `uv sync`/`uv run` in a baked project that inherits it installs the
# baked project into the template's test venv and removes the test tools (zizmor, check-jsonschema) from it.
SESSION_VARIABLES = ("UV_PROJECT_ENVIRONMENT", "UV_PYTHON")


def git_env() -> dict[str, str]:
    """The environment for a command run in a baked project, like a fresh CI machine's.

    No git identity (the developer's must not leak into bakes), and none of the variables nox sets for the
    template's own session venv (`SESSION_VARIABLES`): the baked project makes its own environments.
    """
    inherited = {name: value for name, value in os.environ.items() if name not in SESSION_VARIABLES}
    return {**inherited, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


@pytest.fixture(autouse=True)
def _no_global_git_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Bakes must work on a machine where git has no user configured."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    yield


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True, env=git_env()).stdout


def answers_repr(answers: dict[str, Any]) -> str:
    return "-".join(f"{key}={value}" for key, value in answers.items())


def load_hook(name: str) -> Any:
    """Import a hook from hooks/ unrendered: the hooks are valid Python before rendering."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"hooks.{name}", TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    """Under `nox -s mutation`, keep mutmut's stats mode (which test calls which hook function) in this process.

    Cookiecutter runs the rendered hooks as scripts in a subprocess, where mutmut would look for its config in the
    bake folder and fail the run; there they run unmutated (their functions belong to `__main__`, not `hooks.*`).
    """
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        del os.environ["MUTANT_UNDER_TEST"]
