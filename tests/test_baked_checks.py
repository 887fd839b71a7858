"""The baked project's own checks, run for real: `nox` (lint, typecheck, tests, dbt) must pass.

These are slow (a few minutes: each nox session makes its own virtualenv and installs dbt),
so they carry the `slow` marker; the template's default test command still runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bake import CLOUD_WAREHOUSES

from conftest import TEMPLATE, bake, git_env

pytestmark = pytest.mark.slow

NON_DEFAULT = {"include_example": "no", "container": "yes", "license": "Apache-2.0", "python_version": "3.10"}


def run(
    command: list[str] | str, cwd: Path, temp: Path, timeout: int = 2400, *, newcomer: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command in a baked project with its own TMPDIR (`temp`).

    pytest keeps three folders under `<TMPDIR>/pytest-of-<user>` and deletes older ones: a nested run sharing
    that root with this suite, or with a concurrent one, could delete their temp folders mid-run.
    `newcomer`: the shell of someone following the README, without this suite's UV_COMPILE_BYTECODE=1 (which makes
    every `uv run` recompile, the very fault the README test must catch).
    """
    temp.mkdir(parents=True, exist_ok=True)
    env = {**git_env(), "CI": "true", "TMPDIR": str(temp)}
    if newcomer:
        env.pop("UV_COMPILE_BYTECODE", None)
    else:
        env["UV_COMPILE_BYTECODE"] = "1"
    env.pop("VIRTUAL_ENV", None)  # the baked project makes its own environments
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        shell=isinstance(command, str),
    )
    if result.returncode != 0:
        print(result.stdout[-20000:], result.stderr[-20000:], sep="\n")
    return result


def porcelain(project: Path) -> str:
    """`git status --porcelain` of a baked project: empty when nothing is left to commit."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project, capture_output=True, text=True, env=git_env(), check=True,
    ).stdout  # fmt: skip


def test_a_fresh_bake_passes_its_own_nox(tmp_path: Path) -> None:
    """The non-default answers; the default bake's `uvx nox` runs in the README test below."""
    project = bake(tmp_path, **NON_DEFAULT)
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=tmp_path / "tmp")
    assert result.returncode == 0
    for session in ("lint", "typecheck", "tests", "dbt"):
        assert re.search(rf"\* {session}: success", result.stdout + result.stderr), session
    # Checks leave the work tree as they found it: nothing to commit after a green run.
    assert porcelain(project) == ""


def test_a_postgres_bake_passes_its_own_nox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """warehouse=postgres with the example: its nox starts throwaway servers from the machine's binaries (PGHOST
    unset), runs the same sessions green, including the DuckDB-and-Postgres same-marts test."""
    if not (shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))):
        pytest.fail("no PostgreSQL binaries: install them (`apt-get install postgresql`; .ci/run does)")
    project = bake(tmp_path, warehouse="postgres", container="no")
    for name in [name for name in os.environ if name.startswith("PG")]:
        monkeypatch.delenv(name)
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=tmp_path / "tmp")
    assert result.returncode == 0
    for session in ("lint", "typecheck", "tests", "dbt"):
        assert re.search(rf"\* {session}: success", result.stdout + result.stderr), session
    assert porcelain(project) == ""


# The variables a cloud bake's profile reads: unset here, so its nox runs what needs no account.
ACCOUNT_PREFIXES = ("SNOWFLAKE_", "GOOGLE_", "BIGQUERY_", "DATABRICKS_")


@pytest.mark.parametrize("warehouse", CLOUD_WAREHOUSES)
def test_a_cloud_bake_passes_its_own_nox_without_an_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: str
) -> None:
    """warehouse=snowflake|bigquery|databricks with no account: lint, typecheck and tests pass (the tests check the
    SQL the pipeline sends and `dbt parse` every target); the dbt session, which builds on the warehouse, is not run,
    and the integration tests skip, naming the variable to set."""
    project = bake(tmp_path, warehouse=warehouse, container="no")
    for name in [name for name in os.environ if name.startswith(ACCOUNT_PREFIXES)]:
        monkeypatch.delenv(name)
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=tmp_path / "tmp")
    output = result.stdout + result.stderr
    assert result.returncode == 0
    for session in ("lint", "typecheck", "tests"):
        assert re.search(rf"\* {session}: success", output), session
    assert "* dbt" not in output
    assert "dbt's unit tests skipped" in output


