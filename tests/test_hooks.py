"""The template's hooks: bad answers stop the bake before a file is written; good ones bake a committed project."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import cookiecutter.hooks
import pytest
import tomllib
from cookiecutter.exceptions import FailedHookException, OutputDirExistsException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter as bake
from cookiecutter.prompt import prompt_for_config

TEMPLATE = Path(__file__).parents[1]
HOOKS = TEMPLATE / "hooks"
LICENSES = TEMPLATE / "{{cookiecutter.project_slug}}" / "licenses"
COOKIECUTTER_JSON = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
# The JSON as written, without private keys: what cookiecutter passes as `_cookiecutter` outside replay.
ORIGINAL = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}
# What the rendered hooks get as their TEMPLATE line.
TEMPLATE_LINE = json.dumps([str(TEMPLATE), ""])


def load_hook(name: str) -> ModuleType:
    """Import a hook file as it sits in the template, before cookiecutter renders it."""
    spec = importlib.util.spec_from_file_location(f"hooks.{name}", HOOKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")
CHOICES = pre.choices_of(COOKIECUTTER_JSON)
sys.path.append(str(TEMPLATE))  # cookiecutter does the same to import local_extensions
DEFAULTS = dict(prompt_for_config(generate_context(str(TEMPLATE / "cookiecutter.json")), no_input=True))
WRITTEN = post.written_files(TEMPLATE, DEFAULTS["package_name"])


def answers(**changes: str) -> dict[str, Any]:
    """Return the default answers with some of them changed."""
    return {**DEFAULTS, **changes}


def files_under(root: Path) -> dict[str, bytes]:
    """Return every file under root, outside .git, with its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def git_out(root: Path, *args: str) -> str:
    """Run git in root and return its stripped stdout."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def has_commit(root: Path) -> bool:
    """Return whether the repository at root has a HEAD commit."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, check=False).returncode == 0


# --- pre_gen_project: validate() ----------------------------------------------------------------

BAD_ANSWERS = [
    pytest.param("project_name", "", id="project-name-empty"),
    pytest.param("project_name", "   ", id="project-name-whitespace-only"),
    pytest.param("project_name", "Shop\nAnalytics", id="project-name-two-lines"),
    pytest.param("project_slug", "my shop", id="slug-with-spaces"),
    pytest.param("project_slug", "My-Shop", id="slug-with-capitals"),
    pytest.param("project_slug", "2shop", id="slug-starting-with-digit"),
    pytest.param("project_slug", "shop-", id="slug-with-trailing-dash"),
    pytest.param("project_slug", "shop--analytics", id="slug-with-double-dash"),
    pytest.param("project_slug", "shop_analytics", id="slug-with-underscore"),
    pytest.param("package_name", "class", id="package-python-keyword"),
    pytest.param("package_name", "match", id="package-soft-keyword"),
    pytest.param("package_name", "my-shop", id="package-with-dash"),
    pytest.param("package_name", "Shop", id="package-with-capital"),
    pytest.param("package_name", "json", id="package-shadows-stdlib"),
    pytest.param("package_name", "dbt", id="package-shadows-dbt"),
    pytest.param("package_name", "duckdb", id="package-shadows-duckdb"),
    pytest.param("package_name", "ref", id="package-reserved-by-dbt"),
    pytest.param("description", "one\ntwo", id="description-two-lines"),
    pytest.param("description", 'the "best" shop', id="description-double-quote"),
    pytest.param("author_name", " ", id="author-name-blank"),
    pytest.param("author_name", 'Ann "Q" Lee', id="author-name-double-quote"),
    pytest.param("author_name", "Ann\nLee", id="author-name-two-lines"),
    pytest.param("author_name", "Ann \\ Lee", id="author-name-backslash"),
    pytest.param("author_email", "data-team.example.com", id="email-without-at"),
    pytest.param("author_email", "data-team@example", id="email-without-domain-dot"),
    pytest.param("author_email", "data team@example.com", id="email-with-space"),
    pytest.param("python_version", "3.9", id="python-version-unsupported"),
    pytest.param("warehouse", "oracle", id="warehouse-unknown"),
    pytest.param("license", "GPL", id="license-unknown"),
    pytest.param("include_example", "maybe", id="include-example-unknown"),
    pytest.param("container", "sometimes", id="container-unknown"),
]


def test_default_answers_validate_clean() -> None:
    """It accepts the answers --no-input gives."""
    assert pre.validate(DEFAULTS, CHOICES) == []


@pytest.mark.parametrize(("field", "value"), BAD_ANSWERS)
def test_bad_answer_gets_one_sentence_naming_field_and_value(field: str, value: str) -> None:
    """It refuses each bad answer with one line that names the field, the value and what to type."""
    problems = pre.validate(answers(**{field: value}), CHOICES)

    assert len(problems) == 1, problems
    [problem] = problems
    assert problem.startswith(f"{field} {value!r} ")
    assert "\n" not in problem
    assert problem.endswith(".")
    assert re.search(r"; (try|type|choose) ", problem), problem


SUGGESTING_FIELDS = [p for p in BAD_ANSWERS if p.values[0] in {"project_slug", "package_name"}]


