"""Finish the baked project: prune what the options turned off, pick the license, make the first commit.

Cookiecutter renders this file with Jinja and runs it inside the new project. `ANSWERS` is the only
rendered line; before rendering the file is still importable Python, so the tests import it and call
each function on a temporary tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ANSWERS = r"""{{ cookiecutter | jsonify }}"""

# (option, value) -> paths, relative to the project root, removed when that answer is given.
# `{package}` stands for package_name. A listed path that does not exist is skipped.
REMOVE_PATHS: dict[tuple[str, str], list[str]] = {
    ("container", "no"): ["Dockerfile", ".dockerignore", "tests/test_dockerfile.py", ".github/workflows/container.yml"],
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
        "tests/test_sample_data.py",
        "tests/test_pipeline.py",
        "tests/test_branches.py",
        "tests/test_dbt_checks.py",
        "tests/test_wap.py",
        "tests/test_backfill.py",
    ],
}
LICENSES_DIR = "licenses"
COMMIT_MESSAGE = "Initial commit from cookiecutter-dataops"


def paths_to_remove(answers: Mapping[str, Any]) -> list[str]:
    """Return the relative paths the answers turn off, with the package name filled in."""
    package = str(answers.get("package_name", ""))
    return [
        path.format(package=package)
        for (option, value), paths in REMOVE_PATHS.items()
        if str(answers.get(option)) == value
        for path in paths
    ]


def prune(root: Path, relative_paths: Iterable[str]) -> list[Path]:
    """Remove each path under root, then keep every emptied folder in git with a `.gitkeep`."""
    removed = []
    for relative in relative_paths:
        path = root / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
    for parent in {path.parent for path in removed}:
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            (parent / ".gitkeep").touch()
    return removed


def promote_license(root: Path, license_name: str) -> Path:
    """Move the chosen license text to LICENSE and drop the variants."""
    target = root / "LICENSE"
    (root / LICENSES_DIR / license_name).replace(target)
    shutil.rmtree(root / LICENSES_DIR)
    return target


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
    root = Path.cwd()
    prune(root, paths_to_remove(answers))
    promote_license(root, answers["license"])
    initial_commit(root, answers)
    print(next_step(answers["project_slug"]))


if __name__ == "__main__":
    main()
