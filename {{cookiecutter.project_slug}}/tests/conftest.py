"""Shared fixtures: a throwaway copy of the project, so tests never touch the real warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")
# What the CLI reads from the environment; a CI runner sets some of them, tests start clean.
ENVIRONMENT_VARIABLES = (
    "DBT_DUCKDB_PATH", "RAW_DATA_DIR", "DBT_THREADS", "PR_NUMBER", "DBT_STATE_DIR", "DBT_DEFER_DUCKDB_PATH",
    "GITHUB_REF", "GITHUB_HEAD_REF", "GITHUB_REF_NAME",
)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dbt project and its data in a temp dir, with the CLI pointed at it."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in DBT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        elif source.is_file():
            shutil.copy2(source, copy / name)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy))
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return copy