@pytest.mark.parametrize(("field", "value"), SUGGESTING_FIELDS)
def test_suggested_name_is_itself_valid(field: str, value: str) -> None:
    """It suggests a slug or package name that would pass."""
    [problem] = pre.validate(answers(**{field: value}), CHOICES)
    match = re.search(r"; try '([^']*)'\.$", problem)
    assert match, problem

    assert pre.validate(answers(**{field: match.group(1)}), CHOICES) == []


def test_slug_suggestion_follows_the_name() -> None:
    """It turns 'My Shop' into the slug people would have typed."""
    assert pre.validate(answers(project_slug="My Shop"), CHOICES) == [
        "project_slug 'My Shop' must be lowercase letters, digits and dashes, starting with a letter; try 'my-shop'."
    ]


@pytest.mark.parametrize("field", sorted(CHOICES), ids=str)
def test_unknown_choice_lists_the_choices_of_cookiecutter_json(field: str) -> None:
    """It reads the choices from cookiecutter.json and lists them all in the sentence."""
    [problem] = pre.validate(answers(**{field: "nonsense"}), CHOICES)

    assert problem == f"{field} 'nonsense' is not one of the choices; type one of {', '.join(ORIGINAL[field])}."


@pytest.mark.parametrize(
    ("field", "choice"),
    [(field, choice) for field, options in CHOICES.items() for choice in options],
    ids="=".join,
)
def test_every_choice_offered_is_accepted(field: str, choice: str) -> None:
    """It never refuses at the end what a prompt offered as a choice (no "not yet available" warehouse)."""
    assert pre.validate(answers(**{field: choice}), CHOICES) == []


@pytest.mark.parametrize("field", sorted(CHOICES), ids=str)
def test_prompts_describe_exactly_the_choices(field: str) -> None:
    """A prompt's list names each choice once and nothing else: no planned option shown as if offered."""
    prompt = COOKIECUTTER_JSON["__prompts__"][field]
    if isinstance(prompt, dict):
        assert set(prompt) - {"__prompt__"} == set(CHOICES[field])
        assert not any("not yet" in text.lower() for text in prompt.values()), prompt


