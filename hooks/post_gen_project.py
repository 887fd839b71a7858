"""Finish the baked project: prune what the options turned off, pick the license, make the first commit.

Cookiecutter renders this file with Jinja and runs it inside the new project. `ANSWERS` and `TEMPLATE`
are the only rendered lines; before rendering the file is still importable Python, so the tests import
it and call each function on a temporary tree.

Re-baking with `--overwrite-if-exists` writes over a project that may hold the user's own files, so
nothing here removes a file the template does not ship: pruning and the license clean-up delete only
paths listed by `written_files`, and a pruned folder that still holds other files is kept and named.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

ANSWERS = r"""{{ cookiecutter | jsonify }}"""
# Where the template is: cookiecutter's `_repo_dir`, relative to where cookiecutter started when given
# as such, and the folder of local_extensions.py. A JSON list ends in `]`: valid inside the raw string.
TEMPLATE = r"""{{ [cookiecutter._repo_dir, template_dir | default('')] | jsonify }}"""
# The template's folder names as they are on disk, kept from rendering: {% raw %}
PROJECT_FOLDER = "{{cookiecutter.project_slug}}"
PACKAGE_FOLDER = "{{cookiecutter.package_name}}"
# {% endraw %}

# (option, value) -> paths, relative to the project root, removed when that answer is given.
# `{package}` stands for package_name. A listed path that does not exist is skipped.
REMOVE_PATHS: dict[tuple[str, str], list[str]] = {
    ("container", "no"): [
        "Dockerfile",
        ".dockerignore",
        "tests/test_dockerfile.py",
        "tests/test_container.py",
        "benchmarks/container.py",
        ".github/workflows/container.yml",
        "compose.yaml",
        "deploy",
        "tests/test_run_contract.py",
    ],
    ("include_example", "no"): [
        "models/staging/shop",
        "models/intermediate/sales",
        "models/marts/sales",
        "data_tests/assert_order_payments_match_net_amount.sql",
        "data_tests/assert_daily_revenue_reconciles_with_orders.sql",
        "data/raw/sample",
        "data/reference",
        "src/{package}/generate.py",
        "tests/test_generate.py",
        "benchmarks/generate.py",
        "tests/test_sample_data.py",
        "tests/test_pipeline.py",
        "tests/test_branches.py",
        "tests/test_dbt_checks.py",
        "tests/test_wap.py",
        "tests/test_backfill.py",
        "benchmarks/ingest.py",
        "tests/test_postgres_example.py",
        "tests/test_spark_example.py",
        "benchmarks/spark.py",
        "benchmarks/warehouses.py",
    ],
}
# warehouse -> paths, relative to the project root, that only bakes of that warehouse keep: every other
# warehouse's bake removes them (a path two warehouses list stays in both). Read with REMOVE_PATHS.
WAREHOUSE_PATHS: dict[str, list[str]] = {
    "postgres": [
        "profiles.postgres.yml",
        "macros/privacy/mask_pii_postgres.sql",
        "macros/microbatch_postgres.sql",
        "src/{package}/warehouses/postgres.py",
        "src/{package}/warehouses/postgres_server.py",
        "tests/test_postgres_warehouse.py",
        "tests/test_postgres.py",
        "tests/test_postgres_example.py",
        "benchmarks/warehouses.py",
    ],
    "snowflake": [
        "profiles.snowflake.yml",
        "src/{package}/warehouses/cloud.py",
        "src/{package}/warehouses/snowflake.py",
        "tests/test_cloud_warehouse.py",
    ],
    "bigquery": [
        "profiles.bigquery.yml",
        "src/{package}/warehouses/cloud.py",
        "src/{package}/warehouses/bigquery.py",
        "tests/test_cloud_warehouse.py",
    ],
    "databricks": [
        "profiles.databricks.yml",
        "src/{package}/warehouses/cloud.py",
        "src/{package}/warehouses/databricks.py",
        "tests/test_cloud_warehouse.py",
    ],
    "spark": [
        "profiles.spark.yml",
        "macros/privacy/mask_pii_spark.sql",
        "src/{package}/warehouses/spark.py",
        "src/{package}/warehouses/spark_server.py",
        "tests/test_spark.py",
        "tests/test_spark_example.py",
        "benchmarks/spark.py",
    ],
}
# (option, value) -> {variant: path}: the variant file, written beside the file it stands for, replaces it
# when that answer is given (and is removed, as REMOVE_PATHS says, when another is).
PROMOTE_PATHS: dict[tuple[str, str], dict[str, str]] = {
    ("warehouse", "postgres"): {"profiles.postgres.yml": "profiles.yml"},
    ("warehouse", "snowflake"): {"profiles.snowflake.yml": "profiles.yml"},
    ("warehouse", "bigquery"): {"profiles.bigquery.yml": "profiles.yml"},
    ("warehouse", "databricks"): {"profiles.databricks.yml": "profiles.yml"},
    ("warehouse", "spark"): {"profiles.spark.yml": "profiles.yml"},
}
LICENSES_DIR = "licenses"
COMMIT_MESSAGE = "Initial commit from cookiecutter-dataops"


def template_folder(template: str) -> Path:
    """Return the template folder from the TEMPLATE line: `_repo_dir` if absolute, else local_extensions' folder."""
    repo_dir, extension_dir = json.loads(template)
    return Path(repo_dir) if Path(repo_dir).is_absolute() or not extension_dir else Path(extension_dir)