def test_a_spark_bake_passes_its_own_nox(tmp_path: Path) -> None:
    """warehouse=spark with the example: its nox is green (the tests share one throwaway Spark Connect server, the
    dbt session runs Spark in local mode, one JVM per pipeline command), including the DuckDB-and-Spark same-marts
    test and the write-audit-publish faults; the integration tests left out on Spark are listed as skipped with
    their reason (`--spark-full` runs them); Spark's leftovers stay in git-ignored folders."""
    if not shutil.which("java"):
        pytest.fail("no Java: install a JRE 17 (`apt-get install openjdk-17-jre-headless`; .ci/run does)")
    project = bake(tmp_path, warehouse="spark", container="no")
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=tmp_path / "tmp")
    output = result.stdout + result.stderr
    assert result.returncode == 0
    for session in ("lint", "typecheck", "tests", "dbt"):
        assert re.search(rf"\* {session}: success", output), session
    assert "SKIPPED" in output and "slow on Spark" in output and "--spark-full" in output
    assert porcelain(project) == ""


def baked_readme_commands(project: Path) -> list[str]:
    """Every command line of every bash block of a baked README, without its trailing comment."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in readme.split("```bash")[1:]]
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_readme_command_passes_and_leaves_git_status_clean(tmp_path: Path) -> None:
    """A newcomer copies the README's commands one by one into a fresh bake: each passes, nothing is left to commit.

    uv.lock is committed at bake time, so no `uv` command writes it; bytecode is compiled once, by the first
    `uv sync --compile-bytecode`, never again by a `uv run`; and the default `nox` is green.
    """
    project = bake(tmp_path)
    assert (project / "uv.lock").is_file() and porcelain(project) == ""
    commands = baked_readme_commands(project)
    assert "uvx nox" in commands and any(command.startswith("uv sync") for command in commands), commands
    for command in commands:
        if command == "pip install uv":  # uv is already here: it runs this suite
            continue
        result = run(command, cwd=project, temp=tmp_path / "tmp", newcomer=True)
        assert result.returncode == 0, command
        output = result.stdout + result.stderr
        if command.startswith("uv run"):
            assert "Bytecode compiled" not in output, f"`{command}` recompiled bytecode"
        if command == "uvx nox":
            for session in ("lint", "typecheck", "tests", "dbt"):
                assert re.search(rf"\* {session}: success", output), session
        assert porcelain(project) == "", f"`{command}` left the work tree dirty"


def readme_command(index: int) -> str:
    """The README's copy-paste set-up lines: the first two lines of the first bash block."""
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line for line in block.strip().splitlines() if line and not line.startswith("#")]
    return lines[index]


def test_the_readme_quickstart_bakes_and_runs_the_value_pipeline(tmp_path: Path) -> None:
    clone = tmp_path / "cookiecutter-dataops"
    shutil.copytree(TEMPLATE, clone, ignore=shutil.ignore_patterns(".git", ".nox", ".venv", "__pycache__", ".*_cache"))
    command = readme_command(0)
    assert command.startswith("pip install uv && ")
    # uv is already here (it runs this suite); the rest of the line runs exactly as written.
    result = run(command.removeprefix("pip install uv && "), cwd=clone, temp=tmp_path / "tmp")
    assert result.returncode == 0
    assert re.search(r"Run summary \(dev__\w+\): PUBLISHED", result.stdout), result.stdout[-3000:]
    marts = dict(re.findall(r"mart\s+(\w+)\s+([\d,]+) rows", result.stdout))
    assert marts and all(int(rows.replace(",", "")) > 0 for rows in marts.values()), marts
    assert os.path.isdir(tmp_path / "shop-analytics" / "warehouse")


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (TEMPLATE / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_command(1) in ci


def test_a_raw_file_added_with_add_source_goes_green_in_an_empty_bake(tmp_path: Path) -> None:
    """Issue 8's adoption path, no hand edits: a raw CSV -> `add-source` -> `run --env dev` -> `nox` green."""
    project = bake(tmp_path, include_example="no")
    raw = project / "data" / "raw" / "crm"
    raw.mkdir(parents=True)
    (raw / "accounts.csv").write_text(
        "account_id,Opened At,balance,note\n1,2025-01-01 10:00:00,10.5,a\n2,2025-01-02 11:00:00,3.25,\n",
        encoding="utf-8",
    )
    temp = tmp_path / "tmp"
    added = run(["uv", "run", "shop-analytics", "add-source", "data/raw/crm/accounts.csv"], cwd=project, temp=temp)
    assert added.returncode == 0
    assert "stg_crm__accounts.sql" in added.stdout
    ran = run(["uv", "run", "shop-analytics", "run", "--env", "dev"], cwd=project, temp=temp)
    assert ran.returncode == 0
    assert "2 rows loaded, 0 quarantined" in ran.stdout
    assert "unused configuration paths" not in ran.stdout + ran.stderr
    # What add-source wrote and the raw file, as a user commits them (lint sees tracked files only).
    subprocess.run(["git", "add", "models", "data"], cwd=project, check=True, env=git_env())
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=temp)
    assert result.returncode == 0
    for session in ("lint", "typecheck", "tests", "dbt"):
        assert re.search(rf"\* {session}: success", result.stdout + result.stderr), session


