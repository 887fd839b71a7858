from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import config
from {{ cookiecutter.package_name }}.errors import PipelineError


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("main", "main"),
        ("feature/New-Orders", "feature_new_orders"),
        ("fix--double__dash", "fix_double_dash"),
        ("???", "detached"),
        ("x" * 80, "x" * 40),
    ],
)
def test_sanitize_makes_branch_names_safe_file_names(branch: str, expected: str) -> None:
    assert config.sanitize(branch) == expected


def test_dev_gets_one_database_file_per_branch(project: Path) -> None:
    a = config.resolve("dev", environ={"GITHUB_HEAD_REF": "feature/a", "DBT_PROJECT_DIR": str(project)})
    b = config.resolve("dev", environ={"GITHUB_HEAD_REF": "feature/b", "DBT_PROJECT_DIR": str(project)})
    assert a.duckdb_path == project / "warehouse" / "dev__feature_a.duckdb"
    assert b.duckdb_path != a.duckdb_path


def test_dev_and_ci_default_to_the_committed_sample(project: Path) -> None:
    for env in ("dev", "ci"):
        settings = config.resolve(env, environ={"DBT_PROJECT_DIR": str(project)})
        assert settings.raw_dir == project / "data" / "raw" / "sample"
    assert config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}).duckdb_path.name == "ci.duckdb"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_shared_environments_refuse_to_guess_where_to_write(project: Path, env: str) -> None:
    with pytest.raises(PipelineError, match=f"environment '{env}' needs DBT_DUCKDB_PATH") as error:
        config.resolve(env, environ={"DBT_PROJECT_DIR": str(project)})
    assert "export DBT_DUCKDB_PATH=" in str(error.value)


def test_shared_environments_need_their_raw_data_location(project: Path) -> None:
    environ = {"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": str(project / "p.duckdb")}
    with pytest.raises(PipelineError, match="RAW_DATA_DIR"):
        config.resolve("prod", environ=environ)
    settings = config.resolve("prod", environ={**environ, "RAW_DATA_DIR": "/data/raw"})
    assert settings.duckdb_path == project / "p.duckdb"
    assert settings.raw_dir == Path("/data/raw")


def test_settings_reach_dbt_through_the_variables_profiles_yml_reads(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "DBT_THREADS": "2"})
    # dbt builds in the audit database; only `publish` writes where consumers read.
    assert settings.dbt_env() == {"DBT_DUCKDB_PATH": str(settings.audit_path), "DBT_THREADS": "2"}
    assert settings.audit_path == settings.duckdb_path.with_name("ci__audit.duckdb")
    profiles = (project / "profiles.yml").read_text(encoding="utf-8")
    for name in settings.dbt_env():
        assert f"env_var('{name}'" in profiles


@pytest.mark.parametrize("threads", ["0", "four", "-1"])
def test_bad_thread_counts_are_named(project: Path, threads: str) -> None:
    with pytest.raises(PipelineError, match=f"DBT_THREADS='{threads}'"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "DBT_THREADS": threads})


def test_unknown_environment_lists_the_valid_ones(project: Path) -> None:
    with pytest.raises(PipelineError, match="dev, ci, staging, prod"):
        config.resolve("qa", environ={"DBT_PROJECT_DIR": str(project)})


def test_project_dir_is_found_from_a_subfolder(project: Path) -> None:
    nested = project / "models" / "deep"
    nested.mkdir(parents=True, exist_ok=True)
    assert config.find_project_dir(nested, environ={}) == project


def test_outside_a_project_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="DBT_PROJECT_DIR"):
        config.find_project_dir(tmp_path, environ={})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PR_NUMBER": "42"}, "ci_pr_42"),
        ({"GITHUB_REF": "refs/pull/7/merge"}, "ci_pr_7"),
        ({"GITHUB_REF": "refs/heads/main"}, "ci"),
        ({}, "ci"),
    ],
)
def test_ci_is_one_instance_per_pull_request(project: Path, environ: dict[str, str], expected: str) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), **environ})
    assert settings.name == expected
    assert settings.duckdb_path == project / "warehouse" / f"{expected}.duckdb"
    assert settings.target_dir == project / "target" / expected  # artifacts never shared either


def test_a_pr_number_that_is_not_a_number_is_refused(project: Path) -> None:
    with pytest.raises(PipelineError, match="PR_NUMBER='abc' must be a pull request number"):
        config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": "abc"})


def test_deferral_attaches_production_under_its_own_name(project: Path) -> None:
    environ = {"DBT_PROJECT_DIR": str(project), "DBT_DEFER_DUCKDB_PATH": "/data/prod.duckdb", "DBT_STATE_DIR": "st"}
    settings = config.resolve("ci", environ=environ)
    assert settings.state_dir == project / "st"
    assert settings.dbt_env()["DBT_DEFER_DUCKDB_PATH"] == "/data/prod.duckdb"
    assert settings.dbt_env()["DBT_DEFER_DATABASE"] == "prod"
    assert "DBT_DEFER_DATABASE" not in config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}).dbt_env()


def test_an_instance_can_be_named_for_a_parameter_set(project: Path) -> None:
    settings = config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "PIPELINE_INSTANCE": "dev__main__eu"})
    assert settings.name == "dev__main__eu"
    assert settings.duckdb_path.name == "dev__main__eu.duckdb"
    with pytest.raises(PipelineError, match="PIPELINE_INSTANCE='Bad Name'"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "PIPELINE_INSTANCE": "Bad Name"})
