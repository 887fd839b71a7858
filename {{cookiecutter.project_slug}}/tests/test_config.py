from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ENVIRONMENT_VARIABLES, PROJECT_DIR
from {{ cookiecutter.package_name }} import build, cli, config, warehouses
from {{ cookiecutter.package_name }}.errors import PipelineError


@pytest.fixture
def project(example: Path) -> Path:
    """Resolving settings only reads the project: these tests share the session's example, read-only."""
    return example


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


def _dev(project: Path, branch: str) -> config.Settings:
    return config.resolve("dev", environ={"GITHUB_HEAD_REF": branch, "DBT_PROJECT_DIR": str(project)})


def test_dev_gets_one_database_file_per_branch(project: Path) -> None:
    a = _dev(project, "feature_a")
    b = _dev(project, "feature/b")
    assert a.duckdb_path == project / "warehouse" / "dev__feature_a.duckdb"  # already a name: kept as it is
    assert b.duckdb_path.name == f"dev__feature_b_{config.digest('feature/b')}.duckdb"  # changed: hash added


# Pairs of branch names that the old sanitizing merged into one instance.
COLLIDING = [
    ("feat/a", "feat-a"),
    ("feat/a", "feat_a"),
    ("Feat_A", "feat_a"),
    ("日本語", "中文"),  # non-Latin names all became dev__detached
    ("ветка", "Ветка"),
    ("x" * 40 + "_one", "x" * 40 + "_two"),  # equal in their first 40 sanitized characters
    ("a" * 200, "a" * 201),
    ("fix_3f2a9c1d", "fix/3f2a9c1d"),  # a branch posing as a hashed name
]


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_two_different_branch_names_never_share_an_instance(project: Path, first: str, second: str) -> None:
    names = {_dev(project, first).name, _dev(project, second).name}
    assert len(names) == 2, names


def test_no_branch_and_a_branch_named_like_its_instance_stay_apart(project: Path) -> None:
    outside_git = config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project)})  # the copy is no git repository
    assert outside_git.name == "dev__local"
    assert config.instance_name("dev", project, {"GITHUB_HEAD_REF": config.DETACHED}) == "dev__detached"
    assert _dev(project, "local").name != "dev__local"
    assert _dev(project, "detached").name != "dev__detached"


@pytest.mark.parametrize(
    ("branch", "readable"),
    [("ветка/Новая", "dev__vetka_novaia_"), ("Café-Données", "dev__cafe_donnees_"), ("日本語", "dev__ri_ben_yu_")],
)
def test_non_latin_branch_names_are_transliterated(project: Path, branch: str, readable: str) -> None:
    assert _dev(project, branch).name == readable + config.digest(branch)


@pytest.mark.parametrize(
    "branch", ["main", "feat/a", "x" * 300, "日本語" * 50, "???", "a\nb", "\udcff", "release_20240101", "_" * 70]
)
def test_instance_names_fit_a_duckdb_file_and_a_postgres_schema(project: Path, branch: str) -> None:
    name = _dev(project, branch).name
    audit = name + config.AUDIT_SUFFIX
    assert re.fullmatch(r"[a-z0-9_]+", audit), audit
    assert len(audit.encode()) <= 63, audit  # Postgres cuts identifiers at 63 bytes


def test_dev_and_ci_default_to_the_committed_sample(project: Path) -> None:
    for env in ("dev", "ci"):
        settings = config.resolve(env, environ={"DBT_PROJECT_DIR": str(project)})
        assert settings.raw_dir == project / "data" / "raw"{% if cookiecutter.include_example == "yes" %} / "sample"{% endif %}
    assert config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}).duckdb_path.name == "ci.duckdb"


@pytest.mark.duckdb
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_shared_environments_refuse_to_guess_where_to_write(project: Path, env: str) -> None:
    with pytest.raises(PipelineError, match=f"environment '{env}' needs DBT_DUCKDB_PATH") as error:
        config.resolve(env, environ={"DBT_PROJECT_DIR": str(project)})
    assert "export DBT_DUCKDB_PATH=" in str(error.value)


@pytest.mark.duckdb
def test_every_missing_shared_setting_is_named_in_one_sentence(project: Path) -> None:
    with pytest.raises(PipelineError) as error:
        config.resolve("prod", environ={"DBT_PROJECT_DIR": str(project), "RAW_DATA_DIR": "  "})
    message = str(error.value)
    assert "needs DBT_DUCKDB_PATH and RAW_DATA_DIR, which are not set" in message
    assert "export DBT_DUCKDB_PATH=/data/prod.duckdb RAW_DATA_DIR=/data/raw" in message
    assert message.count(".") == message.count(".duckdb") + 1  # one sentence


