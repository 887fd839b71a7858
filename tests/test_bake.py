"""Bake every supported option combination and check what comes out, file by file.

Options that change the file set (include_example, container) are multiplied; the
independent ones (license, python_version) are cycled through those combinations, so
every choice of every option is baked at least once. Choices come from cookiecutter.json.
"""

from __future__ import annotations

import ast
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from conftest import CHOICES, TEMPLATE, bake, git

PACKAGE = "shop_analytics"

LINT_CORPUS = Path(__file__).parents[1] / "{{cookiecutter.project_slug}}" / "tests" / "lint_corpus"
BASE = {
    ".gitignore", ".pre-commit-config.yaml", "LICENSE", "README.md",
    "dbt_project.yml", "noxfile.py", "profiles.yml", "pyproject.toml", "uv.lock",
    "macros/generic_tests/accepted_range.sql", "macros/generic_tests/accepted_range.yml",
    "macros/generic_tests/expression_is_true.sql", "macros/generic_tests/expression_is_true.yml",
    "macros/generic_tests/no_fanout.sql", "macros/generic_tests/no_fanout.yml",
    "macros/generic_tests/unique_combination.sql", "macros/generic_tests/unique_combination.yml",
    "macros/privacy/mask_pii.sql", "macros/privacy/mask_pii.yml",
    "sqlfluff_libs/dbt.py", "sqlfluff_libs/target.py", "benchmarks/slim_ci.py", "benchmarks/run_overhead.py",
    "benchmarks/_project.py", "benchmarks/lint_corpus.py", "sqlfluff_libs/__init__.py", "tests/test_lint_corpus.py",
    *(f"tests/lint_corpus/{path.relative_to(LINT_CORPUS).as_posix()}" for path in LINT_CORPUS.rglob("*.sql")),
    "benchmarks/nox_sessions.py", "benchmarks/parallel_tests.py",
    f"src/{PACKAGE}/__init__.py", f"src/{PACKAGE}/__main__.py", f"src/{PACKAGE}/build.py",
    f"src/{PACKAGE}/cli.py", f"src/{PACKAGE}/config.py", f"src/{PACKAGE}/errors.py",
    f"src/{PACKAGE}/ingest.py", f"src/{PACKAGE}/pipeline.py", f"src/{PACKAGE}/py.typed",
    f"src/{PACKAGE}/report.py", f"src/{PACKAGE}/environments.py", f"src/{PACKAGE}/state.py",
    f"src/{PACKAGE}/checks.py", f"src/{PACKAGE}/history.py", f"src/{PACKAGE}/publish.py",
    f"src/{PACKAGE}/parallel.py", f"src/{PACKAGE}/report_html.py", f"src/{PACKAGE}/sql.py",
    f"src/{PACKAGE}/pii.py", f"src/{PACKAGE}/pii_plugin.py", "tests/test_pii.py",
    f"src/{PACKAGE}/add_source.py", "tests/test_add_source.py", f"src/{PACKAGE}/contract.py", "tests/test_contract.py",
    f"src/{PACKAGE}/properties.py", f"src/{PACKAGE}/warehouses/__init__.py", f"src/{PACKAGE}/warehouses/duckdb.py",
    "sqlfluff_libs/snapshot_blocks.py",
    f"src/{PACKAGE}/locking.py", "tests/test_concurrency.py", "tests/test_hostile_input.py",
    "tests/test_environments.py", "tests/test_checks.py", "tests/test_history.py", "tests/test_report_html.py",
    "tests/conftest.py", "tests/test_build.py", "tests/test_cli.py", "tests/test_config.py", "tests/test_sql.py",
    "tests/test_ingest.py", "tests/test_readme.py", "tests/test_report.py", "tests/test_steps.py",
    "tests/test_ingest_files.py", "tests/test_ingest_values.py", "tests/test_checks_units.py",
    "tests/test_history_units.py", "tests/test_publish_units.py", "tests/test_report_units.py",
    "tests/test_state_units.py", "tests/test_conftest.py", "tests/test_ingest_units.py", "tests/test_warehouses.py",
    ".github/CODEOWNERS", ".github/dependabot.yml", ".github/pull_request_template.md",
    ".github/workflows/ci.yml", ".github/workflows/cleanup.yml", ".github/workflows/deploy.yml",
    ".github/workflows/pipeline.yml", ".github/run-in-image.sh",
}  # fmt: skip
EXAMPLE = {
    "data/raw/sample/customers.csv", "data/raw/sample/manifest.json", "data/raw/sample/order_items.parquet",
    "data/raw/sample/orders.parquet", "data/raw/sample/payments.jsonl", "data/raw/sample/products.csv",
    "data/reference/manifest.json", "data/reference/monthly_net_revenue.csv", "data/reference/reconciliations.yml",
    "data_tests/assert_order_payments_match_net_amount.sql",
    "data_tests/assert_daily_revenue_reconciles_with_orders.sql",
    "models/intermediate/sales/_sales__models.yml", "models/intermediate/sales/int_order_items_joined.sql",
    "models/intermediate/sales/int_payments_aggregated_to_orders.sql",
    "models/marts/sales/_sales__models.yml", "models/marts/sales/dim_customers.sql",
    "models/marts/sales/fct_orders.sql", "models/marts/sales/fct_daily_revenue.sql",
    "models/staging/shop/_shop__models.yml", "models/staging/shop/_shop__sources.yml",
    "models/staging/shop/stg_shop__customers.sql", "models/staging/shop/stg_shop__order_items.sql",
    "models/staging/shop/stg_shop__orders.sql", "models/staging/shop/stg_shop__payments.sql",
    "models/staging/shop/stg_shop__products.sql",
    f"src/{PACKAGE}/generate.py", "tests/test_generate.py", "tests/test_pipeline.py", "tests/test_sample_data.py",
    "benchmarks/generate.py",
    "tests/test_branches.py", "tests/test_dbt_checks.py", "tests/test_wap.py", "tests/test_backfill.py",
    "benchmarks/ingest.py",
}  # fmt: skip
SKELETON = {
    "data/raw/.gitkeep", "data_tests/.gitkeep", "models/staging/.gitkeep",
    "models/intermediate/.gitkeep", "models/marts/.gitkeep",
}  # fmt: skip
CONTAINER = {
    "Dockerfile",
    ".dockerignore",
    "tests/test_dockerfile.py",
    "tests/test_container.py",
    "benchmarks/container.py",
    ".github/workflows/container.yml",
    "compose.yaml",
    "deploy/kubernetes/cronjob.yaml",
    "tests/test_run_contract.py",
}
# Postgres bakes only (the hook prunes them from DuckDB bakes); POSTGRES_EXAMPLE only with the example too.
POSTGRES = {
    "macros/privacy/mask_pii_postgres.sql", "macros/microbatch_postgres.sql",
    f"src/{PACKAGE}/warehouses/postgres.py", f"src/{PACKAGE}/warehouses/postgres_server.py",
    "tests/test_postgres.py", "tests/test_postgres_warehouse.py",
}  # fmt: skip
POSTGRES_EXAMPLE = {"tests/test_postgres_example.py", "benchmarks/warehouses.py"}
# The warehouses that need an account (lint, types, pytest and dbt parse here, no pipeline run): each bake holds
# its profile variant promoted to profiles.yml, the shared cloud module, its own module and the SQL tests.
CLOUD_WAREHOUSES = ("snowflake", "bigquery", "databricks")
CLOUD = {f"src/{PACKAGE}/warehouses/cloud.py", "tests/test_cloud_warehouse.py"}
# Spark bakes only (the hook prunes them from the others); SPARK_EXAMPLE only with the example too.
SPARK = {
    "macros/privacy/mask_pii_spark.sql", f"src/{PACKAGE}/warehouses/spark.py",
    f"src/{PACKAGE}/warehouses/spark_server.py", "tests/test_spark.py",
}  # fmt: skip
SPARK_EXAMPLE = {"tests/test_spark_example.py", "benchmarks/spark.py"}
LICENSE_MARKERS = {"MIT": "MIT License", "Apache-2.0": "Apache License", "proprietary": "All rights reserved"}


