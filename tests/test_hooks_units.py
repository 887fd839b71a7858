"""Unit tests of the hooks' helpers: whole messages, suggestions and git steps, each called in-process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import TEMPLATE, load_hook

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")


# --- pre_gen_project ------------------------------------------------------------------------------


def test_choices_are_the_public_lists_as_text(tmp_path: Path) -> None:
    template = {"python_version": ["3.12", 3.13], "_copy_without_render": ["*.sql"], "project_name": "Shop"}
    assert pre.choices_of(template) == {"python_version": ["3.12", "3.13"]}
    (tmp_path / "cookiecutter.json").write_text(json.dumps(template), encoding="utf-8")
    assert pre.template_choices(tmp_path) == {"python_version": ["3.12", "3.13"]}


@pytest.mark.parametrize(
    ("value", "slug", "package"),
    [
        ("My Shop!", "my-shop", "my_shop"),
        ("Café Données", "cafe-donnees", "cafe_donnees"),
        ("123 Shop", "shop", "shop"),
        ("--", "my-project", "my_project"),
        ("", "my-project", "my_project"),
        ("2 3", "my-project", "my_project"),
        ("class", "class", "class_project"),
        ("JSON", "json", "json_project"),
        ("ref", "ref", "ref_project"),
    ],
)
def test_suggestions_are_the_nearest_valid_names(value: str, slug: str, package: str) -> None:
    assert (pre.suggest_slug(value), pre.suggest_package(value)) == (slug, package)
    assert pre.slug_problem(slug) is None
    assert pre.package_reason(package) is None


@pytest.mark.parametrize(
    ("slug", "package"),
    [("shop-analytics", "shop_analytics"), ("json", "json_project"), ("my-2", "my_2"), ("dbt", "dbt_project")],
)
def test_the_default_package_is_the_slug_with_underscores_or_the_nearest_valid_name(slug: str, package: str) -> None:
    assert pre.default_package(slug) == package
    assert pre.default_slug("Shop Analytics") == "shop-analytics"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Shop", "must be lowercase letters, digits and underscores, starting with a letter"),
        ("_shop", "must be lowercase letters, digits and underscores, starting with a letter"),
        ("shop-analytics", "must be lowercase letters, digits and underscores, starting with a letter"),
        ("for", "is a Python keyword"),
        ("case", "is a Python keyword"),
        ("csv", "would shadow the standard-library module csv"),
        ("dbt_duckdb", "would shadow the dbt_duckdb dependency"),
        ("duckdb", "would shadow the duckdb dependency"),
        ("graph", "is a reserved word that dbt refuses as a project name"),
        ("shop_2", None),
    ],
)
def test_each_reason_a_package_name_is_refused(value: str, reason: str | None) -> None:
    assert pre.package_reason(value) == reason


@pytest.mark.parametrize(
    ("answers", "problems"),
    [
        (
            {"project_name": "", "project_slug": "Shop Analytics", "package_name": "json", "description": "a\tb",
             "author_name": "Ann \"Q\"\x7f Lee", "author_email": "ann@@example.com", "license": "GPL"},
            [
                "project_name '' is empty; type something such as 'Shop Analytics'.",
                "project_slug 'Shop Analytics' must be lowercase letters, digits and dashes, starting with a letter; "
                "try 'shop-analytics'.",
                "package_name 'json' would shadow the standard-library module json; try 'json_project'.",
                "description 'a\\tb' must be one line without double quotes or backslashes; try 'a b'.",
                "author_name 'Ann \"Q\"\\x7f Lee' must be one line without double quotes or backslashes; "
                "try 'Ann Q Lee'.",
                "author_email 'ann@@example.com' is not an email address; type one such as 'data-team@example.com'.",
                "license 'GPL' is not one of the choices; type one of MIT, BSD-3-Clause, proprietary.",
            ],
        ),
        (
            {},
            [
                "project_name '' is empty; type something such as 'Shop Analytics'.",
                "project_slug '' must be lowercase letters, digits and dashes, starting with a letter; "
                "try 'my-project'.",
                "package_name '' must be lowercase letters, digits and underscores, starting with a letter; "
                "try 'my_project'.",
                "author_name '' is empty; type something such as 'Data Team'.",
                "author_email '' is not an email address; type one such as 'data-team@example.com'.",
                "license '' is not one of the choices; type one of MIT, BSD-3-Clause, proprietary.",
            ],
        ),
        (
            {"project_name": "Shop", "project_slug": "shop", "package_name": "shop", "description": "",
             "author_name": "Ann Lee", "author_email": "ann@example.com", "license": "MIT"},
            [],
        ),
    ],
)  # fmt: skip
def test_validate_gives_every_problem_in_full(answers: dict[str, Any], problems: list[str]) -> None:
    assert pre.validate(answers, {"license": ["MIT", "BSD-3-Clause", "proprietary"]}) == problems


# --- post_gen_project ------------------------------------------------------------------------------


def test_paths_to_remove_follow_the_answers_given() -> None:
    removed = post.paths_to_remove({"container": "no", "warehouse": "duckdb"})
    assert removed[:9] == [
        "Dockerfile", ".dockerignore", "tests/test_dockerfile.py", "tests/test_container.py",
        "benchmarks/container.py", ".github/workflows/container.yml",
        "compose.yaml", "deploy", "tests/test_run_contract.py",
    ]  # fmt: skip
    # Then every other warehouse's own files, once each: a DuckDB bake keeps none of them.
    others = [path for paths in post.WAREHOUSE_PATHS.values() for path in paths]
    assert removed[9:] == [path.format(package="") for path in dict.fromkeys(others)]
    removed = post.paths_to_remove({"include_example": "no", "container": "yes"})
    assert "src//generate.py" in removed  # no package_name answer: nothing is filled in
    assert removed[0] == "models/staging/shop"
    assert len(removed) == len(post.REMOVE_PATHS[("include_example", "no")])
    assert post.paths_to_remove({}) == []


def test_remove_written_deletes_only_what_the_template_wrote(tmp_path: Path) -> None:
    for relative in ("a/b/c.sql", "a/b/mine.sql", "a/d/e.sql", "a/f.sql", "lone.txt", "other.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x\n", encoding="utf-8")
    (tmp_path / "a" / "empty").mkdir()
    written = {"a/b/c.sql", "a/d/e.sql", "a/f.sql", "lone.txt"}

    assert post.remove_written(tmp_path, "a", written) == (False, ["a/b/mine.sql"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a", "a/b", "a/b/mine.sql", "lone.txt", "other.txt",
    ]  # fmt: skip
    assert post.remove_written(tmp_path, "lone.txt", written) == (True, [])
    assert post.remove_written(tmp_path, "other.txt", written) == (False, ["other.txt"])
    assert post.remove_written(tmp_path, "gone", written) == (False, [])
    (tmp_path / "a" / "b" / "mine.sql").unlink()
    (tmp_path / "a" / "b" / "c.sql").write_text("x\n", encoding="utf-8")
    assert post.remove_written(tmp_path, "a", written) == (True, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_prune_goes_on_past_a_missing_path_and_keeps_emptied_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for relative in ("models/marts/sales/f.sql", "models/marts/mine/g.sql", "data/x.csv", "top.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x\n", encoding="utf-8")
    written = {"models/marts/sales/f.sql", "data/x.csv", "top.txt", "mine.txt"}

    removed = post.prune(
        tmp_path, ["gone", "models/marts/sales", "data/x.csv", "top.txt", "models/marts/mine"], written
    )

    assert removed == [tmp_path / "models/marts/sales", tmp_path / "data/x.csv", tmp_path / "top.txt"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "data/.gitkeep", "models/marts/mine/g.sql",
    ]  # fmt: skip
    assert capsys.readouterr().out == (
        "kept your own files in folders this bake leaves out: models/marts/mine/g.sql; delete them if unwanted.\n"
    )


def test_report_kept_is_silent_when_nothing_was_kept(capsys: pytest.CaptureFixture[str]) -> None:
    post.report_kept([])
    post.report_kept(["a.txt", "b/c.txt"])
    assert capsys.readouterr().out == (
        "kept your own files in folders this bake leaves out: a.txt, b/c.txt; delete them if unwanted.\n"
    )


def test_written_files_need_the_templates_project_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^no \{\{cookiecutter.project_slug\}\} folder in "):
        post.written_files(tmp_path, "shop")
    written = post.written_files(TEMPLATE, "shop")
    assert "src/shop/checks.py" in written
    assert "README.md" in written
    assert not any("cookiecutter" in path for path in written)
    assert "src" not in written  # folders are not files the template writes


def _failing(stderr: str, returncode: int = 2) -> Any:
    return lambda root, *args, env=None: subprocess.CompletedProcess(["git", *args], returncode, "", stderr)


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("fatal: not a repository\n  (or any parent)\n", "fatal: not a repository (or any parent)"),
        ("", "exit status 2"),
    ],
)
def test_a_failed_git_step_names_the_command_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stderr: str, reason: str
) -> None:
    monkeypatch.setattr(post, "git", _failing(stderr))
    assert post.git_step(tmp_path, "-c", "commit.gpgsign=false", "-C", "commit", "-q") is False
    assert capsys.readouterr().err == f"git commit failed ({reason}); the project is generated, commit it yourself.\n"


def test_a_git_step_says_nothing_when_it_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert post.git_step(tmp_path, "init", "-q") is True
    assert (tmp_path / ".git").is_dir()
    assert capsys.readouterr() == ("", "")


def _identity(folder: Path, name: str) -> Path:
    config = folder / f"{name}.gitconfig"
    config.write_text(f"[user]\n\tname = {name}\n\temail = {name}@example.org\n", encoding="utf-8")
    return config


def test_identity_is_looked_up_in_the_project_with_the_environment_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "config", "user.name", "Local Name"], cwd=root, check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    author = {"author_name": "Ada", "author_email": "ada@example.com"}
    bare = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}

    # the repository's own name counts; the email is the author's, set for both author and committer
    assert post.identity_env(root, author, bare) == {
        **bare, "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_EMAIL": "ada@example.com",
    }  # fmt: skip
    # an identity in the environment's global config counts (not the test process's, which has none)
    configured = {**bare, "GIT_CONFIG_GLOBAL": str(_identity(tmp_path, "global"))}
    assert post.identity_env(root, author, configured) == configured
    # an identity already in the environment is kept
    preset = {**bare, "GIT_AUTHOR_EMAIL": "x@example.org"}
    assert post.identity_env(root, author, preset)["GIT_AUTHOR_EMAIL"] == "x@example.org"


def test_initial_commit_skips_the_projects_commit_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    (hooks / "pre-commit").chmod(0o755)
    config = tmp_path / "global.gitconfig"
    config.write_text(f"[core]\n\thooksPath = {hooks}\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    root = tmp_path / "shop"
    root.mkdir()
    (root / "README.md").write_text("# Shop\n", encoding="utf-8")

    assert post.initial_commit(root, {"author_name": "Ada", "author_email": "ada@example.com"}) is True
    log = subprocess.run(["git", "log", "--format=%an|%s"], cwd=root, capture_output=True, text=True, check=True)
    assert log.stdout == "Ada|Initial commit from cookiecutter-dataops\n"


def test_initial_commit_takes_the_identity_the_new_repository_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git template (init.templateDir) may give each new repository an identity: it wins over the answers."""
    template = tmp_path / "git-template"
    template.mkdir()
    _identity(template, "config").rename(template / "config")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(template))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not a repository: the lookup must run in the project
    root = tmp_path / "shop"
    root.mkdir()
    (root / "README.md").write_text("# Shop\n", encoding="utf-8")

    assert post.initial_commit(root, {"author_name": "Ada", "author_email": "ada@example.com"}) is True
    log = subprocess.run(["git", "log", "--format=%an <%ae>"], cwd=root, capture_output=True, text=True, check=True)
    assert log.stdout == "config <config@example.org>\n"