# A setting a user's staging and prod targets read with no default (a warehouse password), and one with a default.
_PROFILE_SETTINGS = {
    "password": "{% raw %}{{ env_var('WAREHOUSE_PASSWORD') }}{% endraw %}",
    "user": "{% raw %}{{ env_var('WAREHOUSE_USER', 'pipeline') }}{% endraw %}",
}


@pytest.fixture
def shared_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's dbt_project.yml and profiles.yml, its staging and prod targets reading _PROFILE_SETTINGS."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(PROJECT_DIR / name, tmp_path / name)
    profiles = yaml.safe_load((tmp_path / "profiles.yml").read_text(encoding="utf-8"))
    (outputs,) = [profile["outputs"] for profile in profiles.values()]
    for env in ("staging", "prod"):
        outputs[env].update(_PROFILE_SETTINGS)
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path))
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WAREHOUSE_PASSWORD", raising=False)
    return tmp_path


@pytest.mark.duckdb
@pytest.mark.parametrize(
    ("env", "listed"),
    [("staging", "DBT_DUCKDB_PATH, RAW_DATA_DIR, its own PII_HASH_KEY and WAREHOUSE_PASSWORD, which are not set"),
     ("prod", "DBT_DUCKDB_PATH, RAW_DATA_DIR and WAREHOUSE_PASSWORD, which are not set")],  # prod stores clear values
)  # fmt: skip
def test_a_shared_run_names_every_missing_setting_its_pii_key_and_profile_included(
    shared_project: Path, env: str, listed: str
) -> None:
    """The PII key and the profile's own env vars used to fail later, one per try, after ingest had begun."""
    with pytest.raises(PipelineError) as error:
        config.resolve(env, environ={"DBT_PROJECT_DIR": str(shared_project)}, connects=True)
    message = str(error.value)
    assert f"environment '{env}' needs {listed}" in message
    assert "WAREHOUSE_USER" not in message  # it has a default
    assert message.count(".") == message.count(".duckdb") + 1  # one sentence
    # `env` and `report` connect to nothing: they need neither the key nor the profile's settings.
    config.resolve(env, environ={"DBT_PROJECT_DIR": str(shared_project), "DBT_DUCKDB_PATH": "/d/x.duckdb",
                                 "RAW_DATA_DIR": "/d/raw"})  # fmt: skip


@pytest.mark.duckdb
def test_profile_variables_are_those_without_a_default(shared_project: Path) -> None:
    assert sorted(config.profile_variables(shared_project, "staging")) == ["DBT_DUCKDB_PATH", "WAREHOUSE_PASSWORD"]
    assert "WAREHOUSE_PASSWORD" not in config.profile_variables(shared_project, "dev")
    assert config.profile_variables(shared_project, "no_such_target") == []