NAMES = [
    "Shop Analytics", "Café Données", "Crème Brûlée Stats", "Ærø Øl", "Straße Daten", "数据仓库", "Данные магазина",
    "مخزن البيانات", "🚀 Rocket", "🚀", "2048 Shop", "Test", "Class", "JSON", "Ref", "dbt", "Match", "x",
    "Shop_Analytics", "  spaced  out  ", "a" * 120, "C'est la vie", "R&D: #1 <data>",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_default_slug_and_package_pass_their_own_checks(name: str) -> None:
    """Nothing offered as a default is refused later: every name yields a valid slug and package."""
    slug = pre.default_slug(name)
    package = pre.default_package(slug)

    assert pre.slug_problem(slug) is None, slug
    assert pre.package_problem(package) is None, package


@pytest.mark.parametrize(
    ("name", "slug", "package"),
    [
        ("Shop Analytics", "shop-analytics", "shop_analytics"),
        ("Café Données", "cafe-donnees", "cafe_donnees"),
        ("Straße Daten", "strasse-daten", "strasse_daten"),
        ("Данные", "dannye", "dannye"),
        ("2048 Shop", "shop", "shop"),
        ("JSON", "json", "json_project"),
    ],
)
def test_defaults_transliterate_the_name(name: str, slug: str, package: str) -> None:
    """It transliterates with python-slugify: 'Café Données' becomes cafe-donnees, not caf-donn-es."""
    assert (pre.default_slug(name), pre.default_package(pre.default_slug(name))) == (slug, package)


def test_empty_description_is_allowed() -> None:
    """It lets the description be empty: it is optional text."""
    assert pre.validate(answers(description=""), CHOICES) == []


def test_main_prints_every_problem_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It prints each problem on its own stderr line and stops with status 1."""
    monkeypatch.setattr(pre, "ANSWERS", json.dumps(answers(project_slug="My Shop", license="GPL")))
    monkeypatch.setattr(pre, "TEMPLATE", TEMPLATE_LINE)

    with pytest.raises(SystemExit) as exit_info:
        pre.main()

    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[0] for line in lines] == ["project_slug", "license"]


def test_main_is_silent_on_good_answers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """It says nothing and lets the bake go on when the answers are good."""
    monkeypatch.setattr(pre, "ANSWERS", json.dumps(DEFAULTS))
    monkeypatch.setattr(pre, "TEMPLATE", TEMPLATE_LINE)

    pre.main()

    assert capsys.readouterr() == ("", "")


def test_main_refuses_a_template_without_its_cookiecutter_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It stops with one sentence, not a traceback, when it cannot read the choices."""
    monkeypatch.setattr(pre, "ANSWERS", json.dumps(DEFAULTS))
    monkeypatch.setattr(pre, "TEMPLATE", json.dumps([str(tmp_path), ""]))

    with pytest.raises(SystemExit) as exit_info:
        pre.main()

    assert exit_info.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cannot read the template's cookiecutter.json in {str(tmp_path)!r} (")
    assert line.endswith("; bake from a complete copy of the template.")


@pytest.mark.parametrize(
    ("repo_dir", "extension_dir", "expected"),
    [
        pytest.param("/abs/template", "/elsewhere", "/abs/template", id="absolute-repo-dir"),
        pytest.param(".", "/abs/template", "/abs/template", id="relative-repo-dir"),
        pytest.param("rel", "", "rel", id="no-extension"),
    ],
)
def test_template_folder_prefers_an_absolute_repo_dir(repo_dir: str, extension_dir: str, expected: str) -> None:
    """It finds the template from anywhere cookiecutter was started: `cookiecutter .` gives a relative _repo_dir."""
    line = json.dumps([repo_dir, extension_dir])

    assert pre.template_folder(line) == post.template_folder(line) == Path(expected)


def test_rendered_hook_reads_choices_from_the_template_not_from_cookiecutter_context(tmp_path: Path) -> None:
    """It checks choices against cookiecutter.json even when `_cookiecutter` holds answers, as under --replay."""
    chosen = answers(license="GPL")
    context: dict[str, Any] = {"cookiecutter": {**chosen, "_repo_dir": str(TEMPLATE)}, "_cookiecutter": chosen}

    with pytest.raises(FailedHookException):
        cookiecutter.hooks.run_script_with_context(HOOKS / "pre_gen_project.py", tmp_path, context)


def test_rendered_hook_survives_quotes_and_backslashes(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """It turns any answer into valid Python: the hook reports the bad name instead of crashing."""
    name = "Shop \"\"\"''' \\ Ünïcode"
    context = {"cookiecutter": {**answers(project_name=name), "_repo_dir": str(TEMPLATE)}}

    with pytest.raises(FailedHookException):
        cookiecutter.hooks.run_script_with_context(HOOKS / "pre_gen_project.py", tmp_path, context)

    err = capfd.readouterr().err
    assert f"project_name {name!r} must be one line without double quotes or backslashes" in err
    assert "Traceback" not in err


# --- pre_gen_project: real bakes ----------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return a cookiecutter config that keeps replay files out of the real home directory."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {home / 'templates'}\nreplay_dir: {home / 'replay'}\n",
        encoding="utf-8",
    )
    return str(config)


BAD_BAKES = [
    pytest.param({"project_slug": "my shop"}, "project_slug", id="slug-with-spaces"),
    pytest.param({"project_slug": "2shop"}, "project_slug", id="slug-starting-with-digit"),
    pytest.param({"package_name": "class"}, "package_name", id="package-python-keyword"),
    pytest.param(
        {"project_name": "   ", "project_slug": "shop"},
        "project_name",
        id="project-name-whitespace-only",
    ),
    pytest.param({"author_email": "nobody"}, "author_email", id="email-without-at"),
    pytest.param({"author_name": 'Ann "Q" Lee'}, "author_name", id="author-name-double-quote"),
]


@pytest.mark.parametrize(("extra_context", "field"), BAD_BAKES)
def test_bad_bake_writes_nothing(
    tmp_path: Path,
    config_file: str,
    capfd: pytest.CaptureFixture[str],
    extra_context: dict[str, str],
    field: str,
) -> None:
    """It stops the real bake in the pre-generation hook and leaves the output folder empty."""
    with pytest.raises(FailedHookException):
        bake(
            str(TEMPLATE),
            no_input=True,
            extra_context=extra_context,
            output_dir=str(tmp_path),
            config_file=config_file,
        )

    assert list(tmp_path.iterdir()) == []
    err = capfd.readouterr().err
    assert any(line.startswith(f"{field} {extra_context[field]!r} ") for line in err.splitlines()), err


REPLAYED_BAD_ANSWERS = [
    pytest.param("license", "GPL-3.0", id="license"),
    pytest.param("python_version", "3.8", id="python-version"),
    pytest.param("container", "No", id="container"),
    pytest.param("include_example", "maybe", id="include-example"),
    pytest.param("warehouse", "oracle", id="warehouse"),
]


def replay_file(folder: Path, **changes: str) -> Path:
    """Write a replay file as cookiecutter saves one (answers plus private keys), with some answers changed."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"))
    saved = {**prompt_for_config(context, no_input=True), **changes}
    path = folder / "replayed.json"
    path.write_text(json.dumps({"cookiecutter": saved, "_cookiecutter": saved}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("field", "value"), REPLAYED_BAD_ANSWERS)
def test_replayed_answer_outside_the_choices_gets_the_typed_refusal(
    tmp_path: Path, config_file: str, capfd: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    """It refuses a --replay-file answer that is not a choice with the sentence a typed one gets; nothing baked."""
    replay = replay_file(tmp_path, **{field: value})
    output = tmp_path / "out"

    with pytest.raises(FailedHookException):
        bake(str(TEMPLATE), replay=str(replay), output_dir=str(output), config_file=config_file)

    assert not output.exists() or list(output.iterdir()) == []
    [expected] = pre.validate(answers(**{field: value}), CHOICES)
    assert expected in capfd.readouterr().err.splitlines()


def test_a_clean_replay_file_bakes(tmp_path: Path, config_file: str) -> None:
    """It lets replayed good answers through: the refusal above is about the answer, not about replay."""
    project = Path(
        bake(
            str(TEMPLATE), replay=str(replay_file(tmp_path)), output_dir=str(tmp_path / "out"), config_file=config_file
        )
    )

    assert (project / "pyproject.toml").is_file()


@pytest.mark.parametrize("pattern", COOKIECUTTER_JSON["_copy_without_render"])
def test_copy_without_render_matches_files_never_folders(pattern: str) -> None:
    """A matched folder is deleted and copied anew by cookiecutter on --overwrite-if-exists, with the user's files.

    So every pattern names files: each matches some file of the template and no folder.
    """
    source = TEMPLATE / "{{cookiecutter.project_slug}}"
    paths = {path.relative_to(source).as_posix(): path.is_dir() for path in source.rglob("*")}

    assert [path for path, is_dir in paths.items() if is_dir and fnmatch.fnmatch(path, pattern)] == []
    assert any(not is_dir and fnmatch.fnmatch(path, pattern) for path, is_dir in paths.items())


def test_the_name_default_bakes_a_transliterated_project(tmp_path: Path, config_file: str) -> None:
    """It bakes 'Café Données' as cafe-donnees with the package cafe_donnees, and keeps the name as typed."""
    project = Path(
        bake(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_name": "Café Données"},
            output_dir=str(tmp_path),
            config_file=config_file,
        )
    )

    assert project.name == "cafe-donnees"
    assert (project / "src" / "cafe_donnees" / "cli.py").is_file()
    assert (project / "README.md").read_text(encoding="utf-8").startswith("# Café Données\n")


def test_free_text_with_punctuation_bakes_files_that_parse(tmp_path: Path, config_file: str) -> None:
    """Every character the hook lets through reaches TOML, Python and LICENSE intact (quotes are refused above)."""
    text = {
        "project_name": "R&D: #1 <data> ünï {x}",
        "author_name": "Ann O'Brien: #1 & {co}",
        "description": "It's 50% [beta]: a 'test' # of it",
    }
    project = Path(
        bake(str(TEMPLATE), no_input=True, extra_context=text, output_dir=str(tmp_path), config_file=config_file)
    )

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["authors"] == [{"name": text["author_name"], "email": "data-team@example.com"}]
    assert pyproject["project"]["description"] == text["description"]
    package = project / "src" / pyproject["project"]["scripts"][project.name].split(".")[0]
    # The docstring's summary ends in a period (pydocstyle D400), whatever the description ends in.
    assert ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) == (
        f"{text['project_name']}: {text['description']}."
    )
    assert text["author_name"] in (project / "LICENSE").read_text(encoding="utf-8")


def test_existing_project_folder_is_left_untouched(tmp_path: Path, config_file: str) -> None:
    """It refuses to bake over an existing folder and changes nothing in it."""
    existing = tmp_path / "shop-analytics"
    existing.mkdir()
    (existing / "notes.txt").write_bytes(b"mine, do not touch\n")
    before = files_under(tmp_path)

    with pytest.raises(OutputDirExistsException):
        bake(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(tmp_path),
            config_file=config_file,
        )

    assert files_under(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "notes.txt",
        "shop-analytics",
    ]


# --- post_gen_project: prune --------------------------------------------------------------------

PACKAGE = "shop_analytics"
KEEPERS = [
    "README.md",
    "models/staging/other_source/stg_other.sql",
    "src/shop_analytics/__init__.py",
    "tests/conftest.py",
    "data/raw/.gitignore",
    ".github/workflows/ci.yml",
    "benchmarks/slim_ci.py",
    # Beside the files a DuckDB bake prunes (warehouse=duckdb, the default), as in the template.
    "macros/privacy/mask_pii.sql",
    "src/shop_analytics/warehouses/__init__.py",
]


def make_tree(root: Path, answers_: dict[str, Any]) -> set[str]:
    """Create every prunable path (a file, or a folder holding a file) plus files that must stay.

    Returns the files created: the ones "the template wrote".
    """
    every = post.paths_to_remove({**answers_, "container": "no", "include_example": "no"})
    created = set()
    for relative in every + KEEPERS:
        path = root / relative
        if relative == "deploy":  # a folder of the template's own file: main, which lists them, removes it
            path = path / "kubernetes" / "cronjob.yaml"
        elif "." not in path.name and path.name != "Dockerfile":
            path = path / "inner" / "model.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n", encoding="utf-8")
        created.add(path.relative_to(root).as_posix())
    return created


CONTAINER_FILES = {
    "Dockerfile", ".dockerignore", "tests/test_dockerfile.py", ".github/workflows/container.yml",
    "compose.yaml", "deploy/kubernetes/cronjob.yaml", "tests/test_run_contract.py", "tests/test_container.py",
    "benchmarks/container.py",
}  # fmt: skip
EXAMPLE_FILES = {
    "models/staging/shop/inner/model.sql",
    "models/intermediate/sales/inner/model.sql",
    "models/marts/sales/inner/model.sql",
    "data_tests/assert_order_payments_match_net_amount.sql",
    "data_tests/assert_daily_revenue_reconciles_with_orders.sql",
    "data/raw/sample/inner/model.sql",
    "data/reference/inner/model.sql",
    "src/shop_analytics/generate.py",
    "tests/test_generate.py",
    "benchmarks/generate.py",
    "benchmarks/ingest.py",
    "tests/test_sample_data.py",
    "tests/test_pipeline.py",
    "tests/test_branches.py",
    "tests/test_dbt_checks.py",
    "tests/test_wap.py",
    "tests/test_backfill.py",
}
EMPTIED_KEEPS = {
    "models/intermediate/.gitkeep",
    "models/marts/.gitkeep",
    "data_tests/.gitkeep",
}


@pytest.mark.parametrize(
    ("container", "include_example", "expected"),
    [
        pytest.param(
            "yes",
            "yes",
            set(KEEPERS) | CONTAINER_FILES | EXAMPLE_FILES,
            id="everything",
        ),
        pytest.param("no", "yes", set(KEEPERS) | EXAMPLE_FILES, id="no-container"),
        pytest.param("yes", "no", set(KEEPERS) | CONTAINER_FILES | EMPTIED_KEEPS, id="no-example"),
        pytest.param("no", "no", set(KEEPERS) | EMPTIED_KEEPS, id="bare"),
    ],
)
def test_prune_removes_exactly_what_the_options_turn_off(
    tmp_path: Path, container: str, include_example: str, expected: set[str]
) -> None:
    """It removes the listed files and folders, keeps the rest, and keeps emptied layer folders."""
    chosen = answers(container=container, include_example=include_example, package_name=PACKAGE)
    written = make_tree(tmp_path, chosen)

    post.prune(tmp_path, post.paths_to_remove(chosen), written)

    assert set(files_under(tmp_path)) == expected


def test_prune_tolerates_missing_paths(tmp_path: Path) -> None:
    """It skips listed paths that the template does not have, and creates nothing."""
    (tmp_path / "README.md").write_text("x\n", encoding="utf-8")

    removed = post.prune(tmp_path, post.paths_to_remove(answers(container="no", include_example="no")), WRITTEN)

    assert removed == []
    assert set(files_under(tmp_path)) == {"README.md"}


def test_prune_never_puts_gitkeep_in_project_root(tmp_path: Path) -> None:
    """It leaves an emptied project root as it is."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")

    post.prune(tmp_path, ["Dockerfile"], {"Dockerfile"})

    assert list(tmp_path.iterdir()) == []


