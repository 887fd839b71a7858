from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import cli, config, environments, pipeline
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.warehouses.duckdb import owner_path


def _settings(project: Path, env: str, **environ: str) -> config.Settings:
    return config.resolve(env, environ={"DBT_PROJECT_DIR": str(project), **environ})


@pytest.mark.duckdb
def test_create_list_and_drop_a_pull_request_instance(project: Path) -> None:
    settings = _settings(project, "ci", PR_NUMBER="12")
    assert environments.create(settings) == ("ci_pr_12.duckdb", True)
    assert environments.create(settings) == ("ci_pr_12.duckdb", False)  # it exists: nothing made
    path = settings.duckdb_path
    assert path == project / "warehouse" / "ci_pr_12.duckdb"
    assert path.is_file()
    assert settings.audit_path.is_file()
    settings.target_dir.mkdir(parents=True)
    (settings.target_dir / "manifest.json").write_text("{}", encoding="utf-8")
    listed = environments.list_instances(project)
    assert [(i.env, i.name) for i in listed] == [("ci", "ci_pr_12")]
    assert environments.drop(settings) is True
    assert not path.exists()
    assert not settings.audit_path.exists()
    assert not settings.target_dir.exists()
    assert environments.drop(settings) is False  # dropping twice is harmless


@pytest.mark.duckdb
def test_branch_instances_are_listed_side_by_side(project: Path) -> None:
    for branch in ("main", "feature/new-mart"):
        environments.create(_settings(project, "dev", GITHUB_HEAD_REF=branch))
    names = [instance.name for instance in environments.list_instances(project)]
    assert names == [f"dev__feature_new_mart_{config.digest('feature/new-mart')}", "dev__main"]


@pytest.mark.duckdb
def test_branches_that_sanitize_alike_get_their_own_databases(project: Path) -> None:
    # `feat/a` and `feat-a` both became dev__feat_a: a run on one replaced the other's published tables.
    branches = ("feat/a", "feat-a", "feat_a")
    paths = {environments.create(_settings(project, "dev", GITHUB_HEAD_REF=branch))[0] for branch in branches}
    assert len(paths) == 3
    assert len(environments.list_instances(project)) == 3


def test_env_list_shows_which_branch_or_pull_request_each_instance_belongs_to(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "execute", lambda run, steps: 0)  # what `run` records, without running dbt
    monkeypatch.setenv("GITHUB_HEAD_REF", "feat/a")
    assert cli.main(["env", "create"]) == 0
    monkeypatch.setenv("GITHUB_HEAD_REF", "feat-a")
    assert cli.main(["run"]) == 0
    environments.create(_settings(project, "dev", GITHUB_HEAD_REF="feat-a"))
    monkeypatch.setenv("PR_NUMBER", "007")
    assert cli.main(["env", "create", "--env", "ci"]) == 0
    capsys.readouterr()
    assert cli.main(["env", "list"]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "branch 'feat/a'" in rows[_settings(project, "dev", GITHUB_HEAD_REF="feat/a").name]
    assert "branch 'feat-a'" in rows[_settings(project, "dev", GITHUB_HEAD_REF="feat-a").name]
    assert "pull request 7" in rows["ci_pr_7"]


@pytest.mark.duckdb
def test_an_instance_made_before_owners_were_recorded_lists_as_unknown(project: Path) -> None:
    settings = _settings(project, "ci", PR_NUMBER="3")
    environments.create(settings)  # `create` alone: the CLI records the owner after it
    assert [i.owner for i in environments.list_instances(project)] == ["?"]
    environments.record(settings)
    assert [i.owner for i in environments.list_instances(project)] == ["pull request 3"]
    assert environments.drop(settings) is True
    assert not owner_path(settings.duckdb_path).exists()  # dropped with its database


@pytest.mark.duckdb
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_shared_environments_are_not_dropped_without_the_flag(project: Path, env: str) -> None:
    settings = _settings(project, env, DBT_DUCKDB_PATH=str(project / f"{env}.duckdb"), RAW_DATA_DIR="raw")
    environments.create(settings)
    with pytest.raises(PipelineError, match="add --allow-shared"):
        environments.drop(settings)
    assert settings.duckdb_path.is_file()
    assert environments.drop(settings, allow_shared=True) is True
    assert not settings.duckdb_path.exists()


def test_env_create_says_when_the_instance_exists_already(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second `env create` said "created" as if it had made an empty instance over the first."""
    monkeypatch.setenv("PR_NUMBER", "6")
    assert cli.main(["env", "create", "--env", "ci"]) == 0
    assert capsys.readouterr().out.startswith("created ci_pr_6 ")
    assert cli.main(["env", "create", "--env", "ci"]) == 0
    out = capsys.readouterr().out
    assert "ci_pr_6" in out and "already exists" in out and "created" not in out
    assert cli.main(["env", "drop", "--env", "ci"]) == 0


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_env_drop_of_a_shared_environment_refuses_before_asking_for_its_settings(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    """Without --allow-shared the answer is no whatever is set: it named RAW_DATA_DIR and PII_HASH_KEY first."""
    for name in ("RAW_DATA_DIR", "PII_HASH_KEY", "DBT_DUCKDB_PATH", "PGHOST", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["env", "drop", "--env", env]) == 1
    err = capsys.readouterr().err
    assert f"refusing to drop the shared '{env}' environment" in err and "--allow-shared" in err
    assert "RAW_DATA_DIR" not in err and "PII_HASH_KEY" not in err


def test_the_env_command(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PR_NUMBER", "5")
    assert cli.main(["env", "list"]) == 0
    assert "no environment has a database yet" in capsys.readouterr().out
    assert cli.main(["env", "create", "--env", "ci"]) == 0
    assert cli.main(["env", "list"]) == 0
    assert "ci_pr_5" in capsys.readouterr().out
    assert cli.main(["env", "drop", "--env", "ci"]) == 0
    assert "dropped ci_pr_5" in capsys.readouterr().out
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(project / "prod.duckdb"))
    monkeypatch.setenv("RAW_DATA_DIR", "raw")
    assert cli.main(["env", "drop", "--env", "prod"]) == 1
    assert "refusing to drop the shared 'prod' environment" in capsys.readouterr().err