DROPIN_PROJECT = Path(__file__).parent / "dropin_project"


def test_an_existing_dbt_project_dropped_into_an_empty_bake_goes_green(tmp_path: Path) -> None:
    """Issue 8's second adoption path: a dbt project written as public ones are, with no template edit.

    tests/dropin_project is a jaffle-shop-style project: sources in `.yaml` with an `identifier:` unlike the table
    name, marts without column lists, a dispatched macro, an incremental mart with the usual `is_incremental()`
    filter and a unit test of its incremental run on `this`, unit tests, a snapshot block, a singular data test.
    It is copied in as the baked README's "Bringing an existing dbt project" says, then run, its contract warnings
    followed for one mart, committed and checked: `nox` (CI=true) is green and leaves nothing to commit.
    """
    project = bake(tmp_path, include_example="no")
    readme = (project / "README.md").read_text(encoding="utf-8")
    steps = readme.split("**Bringing an existing dbt project.**", 1)[1].split("\n## ", 1)[0]
    fix = "uv run sqlfluff fix models macros data_tests"
    assert fix in steps and "`data_tests/`" in steps and "`snapshots/`" in steps, steps
    shutil.copytree(DROPIN_PROJECT, project, dirs_exist_ok=True)
    temp = tmp_path / "tmp"
    fixed = run(fix.split(), cwd=project, temp=temp)  # the house SQL layout, as the README says
    assert fixed.returncode == 0
    ran = run(["uv", "run", "shop-analytics", "run", "--env", "dev"], cwd=project, temp=temp)
    assert ran.returncode == 0
    assert re.search(r"Run summary \(dev__\w+\): PUBLISHED", ran.stdout), ran.stdout[-3000:]
    assert "82 rows loaded, 0 quarantined" in ran.stdout  # 12 customers, 30 orders, 40 payments
    marts = dict(re.findall(r"mart\s+(\w+)\s+([\d,]+) rows", ran.stdout))
    assert marts == {"dim_customers": "12", "fct_orders": "30", "fct_payments": "40"}, marts
    # Marts without a column list build; each is a warning naming it and the command that writes its contract.
    for mart in marts:
        assert re.search(rf"warn +\[output\] contract of {mart}: .*`shop-analytics contract {mart}`", ran.stdout), mart
    wrote = run(["uv", "run", "shop-analytics", "contract", "fct_orders"], cwd=project, temp=temp)
    assert wrote.returncode == 0
    assert "wrote the contract of fct_orders (13 columns) to models/marts/core/_core__models.yaml" in wrote.stdout
    git_in_project = ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com"]
    subprocess.run([*git_in_project, "add", "-A"], cwd=project, check=True, env=git_env())
    subprocess.run([*git_in_project, "commit", "-qm", "Our dbt project"], cwd=project, check=True, env=git_env())
    result = run([sys.executable, "-m", "nox"], cwd=project, temp=temp)
    assert result.returncode == 0
    output = result.stdout + result.stderr
    for session in ("lint", "typecheck", "tests", "dbt"):
        assert re.search(rf"\* {session}: success", output), session
    # The dbt session enforces fct_orders' new contract and still warns about the two other marts.
    warned = set(re.findall(r"warn +\[output\] contract of (\w+):", output))
    assert warned == {"dim_customers", "fct_payments"}, warned
    assert porcelain(project) == ""