def combinations() -> list[dict[str, str]]:
    """Multiply the interacting options, cycle the independent ones."""
    interacting = list(itertools.product(CHOICES["include_example"], CHOICES["container"]))
    independent = ["license", "python_version"]
    rounds = max(len(interacting), *(len(CHOICES[name]) for name in independent))
    combos = []
    for i in range(rounds):
        include_example, container = interacting[i % len(interacting)]
        combo = {"include_example": include_example, "container": container}
        combo.update({name: CHOICES[name][i % len(CHOICES[name])] for name in independent})
        combos.append(combo)
    # Warehouses that run here multiply the rounds; each cloud one (its pruning is one table row) bakes once.
    local = [warehouse for warehouse in CHOICES["warehouse"] if warehouse not in CLOUD_WAREHOUSES]
    cloud = [warehouse for warehouse in CHOICES["warehouse"] if warehouse in CLOUD_WAREHOUSES]
    return [{**combo, "warehouse": warehouse} for combo in combos for warehouse in local] + [
        {**combos[index % len(combos)], "warehouse": warehouse} for index, warehouse in enumerate(cloud)
    ]


COMBINATIONS = combinations()


def test_every_choice_of_every_option_is_baked() -> None:
    for option, choices in CHOICES.items():
        baked = {combo[option] for combo in COMBINATIONS}
        assert baked == set(choices), option