def paths_to_remove(answers: Mapping[str, Any]) -> list[str]:
    """Return the relative paths the answers turn off (REMOVE_PATHS, other warehouses' WAREHOUSE_PATHS), once each.

    The package name is filled in.
    """
    package = str(answers.get("package_name", ""))
    warehouse = answers.get("warehouse")  # None in answers without one: no warehouse's files are pruned
    kept = set(WAREHOUSE_PATHS.get(str(warehouse), []))
    others = [
        path
        for name, paths in WAREHOUSE_PATHS.items()
        if warehouse is not None and name != warehouse
        for path in paths
        if path not in kept
    ]
    chosen = [
        path for (option, value), paths in REMOVE_PATHS.items() if str(answers.get(option)) == value for path in paths
    ]
    return [path.format(package=package) for path in dict.fromkeys(chosen + others)]


def written_files(template_dir: Path, package: str) -> frozenset[str]:
    """Return the project-relative paths (POSIX) of every file the template writes, the package folder named.

    Reads the template's project folder; raises OSError when it is not there.
    """
    source = template_dir / PROJECT_FOLDER
    if not source.is_dir():
        raise FileNotFoundError(f"no {PROJECT_FOLDER} folder in {template_dir}")
    return frozenset(
        path.relative_to(source).as_posix().replace(PACKAGE_FOLDER, package)
        for path in source.rglob("*")
        if path.is_file() or path.is_symlink()
    )


def remove_written(root: Path, relative: str, written: Collection[str]) -> tuple[bool, list[str]]:
    """Remove the files the template wrote at or under `relative`, then the folders that emptied.

    Returns whether `relative` itself is gone, and the files left under it that the template did not write.
    """
    path = root / relative
    if path.is_symlink() or path.is_file():
        if relative not in written:
            return False, [relative]
        path.unlink()
        return True, []
    if not path.is_dir():
        return False, []
    kept = []
    for child in sorted(path.rglob("*"), key=lambda item: len(item.parts), reverse=True):
        name = child.relative_to(root).as_posix()
        if child.is_symlink() or child.is_file():
            if name in written:
                child.unlink()
            else:
                kept.append(name)
        elif child.is_dir() and not any(child.iterdir()):
            child.rmdir()
    if any(path.iterdir()):
        return False, sorted(kept)
    path.rmdir()
    return True, []


def prune(root: Path, relative_paths: Iterable[str], written: Collection[str]) -> list[Path]:
    """Remove each path under root that the template wrote, then keep every emptied folder with a `.gitkeep`.

    A file the template did not write is never removed: its folder stays, and one line names what was kept.
    """
    removed = []
    kept: list[str] = []
    for relative in relative_paths:
        gone, left = remove_written(root, relative, written)
        kept += left
        if gone:
            removed.append(root / relative)
    for parent in {path.parent for path in removed}:
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            (parent / ".gitkeep").touch()
    report_kept(kept)
    return removed


def promote(root: Path, answers: Mapping[str, Any], written: Collection[str]) -> list[Path]:
    """Move each variant file the answers pick (PROMOTE_PATHS) over the file it stands for; return the targets.

    A variant the template did not write (the user's own file of that name) is left where it is.
    """
    promoted = []
    for (option, value), variants in PROMOTE_PATHS.items():
        if str(answers.get(option)) != value:
            continue
        for variant, target in variants.items():
            if variant in written and (root / variant).is_file():
                (root / variant).replace(root / target)
                promoted.append(root / target)
    return promoted