def test_prune_keeps_files_the_template_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It removes only what the bake wrote: the user's files in a pruned folder stay, and are named."""
    chosen = answers(container="no", include_example="no", package_name=PACKAGE)
    written = make_tree(tmp_path, chosen)
    mine = {
        "models/marts/sales/my_model.sql",
        "models/marts/sales/inner/notes.md",
        "data/raw/sample/mine.csv",
        "tests/test_wap.py",
    }
    for relative in mine:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("mine\n", encoding="utf-8")

    post.prune(tmp_path, post.paths_to_remove(chosen), written - {"tests/test_wap.py"})

    assert set(files_under(tmp_path)) == set(KEEPERS) | mine | {"models/intermediate/.gitkeep", "data_tests/.gitkeep"}
    assert capsys.readouterr().out == (
        "kept your own files in folders this bake leaves out: models/marts/sales/inner/notes.md, "
        "models/marts/sales/my_model.sql, data/raw/sample/mine.csv, tests/test_wap.py; delete them if unwanted.\n"
    )


def test_written_files_are_the_template_files_with_the_package_named() -> None:
    """It lists what a bake writes: the template's project files, the package folder renamed."""
    written = post.written_files(TEMPLATE, "acme")

    assert {"README.md", "licenses/MIT", "src/acme/cli.py", "models/marts/sales/fct_orders.sql"} <= written
    assert not any("cookiecutter" in path for path in written)