def test_initial_commit_reports_a_failed_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(post, "git", _failing("fatal: cannot init"))
    assert post.initial_commit(tmp_path, {"author_name": "Ada", "author_email": "ada@example.com"}) is False
    assert (
        capsys.readouterr().err
        == "git init failed (fatal: cannot init); the project is generated, commit it yourself.\n"
    )


def test_an_existing_repository_is_named_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".git").mkdir()
    assert post.initial_commit(tmp_path, {}) is False
    assert capsys.readouterr().out == f"git: {tmp_path} is already a repository; left its history as it is.\n"


def test_main_commits_the_shaped_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shop"
    (root / "licenses").mkdir(parents=True)
    for name in ("MIT", "BSD-3-Clause"):
        (root / "licenses" / name).write_text(f"{name} text\n", encoding="utf-8")
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "README.md").write_text("# Shop\n", encoding="utf-8")
    chosen = {"package_name": "shop", "project_slug": "shop", "license": "MIT", "container": "no",
              "include_example": "yes", "author_name": "Ada", "author_email": "ada@example.com"}  # fmt: skip
    written = {"licenses/MIT", "licenses/BSD-3-Clause", "Dockerfile", "README.md"}
    monkeypatch.setattr(post, "written_files", lambda template, package: written if package == "shop" else set())
    monkeypatch.setattr(post, "ANSWERS", json.dumps(chosen))
    monkeypatch.setattr(post, "TEMPLATE", json.dumps([str(TEMPLATE), ""]))
    monkeypatch.chdir(root)

    post.main()

    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert files == "LICENSE\nREADME.md\n"
    assert (root / "LICENSE").read_text(encoding="utf-8") == "MIT text\n"
    assert capsys.readouterr().out == "Created shop: cd shop && uvx nox\n"