@pytest.mark.duckdb
def test_a_staging_command_without_its_settings_stops_before_writing_anything(
    shared_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(shared_project.rglob("*"))
    assert cli.main(["ingest", "--env", "staging"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: environment 'staging' needs DBT_DUCKDB_PATH, RAW_DATA_DIR, its own PII_HASH_KEY")
    assert sorted(shared_project.rglob("*")) == before  # no warehouse, report, log or lock folder


def test_shared_environments_need_their_raw_data_location(project: Path) -> None:
    environ = {"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": str(project / "p.duckdb")}
    with pytest.raises(PipelineError, match="RAW_DATA_DIR"):
        config.resolve("prod", environ=environ)
    settings = config.resolve("prod", environ={**environ, "RAW_DATA_DIR": "/data/raw"})
    assert settings.duckdb_path == project / "p.duckdb"
    assert settings.raw_dir == Path("/data/raw")


# A job on a GitHub runner, as GitHub's default variables describe it; the runner's folders are made up.
_RUNNER = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": "/runner/_temp", "GITHUB_WORKSPACE": "/runner/_work/shop/shop"}
_HOSTED = {**_RUNNER, "RUNNER_ENVIRONMENT": "github-hosted"}
_SELF_HOSTED = {**_RUNNER, "RUNNER_ENVIRONMENT": "self-hosted"}


def _shared(project: Path, env: str, runner: dict[str, str], path: str, **more: str) -> config.Settings:
    environ = {"DBT_PROJECT_DIR": str(project), "RAW_DATA_DIR": "/data/raw", "DBT_DUCKDB_PATH": path}
    return config.resolve(env, environ={**environ, **runner, **more})


@pytest.mark.duckdb
@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize(
    ("runner", "path", "why"),
    [
        (_HOSTED, "/srv/pipeline/db.duckdb", "runs on a GitHub-hosted runner (RUNNER_ENVIRONMENT=github-hosted)"),
        (_SELF_HOSTED, "/runner/_temp/db.duckdb", "it is inside RUNNER_TEMP of this GitHub Actions job"),
        (_SELF_HOSTED, "/runner/_work/shop/shop/warehouse/db.duckdb", "it is inside GITHUB_WORKSPACE"),
        (_SELF_HOSTED, "/runner/_work/shop/shop/../shop/db.duckdb", "it is inside GITHUB_WORKSPACE"),
        (_SELF_HOSTED, "warehouse/db.duckdb", "it is relative, so inside the checkout"),
        ({"GITHUB_ACTIONS": "true"}, "warehouse/db.duckdb", "it is relative, so inside the checkout"),
    ],
    ids=["github-hosted", "runner-temp", "workspace", "workspace-dotdot", "relative", "no-runner-environment"],
)
def test_a_shared_database_a_github_job_would_lose_is_refused_in_one_sentence(
    project: Path, env: str, runner: dict[str, str], path: str, why: str
) -> None:
    """GitHub-hosted machines, RUNNER_TEMP and the checkout are all gone or emptied by the next job."""
    with pytest.raises(PipelineError) as error:
        _shared(project, env, runner, path)
    message = str(error.value)
    assert message.startswith(f"DBT_DUCKDB_PATH={path!r} would lose {env}'s database: ")
    assert why in message and "GITHUB_ACTIONS=true" in message
    assert "self-hosted runner (the repository variable PIPELINE_RUNNER)" in message
    assert f"e.g. /srv/pipeline/{env}.duckdb, or set PIPELINE_ALLOW_EPHEMERAL_DUCKDB=true" in message
    assert "\n" not in message and message.endswith("copies the database out itself.")  # one sentence


@pytest.mark.duckdb
@pytest.mark.parametrize(
    ("env", "runner", "path", "more"),
    [
        ("prod", _SELF_HOSTED, "/srv/pipeline/prod.duckdb", {}),  # a self-hosted runner's own disk
        ("prod", _SELF_HOSTED, "/runner/_tempest/prod.duckdb", {}),  # beside RUNNER_TEMP, not in it
        ("prod", _HOSTED, "/srv/pipeline/prod.duckdb", {"PIPELINE_ALLOW_EPHEMERAL_DUCKDB": "true"}),  # copied out
        ("staging", {}, "warehouse/staging.duckdb", {}),  # a laptop or a server outside GitHub Actions
        ("staging", {**_HOSTED, "GITHUB_ACTIONS": "false"}, "warehouse/staging.duckdb", {}),
        ("prod", _HOSTED, "/srv/pipeline/prod.duckdb", {"PIPELINE_ALLOW_EPHEMERAL_DUCKDB": "  true "}),
    ],
    ids=["self-hosted-disk", "beside-runner-temp", "opted-out", "no-github", "github-actions-false", "opt-out-spaces"],
)
def test_a_shared_database_that_outlives_the_job_is_accepted(
    project: Path, env: str, runner: dict[str, str], path: str, more: dict[str, str]
) -> None:
    assert _shared(project, env, runner, path, **more).duckdb_path == (project / path).resolve()


@pytest.mark.duckdb
@pytest.mark.parametrize("env", ["dev", "ci"])
def test_throwaway_instances_may_live_on_a_github_hosted_runner(project: Path, env: str) -> None:
    """dev and ci instances are rebuilt from the sample by every job: losing them loses nothing."""
    settings = config.resolve(env, environ={"DBT_PROJECT_DIR": str(project), **_HOSTED})
    assert settings.duckdb_path.is_relative_to(project / "warehouse")


@pytest.mark.duckdb
@pytest.mark.parametrize("value", ["yes", "1", "TRUE!", "maybe"])
def test_an_opt_out_that_is_not_true_or_false_is_named(project: Path, value: str) -> None:
    refused = rf"PIPELINE_ALLOW_EPHEMERAL_DUCKDB='{re.escape(value)}' must be true or false"
    with pytest.raises(PipelineError, match=refused):
        _shared(project, "prod", _HOSTED, "/srv/pipeline/prod.duckdb", PIPELINE_ALLOW_EPHEMERAL_DUCKDB=value)
    _shared(project, "prod", _SELF_HOSTED, "/srv/pipeline/prod.duckdb", PIPELINE_ALLOW_EPHEMERAL_DUCKDB="false")


@pytest.mark.duckdb
def test_a_prod_run_on_a_github_hosted_runner_stops_before_writing_anything(
    shared_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**_HOSTED, "DBT_DUCKDB_PATH": "warehouse/prod.duckdb", "RAW_DATA_DIR": "/data/raw",
                        "WAREHOUSE_PASSWORD": "x"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    before = sorted(shared_project.rglob("*"))
    assert cli.main(["run", "--env", "prod"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: DBT_DUCKDB_PATH='warehouse/prod.duckdb' would lose prod's database: ")
    assert sorted(shared_project.rglob("*")) == before


@pytest.mark.duckdb
def test_settings_reach_dbt_through_the_variables_profiles_yml_reads(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "DBT_THREADS": "2"})
    # dbt builds in the audit database; only `publish` writes where consumers read.
    dbt_env = warehouses.for_settings(settings).dbt_env()
    assert dbt_env == {"DBT_DUCKDB_PATH": str(settings.audit_path), "DBT_THREADS": "2"}
    assert settings.audit_path == settings.duckdb_path.with_name("ci__audit.duckdb")
    profiles = (project / "profiles.yml").read_text(encoding="utf-8")
    for name in dbt_env:
        assert f"env_var('{name}'" in profiles


@pytest.mark.parametrize("threads", ["0", "four", "-1", "²", "٣", "1" * 10_000, "4.0", "100000"])
def test_bad_thread_counts_are_named(project: Path, threads: str) -> None:
    # `'²'.isdigit()` is True and `int('²')` raises: a traceback before one helper parsed every number.
    with pytest.raises(PipelineError, match=r"DBT_THREADS='.{1,100}' must be a whole number .* e\.g\. DBT_THREADS=4\."):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "DBT_THREADS": threads})


@pytest.mark.parametrize("text", ["4", " 4 ", "256"])
def test_thread_counts_in_digits_are_read(project: Path, text: str) -> None:
    assert config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "DBT_THREADS": text}).threads == int(text)


@pytest.mark.parametrize("var", ["DBT_DUCKDB_PATH", "RAW_DATA_DIR", "DBT_STATE_DIR", "DBT_DEFER_DUCKDB_PATH"])
@pytest.mark.parametrize("value", ["a\x00b", "x" * 10_000, "d/" + "x" * 300, "\ud800"])
def test_paths_no_filesystem_accepts_are_named(project: Path, var: str, value: str) -> None:
    with pytest.raises(PipelineError, match=f"{var}='.+' is not a usable path"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), var: value})