def test_paths_to_remove_fills_in_the_package_name() -> None:
    """It points the package paths at the chosen package."""
    paths = post.paths_to_remove(answers(include_example="no", container="yes", package_name="acme"))

    assert "src/acme/generate.py" in paths
    assert not any("{" in path for path in paths)
    assert "Dockerfile" not in paths


@pytest.mark.parametrize(("option", "value"), list(post.REMOVE_PATHS), ids="=".join)
def test_remove_table_keys_are_real_choices(option: str, value: str) -> None:
    """It prunes on answers cookiecutter.json can actually give."""
    assert value in ORIGINAL[option]


@pytest.mark.parametrize("warehouse", list(post.WAREHOUSE_PATHS))
def test_warehouse_table_keys_are_real_choices_and_their_paths_exist(warehouse: str) -> None:
    """Each warehouse's own files are named under a warehouse cookiecutter.json offers, and the template writes them."""
    assert warehouse in ORIGINAL["warehouse"]
    written = post.written_files(TEMPLATE, "acme")
    for path in post.WAREHOUSE_PATHS[warehouse]:
        path = path.format(package="acme")
        assert path in written or any(name.startswith(f"{path}/") for name in written), path


def test_a_warehouse_keeps_its_own_files_and_a_file_it_shares() -> None:
    """A Snowflake bake drops Postgres's and BigQuery's files but keeps cloud.py, which BigQuery's list names too;
    a DuckDB bake drops every other warehouse's files, cloud.py once."""
    snowflake = post.paths_to_remove(answers(warehouse="snowflake", package_name="acme"))
    assert "src/acme/warehouses/bigquery.py" in snowflake
    assert "src/acme/warehouses/postgres.py" in snowflake
    assert "src/acme/warehouses/cloud.py" not in snowflake
    assert "src/acme/warehouses/snowflake.py" not in snowflake
    duckdb = post.paths_to_remove(answers(warehouse="duckdb", package_name="acme"))
    assert duckdb.count("src/acme/warehouses/cloud.py") == 1
    assert {"profiles.snowflake.yml", "profiles.postgres.yml", "src/acme/warehouses/databricks.py"} <= set(duckdb)
    assert {"profiles.spark.yml", "src/acme/warehouses/spark_server.py"} <= set(duckdb)
    spark = post.paths_to_remove(answers(warehouse="spark", package_name="acme"))
    assert "src/acme/warehouses/postgres_server.py" in spark
    assert "src/acme/warehouses/spark_server.py" not in spark


