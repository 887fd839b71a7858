"""The README's layout tree is the project's real layout, for every option combination.

Nothing listed is missing; every top-level entry, every file of the package and every folder of models/,
data/ and macros/ that holds files is listed. A new module without its line in the tree fails here, by name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
BRANCH = re.compile(r"^(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>[^#]+?)\s*(?:#.*)?$")


def tree_paths(readme: str) -> set[str]:
    """Every path the ```text tree under "## Layout" names, folders without their slash."""
    block = readme.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    stack: list[str] = []
    paths = set()
    for line in block.splitlines():
        match = BRANCH.match(line)
        if not match:
            continue
        depth = len(match["indent"]) // 4
        stack[depth:] = [match["name"].rstrip("/")]
        paths.add("/".join(stack))
    return paths


def tracked_files() -> list[str]:
    """Files git tracks; outside a git checkout, every file but the ignored folders."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    if out.strip():
        return out.split()
    skip = {".git", ".nox", ".venv", "target", "logs", "warehouse", "__pycache__"}
    return [
        str(p.relative_to(PROJECT_DIR))
        for p in PROJECT_DIR.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(PROJECT_DIR).parts)
    ]


def test_every_path_in_the_tree_exists() -> None:
    listed = tree_paths((PROJECT_DIR / "README.md").read_text(encoding="utf-8"))
    assert listed, "the README has no layout tree"
    missing = sorted(path for path in listed if not (PROJECT_DIR / path).exists())
    assert not missing, f"the README's layout tree lists what this project lacks: {', '.join(missing)}"


# dbt's resource folders besides those the project starts with: a team's own dbt code (snapshots, seeds,
# analyses) goes there without a line in the tree, since dbt_project.yml already says what they hold.
DBT_FOLDERS = ("snapshots", "seeds", "analyses")
DBT_PATH_KEYS = ("model-paths", "seed-paths", "snapshot-paths", "analysis-paths", "macro-paths", "test-paths")


def dbt_folders() -> set[str]:
    """The top-level folders dbt reads code from: dbt_project.yml's `*-paths`, and dbt's defaults."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    named = {str(path).split("/")[0] for key in DBT_PATH_KEYS for path in project.get(key) or []}
    return named | set(DBT_FOLDERS)


def test_every_top_level_entry_is_in_the_tree() -> None:
    listed = tree_paths((PROJECT_DIR / "README.md").read_text(encoding="utf-8"))
    top_level = {path.split("/")[0] for path in tracked_files()}
    missing = sorted(top_level - {path.split("/")[0] for path in listed} - dbt_folders())
    assert not missing, f"add to the README's layout tree: {', '.join(missing)}"


def test_every_file_of_the_package_is_in_the_tree() -> None:
    listed = tree_paths((PROJECT_DIR / "README.md").read_text(encoding="utf-8"))
    package = {path for path in tracked_files() if path.startswith("src/")}
    assert package, "no package files found under src/"
    missing = sorted(package - listed)
    assert not missing, f"add to the README's layout tree: {', '.join(missing)}"


# Folders whose inner layout the tree describes (the others are listed as one line).
DESCRIBED = ("models", "data", "macros")


def test_every_folder_holding_files_in_models_data_and_macros_is_in_the_tree() -> None:
    """Files right inside models/, data/ or macros/ (a project's own macros, a schema.yml) are fine: the
    folder's own line describes them; a subfolder needs its line."""
    listed = tree_paths((PROJECT_DIR / "README.md").read_text(encoding="utf-8"))
    inner = [path for path in listed if "/" in path]
    unlisted = sorted(
        path
        for path in tracked_files()
        if path.split("/")[0] in DESCRIBED
        and path.count("/") > 1
        and not any(path.startswith(f"{folder}/") for folder in inner)
    )
    assert not unlisted, f"list their folders in the README's layout tree: {', '.join(unlisted)}"


def test_the_tree_parser_reads_nesting() -> None:
    readme = "## Layout\n```text\n.\n├── a/   # x\n│   └── b.py\n└── c\n```\n"
    assert tree_paths(readme) == {"a", "a/b.py", "c"}


def warehouse_settings() -> tuple[str, set[str]]:
    """profiles.yml's adapter type and the variables its prod target reads, but DBT_SCHEMA (the CLI sets it) and
    DBT_THREADS."""
    (profile,) = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")).values()
    prod = profile["outputs"]["prod"]
    names = set(re.findall(r"env_var\('(\w+)'", " ".join(str(value) for value in prod.values())))
    return str(prod["type"]), names - {"DBT_SCHEMA", "DBT_THREADS"}


def section(readme: str, title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_says_where_this_warehouse_builds() -> None:
    """The Environments section names every setting the prod target reads; a bake on another warehouse than
    DuckDB names no DuckDB file or variable anywhere (a Postgres bake's README once described DuckDB throughout)."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    warehouse, settings = warehouse_settings()
    environments = section(readme, "Environments")
    missing = sorted(name for name in settings if name not in environments)
    assert not missing, f"the README's Environments section does not name {', '.join(missing)}"
    if warehouse != "duckdb":
        leaks = sorted(set(re.findall(r"\S*\.duckdb\b|DBT_\w*DUCKDB\w*", readme)))
        assert not leaks, f"the README of a {warehouse} project names DuckDB's files or settings: {', '.join(leaks)}"


def test_the_quick_start_runs_where_a_newcomer_has_no_server() -> None:
    """On Postgres the quick start's pipeline command starts its own throwaway server (`nox -s pipeline`):
    a bare `run --env dev` fails with nothing listening on localhost:5432."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("```bash", 1)[1].split("```", 1)[0]
    runs = [line for line in quick_start.splitlines() if "run --env dev" in line]
    assert runs, "the quick start runs no pipeline"
    if warehouse_settings()[0] == "postgres":
        assert all(line.startswith("uvx nox -s pipeline -- ") for line in runs), runs


def test_uv_lock_is_the_one_committed_lock() -> None:
    """`uv run` and nox install from the committed uv.lock: none of them writes a lock the first commit lacks."""
    files = tracked_files()
    assert "uv.lock" in files, "commit uv.lock (`uv lock` writes it)"
    assert not [path for path in files if path.startswith("requirements") and path != "requirements.in"]


# What the README's commands write into the project: virtualenvs, warehouses, dbt artifacts, run reports.
WRITTEN_BY_COMMANDS = (".venv/bin/python", ".nox/tests/bin/python", "warehouse/dev__main.duckdb", "target/ci/x.json",
                       "logs/dbt.log", "reports/ci/run/report.json", "mutants/src/x.py")  # fmt: skip


def test_what_the_readme_commands_write_is_ignored_by_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *WRITTEN_BY_COMMANDS],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode == 128:  # git: "not a repository", a copy outside git (mutmut's)
        pytest.skip("not a git checkout")
    assert sorted(result.stdout.split()) == sorted(WRITTEN_BY_COMMANDS)