@pytest.fixture(scope="module", params=COMBINATIONS, ids=lambda c: "-".join(c.values()))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    answers: dict[str, str] = request.param
    project = bake(tmp_path_factory.mktemp("bake"), **answers)
    return project, answers


def skip_if_unlockable(project: Path, answers: dict[str, str]) -> None:
    """Skip, saying why, where the hook could not write uv.lock: uv lock needs a Python of the project's lowest
    version, and this machine has none installed and cannot download one (uv downloads it where it can)."""
    if (project / "uv.lock").exists():
        return
    version = answers["python_version"]
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", f">={version}"], capture_output=True, check=False
    )
    if found.returncode != 0:
        pytest.skip(f"no Python >={version} installed or downloadable here for `uv lock`")


def expected_files(answers: dict[str, str]) -> set[str]:
    files = set(BASE)
    files |= EXAMPLE if answers["include_example"] == "yes" else SKELETON
    files |= CONTAINER if answers["container"] == "yes" else set()
    if answers["warehouse"] == "postgres":
        files |= POSTGRES | (POSTGRES_EXAMPLE if answers["include_example"] == "yes" else set())
    if answers["warehouse"] in CLOUD_WAREHOUSES:
        files |= CLOUD | {f"src/{PACKAGE}/warehouses/{answers['warehouse']}.py"}
    if answers["warehouse"] == "spark":
        files |= SPARK | (SPARK_EXAMPLE if answers["include_example"] == "yes" else set())
    return files


def test_the_file_set_is_exact_and_committed(baked: tuple[Path, dict[str, str]]) -> None:
    project, answers = baked
    skip_if_unlockable(project, answers)
    assert set(git(project, "ls-files").split()) == expected_files(answers)
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "branch", "--show-current").strip() == "main"
    assert len(git(project, "log", "--format=%H").split()) == 1


def test_no_template_residue_is_left(baked: tuple[Path, dict[str, str]]) -> None:
    project, _ = baked
    for relative in git(project, "ls-files").split():
        path = project / relative
        if path.suffix == ".parquet":
            continue
        text = path.read_text(encoding="utf-8")
        assert "cookiecutter." not in text, relative
        assert "{% raw" not in text and "{%- if" not in text, relative


def test_python_yaml_toml_and_json_parse(baked: tuple[Path, dict[str, str]]) -> None:
    project, _ = baked
    parsed = 0
    for relative in git(project, "ls-files").split():
        path = project / relative
        if path.suffix == ".py":
            ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        elif path.suffix in (".yml", ".yaml"):
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            continue
        parsed += 1
    assert parsed > 10


def test_answers_reach_the_files_that_use_them(baked: tuple[Path, dict[str, str]]) -> None:
    project, answers = baked
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    assert pyproject["tool"]["mypy"]["python_version"] == answers["python_version"]
    assert pyproject["project"]["scripts"] == {"shop-analytics": f"{PACKAGE}.cli:main"}
    assert LICENSE_MARKERS[answers["license"]] in (project / "LICENSE").read_text(encoding="utf-8")
    profiles = yaml.safe_load((project / "profiles.yml").read_text(encoding="utf-8"))
    assert set(profiles[PACKAGE]["outputs"]) == {"dev", "ci", "staging", "prod"}
    assert {output["type"] for output in profiles[PACKAGE]["outputs"].values()} == {answers["warehouse"]}
    dbt_project = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))
    assert dbt_project["name"] == dbt_project["profile"] == PACKAGE
    if answers["container"] == "yes":
        dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
        assert f"ARG BASE_IMAGE=python:{answers['python_version']}-slim-bookworm" in dockerfile


# Where each warehouse's profile says where to write: the settings staging and prod must be given.
WHERE_SETTINGS = {
    "duckdb": {"path": "DBT_DUCKDB_PATH"},
    # PGPASSWORD is not one: unset, libpq reads ~/.pgpass, or the server (trust auth) asks for none.
    "postgres": {"host": "PGHOST", "user": "PGUSER", "dbname": "PGDATABASE", "schema": "DBT_SCHEMA"},
    "snowflake": {"schema": "DBT_SCHEMA"},
    "bigquery": {"dataset": "DBT_SCHEMA"},
    "databricks": {"schema": "DBT_SCHEMA", "catalog": "DATABRICKS_CATALOG"},
    # dev and ci run Spark in the process (`session`, host unused); staging and prod need SPARK_REMOTE (test_spark).
    "spark": {"schema": "DBT_SCHEMA"},
}  # fmt: skip