def test_a_blank_path_setting_counts_as_unset(project: Path) -> None:
    settings = config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "DBT_DUCKDB_PATH": "  "})
    assert settings.duckdb_path == project / "warehouse" / "dev__local.duckdb"


@pytest.mark.parametrize("value", ["x" * 10_000, "/nowhere", "a\x00b"])
def test_a_project_dir_without_a_dbt_project_is_named(value: str) -> None:
    with pytest.raises(PipelineError, match=r"DBT_PROJECT_DIR='.+' (has no dbt_project.yml|is not a usable path)"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": value})


def test_an_unknown_fault_is_refused(project: Path) -> None:
    with pytest.raises(PipelineError, match="PIPELINE_FAULT='kill-everything' is not a known fault"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "PIPELINE_FAULT": "kill-everything"})


def test_unknown_environment_lists_the_valid_ones(project: Path) -> None:
    with pytest.raises(PipelineError, match="dev, ci, staging, prod"):
        config.resolve("qa", environ={"DBT_PROJECT_DIR": str(project)})


def test_project_dir_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\n", encoding="utf-8")
    nested = tmp_path / "models" / "deep"
    nested.mkdir(parents=True)
    assert config.find_project_dir(nested, environ={}) == tmp_path


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


@pytest.mark.parametrize("number", ["abc", "٣", "²", "0", "-1", "1" * 5000, "4 2"])
def test_a_pr_number_that_is_not_a_number_is_refused(project: Path, number: str) -> None:
    with pytest.raises(PipelineError, match=r"PR_NUMBER='.+' must be a pull request number .* e\.g\. PR_NUMBER=42"):
        config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": number})


def test_a_pr_number_with_leading_zeros_is_the_same_pull_request(project: Path) -> None:
    names = {
        config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": text}).name
        for text in ("7", "007", " 7 ")
    }
    ref = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project), "GITHUB_REF": "refs/pull/007/merge"})
    assert names == {ref.name} == {"ci_pr_7"}