def report_kept(kept: list[str]) -> None:
    """Say in one line which files of the user's were left in folders the answers turned off."""
    if kept:
        print(f"kept your own files in folders this bake leaves out: {', '.join(kept)}; delete them if unwanted.")


def promote_license(root: Path, license_name: str, written: Collection[str]) -> Path:
    """Move the chosen license text to LICENSE and drop the variants the template wrote."""
    target = root / "LICENSE"
    (root / LICENSES_DIR / license_name).replace(target)
    _, kept = remove_written(root, LICENSES_DIR, written)
    report_kept(kept)
    return target


def lock(root: Path, python: str | None = None) -> bool:
    """Write uv.lock, the project's one lock, so the first commit holds it; report and carry on when uv cannot.

    The lock is universal: uv resolves it with any installed Python that meets requires-python, and downloads
    the newest one when none does. `python` (the answer python_version, e.g. "3.12", the lowest supported) is
    named in the message when the lock fails. Without uv, or without an index or such a Python (offline), the
    project is generated without uv.lock: one line says to run `uv lock` and commit it (the nox sessions, CI and
    the image refuse to install without it).
    """
    uv = shutil.which("uv")
    if uv is None:
        print("uv not found: skipped `uv lock`; install uv, run `uv lock` and commit uv.lock.", file=sys.stderr)
        return False
    result = subprocess.run([uv, "lock", "--quiet"], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return True
    reason = " ".join(result.stderr.split())[-300:] or f"exit status {result.returncode}"
    where = f" where Python {python} or newer is installed" if python else ""
    print(f"uv lock failed ({reason}); run `uv lock`{where} and commit uv.lock.", file=sys.stderr)
    return False


def git(root: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one git command in root and capture its output."""
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False)


def identity_env(root: Path, answers: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Return environ plus the author as git identity, for whichever of name and email git lacks."""
    env = dict(environ)
    for key, field in (("name", "author_name"), ("email", "author_email")):
        if git(root, "config", f"user.{key}", env=env).returncode != 0:
            env.setdefault(f"GIT_AUTHOR_{key.upper()}", str(answers[field]))
            env.setdefault(f"GIT_COMMITTER_{key.upper()}", str(answers[field]))
    return env


def git_step(root: Path, *args: str, env: Mapping[str, str] | None = None) -> bool:
    """Run one git command; on failure say which, and why, in one line."""
    result = git(root, *args, env=env)
    if result.returncode == 0:
        return True
    command = next(arg for arg in args if not arg.startswith("-") and "=" not in arg)
    reason = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
    print(
        f"git {command} failed ({reason}); the project is generated, commit it yourself.",
        file=sys.stderr,
    )
    return False


def initial_commit(root: Path, answers: Mapping[str, Any]) -> bool:
    """Make the project its own repository with one commit; report and carry on when git cannot.

    A project baked inside another work tree still gets its own repository (git nests it and the
    outer repository sees one untracked folder). A folder that already is a repository, as when
    re-baking with --overwrite-if-exists, is left alone rather than given a surprise commit.
    """
    if shutil.which("git") is None:
        print(
            "git not found: skipped `git init`; the project is generated without a repository.",
            file=sys.stderr,
        )
        return False
    if (root / ".git").exists():
        print(f"git: {root} is already a repository; left its history as it is.")
        return False
    if not git_step(root, "init", "-q", "-b", "main"):
        return False
    # Looked up after `init`, so that the new repository's own config is the one that counts.
    env = identity_env(root, answers, os.environ)
    return git_step(root, "add", "-A", env=env) and git_step(
        root,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "--no-verify",
        "-m",
        COMMIT_MESSAGE,
        env=env,
    )


def next_step(slug: str) -> str:
    """Return the one line that tells the user what to run next."""
    return f"Created {slug}: cd {slug} && uvx nox"


def main() -> None:
    """Shape the project cookiecutter just wrote into the current directory."""
    answers = json.loads(ANSWERS)
    template_dir = template_folder(TEMPLATE)
    root = Path.cwd()
    try:
        written = written_files(template_dir, str(answers["package_name"]))
    except OSError as error:
        print(
            f"cannot list the template's files ({error}); bake from a complete copy of the template.", file=sys.stderr
        )
        sys.exit(1)
    promote(root, answers, written)
    prune(root, paths_to_remove(answers), written)
    promote_license(root, answers["license"], written)
    lock(root, str(answers.get("python_version", "")) or None)
    initial_commit(root, answers)
    print(next_step(answers["project_slug"]))


if __name__ == "__main__":
    main()