def test_staging_and_prod_have_no_default_settings(baked: tuple[Path, dict[str, str]]) -> None:
    project, answers = baked
    outputs = yaml.safe_load((project / "profiles.yml").read_text(encoding="utf-8"))[PACKAGE]["outputs"]
    for field, variable in WHERE_SETTINGS[answers["warehouse"]].items():
        for env in ("staging", "prod"):
            assert outputs[env][field] == f"{{{{ env_var('{variable}') }}}}", (env, field)
        for env in ("dev", "ci"):
            assert outputs[env][field].startswith(f"{{{{ env_var('{variable}', '"), (env, field)


def test_a_custom_name_flows_into_package_cli_and_dbt_project(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Order Quality Lab", author_email="lab@example.org")
    assert project.name == "order-quality-lab"
    assert (project / "src" / "order_quality_lab" / "cli.py").is_file()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {"order-quality-lab": "order_quality_lab.cli:main"}
    assert yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))["name"] == "order_quality_lab"
    assert "lab@example.org" in git(project, "log", "--format=%ae")


def test_the_readme_layout_tree_matches_the_files(baked: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The baked project's own README test, run here for every combination (it needs only pytest).

    The nested pytest gets its own --basetemp: pytest prunes old folders under the shared default root. It skips the
    baked conftest (--noconftest), which imports the package: this interpreter has pytest and PyYAML, not the package.
    """
    project, answers = baked
    skip_if_unlockable(project, answers)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
         "--basetemp", str(tmp_path / "pytest"), "tests/test_readme.py"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout


def test_nested_runs_in_baked_projects_get_their_own_temp_root(tmp_path: Path) -> None:
    """The slow tests' nested nox and pytest runs see their own TMPDIR, so they never prune this run's folders."""
    from test_baked_checks import run

    result = run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"], tmp_path, tmp_path / "own")

    assert result.stdout.strip() == str(tmp_path / "own")


def test_nested_runs_in_baked_projects_never_target_the_suite_s_own_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nox points uv at its session venv; a baked `uv run` inheriting that would sync into the suite's venv.

    That removed zizmor and check-jsonschema from the template's test venv mid-run (CI of stop 13).
    """
    from test_baked_checks import run

    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", str(tmp_path / "suite-venv"))
    monkeypatch.setenv("UV_PYTHON", str(tmp_path / "suite-venv" / "bin" / "python"))
    script = "import os; print(os.environ.get('UV_PROJECT_ENVIRONMENT'), os.environ.get('UV_PYTHON'))"

    result = run([sys.executable, "-c", script], tmp_path, tmp_path / "own")

    assert result.stdout.split() == ["None", "None"]


def test_python_is_lint_clean_and_formatted(baked: tuple[Path, dict[str, str]]) -> None:
    """A quick ruff pass with the baked config; the slow tests run the project's pinned pre-commit hooks."""
    project, _ = baked
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff comes with the template's test dependency group"
    for command in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--check", "--no-cache", "."]):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "description", ["Order analytics for the sales team", "  Revenue marts:  ", "What sold?", "", "Marts, daily."]
)
def test_any_description_gives_a_lint_clean_package_docstring(tmp_path: Path, description: str) -> None:
    """The description is the package docstring's summary: without a final period, with spaces around it, ending in
    `:` or `?`, or empty, the baked project's first `nox` must not fail pydocstyle (D400, D415, D210) on it."""
    project = bake(tmp_path, description=description, include_example="no", container="no")
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff comes with the template's test dependency group"
    init = next((project / "src").glob("*/__init__.py"))
    command = [ruff, "check", "--no-cache", "--select", "D", str(init)]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert init.read_text(encoding="utf-8").startswith('"""Shop Analytics')


def test_an_empty_bake_names_none_of_the_example_s_models(baked: tuple[Path, dict[str, str]]) -> None:
    """Without the example, no file a user reads (docs, workflows, macros, CLI) names the example's models."""
    project, answers = baked
    if answers["include_example"] == "yes":
        pytest.skip("the example's names belong in the example")
    models = TEMPLATE / "{{cookiecutter.project_slug}}" / "models"
    names = sorted({path.stem for path in models.rglob("*.sql")} | {"source('shop'"})
    leaks = [
        f"{relative}: {name}"
        for relative in git(project, "ls-files").split()
        if not relative.startswith("tests/") and relative.endswith((".md", ".yml", ".yaml", ".py", ".sql", ".toml"))
        for name in names
        if name in (project / relative).read_text(encoding="utf-8")
    ]
    assert leaks == []