@pytest.mark.duckdb
def test_deferral_attaches_production_under_its_own_name(project: Path) -> None:
    environ = {"DBT_PROJECT_DIR": str(project), "DBT_DEFER_DUCKDB_PATH": "/data/prod.duckdb", "DBT_STATE_DIR": "st"}
    settings = config.resolve("ci", environ=environ)
    assert settings.state_dir == project / "st"
    dbt_env = warehouses.for_settings(settings).dbt_env()
    assert dbt_env["DBT_DEFER_DUCKDB_PATH"] == "/data/prod.duckdb"
    assert dbt_env["DBT_DEFER_DATABASE"] == "prod"
    without = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    assert "DBT_DEFER_DATABASE" not in warehouses.for_settings(without).dbt_env()


def test_an_instance_can_be_named_for_a_parameter_set(project: Path) -> None:
    main = {"DBT_PROJECT_DIR": str(project), "GITHUB_HEAD_REF": "main"}
    settings = config.resolve("dev", environ={**main, "PIPELINE_INSTANCE": "dev__main__eu"})
    assert settings.name == "dev__main__eu"
    assert settings.duckdb_path.name == "dev__main__eu.duckdb"
    with pytest.raises(PipelineError, match="PIPELINE_INSTANCE='Bad Name'"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "PIPELINE_INSTANCE": "Bad Name"})


@pytest.mark.parametrize(
    ("name", "suffix"),
    [("dev__main__audit", "__audit"), ("dev__main__audit_x", "__audit"), ("dev__main__raw", "__raw")],
)
def test_an_instance_named_like_an_audit_copy_is_refused(project: Path, name: str, suffix: str) -> None:
    # `dev__main__audit` is where dev__main builds and checks, `dev__main__audit_x` its custom schema x and
    # `dev__main__raw` its raw tables: an instance there would share them, and dev__main's drop would take it.
    with pytest.raises(PipelineError, match=f"holds {suffix}"):
        config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project), "PIPELINE_INSTANCE": name})


@pytest.mark.parametrize(
    ("env", "name"),
    [("dev", "prod"), ("dev", "staging"), ("dev", "dev__other"), ("ci", "ci_pr_8"), ("staging", "prod")],
)
def test_an_instance_of_another_environment_or_checkout_is_refused(project: Path, env: str, name: str) -> None:
    """`--env dev` with PIPELINE_INSTANCE=prod would write the dev sample into prod (and drop it without
    --allow-shared); another branch's or pull request's instance is not this one's either."""
    environ = {"DBT_PROJECT_DIR": str(project), "GITHUB_HEAD_REF": "main", "PR_NUMBER": "7"}
    with pytest.raises(PipelineError, match=f"PIPELINE_INSTANCE='{name}' is not an instance of --env {env}"):
        config.resolve(env, environ={**environ, "PIPELINE_INSTANCE": name})


def test_long_instance_names_are_cut_with_a_hash_and_stay_apart(project: Path) -> None:
    long = "ci_pr_123456789__" + "a" * 60
    names = [
        config.resolve(
            "ci", environ={"DBT_PROJECT_DIR": str(project), "PR_NUMBER": "123456789", "PIPELINE_INSTANCE": long + tail}
        ).name
        for tail in ("_eu", "_us")
    ]
    assert names[0] != names[1]
    assert all(len(name) + len(config.AUDIT_SUFFIX) <= 63 and name.startswith("ci_pr_123456789__a") for name in names)


def test_a_blank_setting_reaches_dbt_unset_so_the_profiles_default_applies(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow passes `vars.X` as an empty string where X is not defined; dbt would take it over the default."""
    profiles = (project / "profiles.yml").read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"env_var\('([A-Z_]+)'", profiles)))
    kept, *blanked = names
    monkeypatch.setenv(kept, "a value")
    for name in blanked:
        monkeypatch.setenv(name, " ")
    blank = config.blank_profile_variables(project, "dev")
    assert blank
    assert set(blank) <= set(blanked)
    with build._environment({"DBT_THREADS": "2"}, blank):
        assert os.environ["DBT_THREADS"] == "2"  # the pipeline's own values still reach dbt
        assert not [name for name in blank if name != "DBT_THREADS" and name in os.environ]
        assert os.environ[kept] == "a value"
    assert {name: os.environ[name] for name in blank} == dict.fromkeys(blank, " ")  # put back after the call
