"""Shared fixtures: a throwaway copy of the project, so tests never touch the real warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")
# What the CLI reads from the environment; a CI runner sets some of them, tests start clean.
ENVIRONMENT_VARIABLES = (
    "DBT_DUCKDB_PATH", "RAW_DATA_DIR", "DBT_THREADS", "PR_NUMBER", "DBT_STATE_DIR", "DBT_DEFER_DUCKDB_PATH",
    "GITHUB_REF", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "PII_HASH_KEY",
)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dbt project and its data in a temp dir, with the CLI pointed at it."""
    copy = copy_project(tmp_path / "project")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy))
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return copy


def copy_project(destination: Path) -> Path:
    """Copy the dbt project and its data, so a test can change and build it freely."""
    destination.mkdir(parents=True)
    for name in DBT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    return destination


def start(project: Path, *args: str, env: Mapping[str, str] | None = None, **environ: str) -> subprocess.Popen[str]:
    """The CLI in its own process, as on a laptop or a runner (dbt-duckdb keeps files open per process)."""
    variables = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    variables.update({"DBT_PROJECT_DIR": str(project), **(env or {}), **environ})
    return subprocess.Popen(
        [sys.executable, "-m", PACKAGE, *args],
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def cli(project: Path, *args: str, expect: int = 0, env: Mapping[str, str] | None = None, **environ: str) -> str:
    """Run the CLI to the end; fail the test, with its output, on an unexpected exit code."""
    process = start(project, *args, env=env, **environ)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == expect, out
    return out
