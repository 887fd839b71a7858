from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import build, config
from {{ cookiecutter.package_name }}.errors import PipelineError


def test_dbt_runs_against_the_environment_target_with_its_own_artifacts(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    args = build.dbt_args(["build"], settings, select=["fct_orders+", "tag:daily"], variables={"day": "2025-01-01"})
    assert args[0] == "build"
    assert args[args.index("--target") + 1] == "ci"
    assert args[args.index("--profiles-dir") + 1] == str(project)
    assert args[args.index("--target-path") + 1] == str(project / "target" / "ci")
    assert json.loads(args[args.index("--vars") + 1]) == {"day": "2025-01-01"}
    assert [args[i + 1] for i, a in enumerate(args) if a == "--select"] == ["fct_orders+", "tag:daily"]


def test_environment_values_are_set_only_for_the_dbt_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_THREADS", "9")
    monkeypatch.delenv("DBT_DUCKDB_PATH", raising=False)
    with build._environment({"DBT_THREADS": "2", "DBT_DUCKDB_PATH": "/x.duckdb"}):
        assert os.environ["DBT_THREADS"] == "2"
        assert os.environ["DBT_DUCKDB_PATH"] == "/x.duckdb"
    assert os.environ["DBT_THREADS"] == "9"
    assert "DBT_DUCKDB_PATH" not in os.environ


def test_a_dbt_crash_becomes_a_clear_pipeline_error(project: Path) -> None:
    (project / "dbt_project.yml").write_text("name: [unclosed\n", encoding="utf-8")
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    with pytest.raises(PipelineError, match="dbt build could not run"):
        build.invoke(settings, build.dbt_args(["build"], settings))