@pytest.mark.parametrize(("option", "value"), list(post.PROMOTE_PATHS), ids="=".join)
def test_promote_table_keys_are_real_choices(option: str, value: str) -> None:
    """It promotes variants on answers cookiecutter.json can actually give, and each variant exists."""
    assert value in ORIGINAL[option]
    written = post.written_files(TEMPLATE, "acme")
    assert set(post.PROMOTE_PATHS[option, value]) <= written


def test_promote_puts_the_chosen_variant_in_place_of_its_file(tmp_path: Path) -> None:
    """A postgres answer replaces profiles.yml by the Postgres variant; a duckdb answer leaves both (the
    prune table removes the variant)."""
    for name in ("profiles.yml", "profiles.postgres.yml"):
        (tmp_path / name).write_text(f"{name}\n", encoding="utf-8")
    written = {"profiles.yml", "profiles.postgres.yml"}

    assert post.promote(tmp_path, answers(warehouse="duckdb"), written) == []
    assert set(files_under(tmp_path)) == written
    assert post.promote(tmp_path, answers(warehouse="postgres"), written) == [tmp_path / "profiles.yml"]
    assert files_under(tmp_path) == {"profiles.yml": b"profiles.postgres.yml\n"}


def test_promote_leaves_a_variant_the_template_did_not_write(tmp_path: Path) -> None:
    """A file of the user's that happens to bear a variant's name is not moved over theirs."""
    (tmp_path / "profiles.yml").write_text("mine\n", encoding="utf-8")
    (tmp_path / "profiles.postgres.yml").write_text("also mine\n", encoding="utf-8")

    assert post.promote(tmp_path, answers(warehouse="postgres"), {"profiles.yml"}) == []
    assert files_under(tmp_path)["profiles.yml"] == b"mine\n"


# --- post_gen_project: license ------------------------------------------------------------------


def test_every_license_choice_has_a_text() -> None:
    """It ships one license text per choice, and no other."""
    assert sorted(p.name for p in LICENSES.iterdir()) == sorted(ORIGINAL["license"])


@pytest.mark.parametrize("license_name", ORIGINAL["license"], ids=str)
def test_promote_license_moves_the_chosen_text_to_license(tmp_path: Path, license_name: str) -> None:
    """It moves the chosen variant to LICENSE and removes the variants folder."""
    (tmp_path / "licenses").mkdir()
    for name in ORIGINAL["license"]:
        (tmp_path / "licenses" / name).write_text(f"text of {name}\n", encoding="utf-8")

    post.promote_license(tmp_path, license_name, {f"licenses/{name}" for name in ORIGINAL["license"]})

    assert files_under(tmp_path) == {"LICENSE": f"text of {license_name}\n".encode()}


def test_promote_license_keeps_other_files_in_licenses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It drops only the license variants the template wrote."""
    (tmp_path / "licenses").mkdir()
    for name in [*ORIGINAL["license"], "NOTICE"]:
        (tmp_path / "licenses" / name).write_text(f"text of {name}\n", encoding="utf-8")

    post.promote_license(tmp_path, "MIT", {f"licenses/{name}" for name in ORIGINAL["license"]})

    assert set(files_under(tmp_path)) == {"LICENSE", "licenses/NOTICE"}
    assert "licenses/NOTICE" in capsys.readouterr().out


# --- post_gen_project: git ----------------------------------------------------------------------


@pytest.fixture
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run git with an empty home and no system config, so it knows no user; return that home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                 "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert subprocess.run(["git", "config", "user.name"], cwd=home, capture_output=True, check=False).returncode == 1
    return home


def project(root: Path) -> Path:
    """Create a tiny project folder to commit."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# Shop\n", encoding="utf-8")
    (root / "models" / "staging").mkdir(parents=True)
    (root / "models" / "staging" / ".gitkeep").touch()
    return root


AUTHOR = {"author_name": "Ada Lovelace", "author_email": "ada@example.com"}


def test_initial_commit_uses_the_author_when_git_knows_nobody(tmp_path: Path, no_git_identity: Path) -> None:
    """It makes one clean commit on main as the author when git has no identity."""
    root = project(tmp_path / "shop-analytics")

    assert post.initial_commit(root, answers(**AUTHOR)) is True

    assert git_out(root, "log", "--format=%an <%ae>|%cn <%ce>|%s") == (
        "Ada Lovelace <ada@example.com>|Ada Lovelace <ada@example.com>|Initial commit from cookiecutter-dataops"
    )
    assert git_out(root, "rev-list", "--count", "HEAD") == "1"
    assert git_out(root, "branch", "--show-current") == "main"
    assert git_out(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert git_out(root, "ls-files") == "README.md\nmodels/staging/.gitkeep"


def test_initial_commit_keeps_a_configured_identity_and_skips_signing(tmp_path: Path, no_git_identity: Path) -> None:
    """It lets a configured user sign the commit as themselves, without asking gpg."""
    (no_git_identity / ".gitconfig").write_text(
        "[user]\n\tname = Grace Hopper\n\temail = grace@example.org\n"
        "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n",
        encoding="utf-8",
    )
    root = project(tmp_path / "shop-analytics")

    assert post.initial_commit(root, answers(**AUTHOR)) is True

    assert git_out(root, "log", "--format=%an <%ae>") == "Grace Hopper <grace@example.org>"


def test_project_inside_another_repository_gets_its_own(tmp_path: Path, no_git_identity: Path) -> None:
    """It gives a project baked inside another work tree its own repository and leaves the outer one alone."""
    outer = tmp_path / "outer"
    outer.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=outer, check=True)
    root = project(outer / "shop-analytics")

    assert post.initial_commit(root, answers(**AUTHOR)) is True

    assert git_out(root, "rev-parse", "--show-toplevel") == str(root)
    assert git_out(root, "rev-list", "--count", "HEAD") == "1"
    assert not has_commit(outer)


def test_existing_repository_is_left_alone(
    tmp_path: Path, no_git_identity: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It adds no commit to a folder that already is a repository."""
    root = project(tmp_path / "shop-analytics")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)

    assert post.initial_commit(root, answers(**AUTHOR)) is False

    assert "already a repository" in capsys.readouterr().out
    assert not has_commit(root)


def test_missing_git_is_skipped_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It reports a missing git in one line and carries on without a repository."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    root = project(tmp_path / "shop-analytics")

    assert post.initial_commit(root, answers(**AUTHOR)) is False

    assert (
        capsys.readouterr().err == "git not found: skipped `git init`; the project is generated without a repository.\n"
    )
    assert not (root / ".git").exists()


def test_failed_git_command_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It names the git command that failed and why, without raising."""
    assert post.git_step(tmp_path, "no-such-command") is False

    err = capsys.readouterr().err
    assert err.startswith("git no-such-command failed (")
    assert err.count("\n") == 1


# --- post_gen_project: uv.lock ------------------------------------------------------------------


def test_lock_writes_uv_lock_from_the_pyproject(tmp_path: Path) -> None:
    """It resolves the project's dependencies into uv.lock, the one lock the first commit holds."""
    if shutil.which("uv") is None:
        pytest.fail("uv is not installed: the template's own tests run under uv")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.10"\ndependencies = []\n',
        encoding="utf-8",
    )

    assert post.lock(tmp_path, "3.10") is True  # universal: resolved with the installed Python

    assert 'name = "shop"' in (tmp_path / "uv.lock").read_text(encoding="utf-8")


def test_a_lock_that_fails_names_the_python_the_project_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bake for a Python this machine lacks (and cannot download) says which one, not what uv tried to fetch."""
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.99"\ndependencies = []\n',
        encoding="utf-8",
    )

    assert post.lock(tmp_path, "3.99") is False

    err = capsys.readouterr().err
    assert err.startswith("uv lock failed (") and err.count("\n") == 1, err
    assert err.endswith("run `uv lock` where Python 3.99 or newer is installed and commit uv.lock.\n"), err


def test_missing_uv_skips_the_lock_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It says in one line how to make the lock itself when uv is not there, and carries on."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    assert post.lock(tmp_path) is False

    assert capsys.readouterr().err == (
        "uv not found: skipped `uv lock`; install uv, run `uv lock` and commit uv.lock.\n"
    )
    assert not (tmp_path / "uv.lock").exists()


def test_a_failed_lock_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It names the failure in one line (here: no pyproject.toml) and carries on, so the bake still finishes."""
    assert post.lock(tmp_path) is False

    err = capsys.readouterr().err
    assert err.startswith("uv lock failed (") and err.endswith("run `uv lock` and commit uv.lock.\n")
    assert err.count("\n") == 1


# --- post_gen_project: main and a real bake -----------------------------------------------------


def test_main_shapes_the_project_without_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It prunes, promotes the license and prints the next step, even with no git on PATH."""
    chosen = answers(
        container="no",
        include_example="yes",
        license="proprietary",
        package_name=PACKAGE,
    )
    make_tree(tmp_path, chosen)
    shutil.copytree(LICENSES, tmp_path / "licenses")
    monkeypatch.setattr(post, "ANSWERS", json.dumps(chosen))
    monkeypatch.setattr(post, "TEMPLATE", TEMPLATE_LINE)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.chdir(tmp_path)

    post.main()

    files = set(files_under(tmp_path))
    assert "LICENSE" in files
    assert not (tmp_path / "licenses").exists()
    assert not files & CONTAINER_FILES
    assert capsys.readouterr().out == "Created shop-analytics: cd shop-analytics && uvx nox\n"


def test_main_stops_when_it_cannot_list_the_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It prunes nothing, and says so in one sentence, when it cannot tell which files the bake wrote."""
    monkeypatch.setattr(post, "ANSWERS", json.dumps(answers(include_example="no")))
    monkeypatch.setattr(post, "TEMPLATE", json.dumps([str(tmp_path / "gone"), ""]))
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exit_info:
        post.main()

    assert exit_info.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("cannot list the template's files (")


def test_rebake_over_a_project_keeps_the_users_own_files(
    tmp_path: Path, config_file: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Re-baking with --overwrite-if-exists rewrites the template's files and never removes one it did not write.

    Cookiecutter deletes a `_copy_without_render` folder before copying it anew, and the post hook prunes
    folders: both used to take the user's files in models/, data/, .github/ and the pruned example folders.
    """
    options = {"include_example": "no", "container": "no"}
    project = Path(
        bake(str(TEMPLATE), no_input=True, extra_context=options, output_dir=str(tmp_path), config_file=config_file)
    )
    mine = [
        "models/staging/my_source/stg_my_source__things.sql",
        "models/marts/sales/my_mart.sql",
        "macros/my_macro.sql",
        "data/raw/my_data.csv",
        "data/raw/sample/extra.csv",
        ".github/workflows/mine.yml",
        "src/shop_analytics/extra.py",
    ]
    for relative in mine:
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(f"mine: {relative}\n", encoding="utf-8")
    tracked = files_under(project)
    capfd.readouterr()

    bake(
        str(TEMPLATE),
        no_input=True,
        extra_context=options,
        output_dir=str(tmp_path),
        config_file=config_file,
        overwrite_if_exists=True,
    )

    after = files_under(project)
    assert {relative: after.get(relative) for relative in mine} == {relative: tracked[relative] for relative in mine}
    assert after == tracked
    out = capfd.readouterr().out
    assert "models/marts/sales/my_mart.sql, data/raw/sample/extra.csv; delete them if unwanted." in out


@pytest.fixture
def mini_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a copy of the template's JSON, hooks and licenses around a few stub files.

    The real project folder is still being written; this keeps the hooks' bake test independent of it.
    """
    template = tmp_path_factory.mktemp("template")
    shutil.copy(TEMPLATE / "cookiecutter.json", template)
    shutil.copy(TEMPLATE / "local_extensions.py", template)
    shutil.copytree(HOOKS, template / "hooks", ignore=shutil.ignore_patterns("__pycache__"))
    project_dir = template / "{{cookiecutter.project_slug}}"
    shutil.copytree(LICENSES, project_dir / "licenses")
    stubs = [
        "README.md",
        "Dockerfile",
        "tests/conftest.py",
        "tests/test_dockerfile.py",
        "models/staging/shop/stg.sql",
    ]
    for relative in stubs:
        (project_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (project_dir / relative).write_text("{{ cookiecutter.project_name }}\n", encoding="utf-8")
    return template


LICENSE_OPENINGS = {
    "MIT": "MIT License\n\nCopyright (c) {year} Ada Lovelace\n",
    "Apache-2.0": "\n" + " " * 33 + "Apache License\n" + " " * 27 + "Version 2.0, January 2004\n",
    "proprietary": "Copyright (c) {year} Ada Lovelace. All rights reserved.\n",
}


@pytest.mark.parametrize("license_name", ORIGINAL["license"], ids=str)
def test_bake_runs_post_hook(
    tmp_path: Path,
    config_file: str,
    mini_template: Path,
    capfd: pytest.CaptureFixture[str],
    license_name: str,
) -> None:
    """It bakes a pruned project with the rendered license at its root, committed once."""
    extra = {
        "license": license_name,
        "container": "no",
        "include_example": "no",
        **AUTHOR,
    }

    root = Path(
        bake(
            str(mini_template),
            no_input=True,
            extra_context=extra,
            output_dir=str(tmp_path),
            config_file=config_file,
        )
    )

    files = files_under(root)
    assert set(files) == {
        "LICENSE",
        "README.md",
        "tests/conftest.py",
        "models/staging/.gitkeep",
    }
    year = datetime.now(UTC).year
    assert files["LICENSE"].decode().startswith(LICENSE_OPENINGS[license_name].format(year=year))
    assert b"{%" not in files["LICENSE"]
    assert b"{{" not in files["LICENSE"]
    if license_name == "Apache-2.0":
        assert files["LICENSE"] == (LICENSES / "Apache-2.0").read_bytes()
    assert git_out(root, "log", "--format=%s") == "Initial commit from cookiecutter-dataops"
    assert git_out(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert "Created shop-analytics: cd shop-analytics && uvx nox\n" in capfd.readouterr().out
