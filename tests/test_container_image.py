"""The default bake's step image, built and run for real: `nox -s container` leaves the run report in reports/.

Slow (a cold image build downloads every dependency; a warm one reuses the engine's layer cache). It needs a
container engine that runs: where none does, it is skipped with the reason, except in CI (CI=true), where it fails.
The base image is $CONTAINER_BASE_IMAGE or $BASE_IMAGE; without either, a Debian bookworm with python3 is made once
with debootstrap and imported as BOOTSTRAPPED (kept by the engine, so later runs reuse it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from test_baked_checks import run

from conftest import bake

pytestmark = pytest.mark.slow

BOOTSTRAPPED = "localhost/bookworm-python:3.11"
DEBOOTSTRAP = [
    "debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm",
]  # fmt: skip
MIRROR = "http://deb.debian.org/debian"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def no_engine(reason: str) -> None:
    """Skip, saying why; in CI fail instead, since a skipped image test there would pass silently."""
    if in_ci():
        pytest.fail(f"{reason}: CI must build and run the step image; `.ci/run` installs podman and runc")
    pytest.skip(f"{reason}; install podman and runc (or start Docker) to build and run the step image")


def engine_command() -> str:
    """$CONTAINER_ENGINE, else the first of docker and podman whose `info` answers."""
    chosen = os.environ.get("CONTAINER_ENGINE")
    if chosen:
        return chosen
    for engine in ("docker", "podman"):
        if shutil.which(engine) and subprocess.run([engine, "info"], capture_output=True, check=False).returncode == 0:
            return engine
    no_engine("no container engine answers `docker info` or `podman info` here")
    raise AssertionError("unreachable")  # pragma: no cover


def base_image(engine: str) -> str:
    """The image to build on: given, or BOOTSTRAPPED, made with debootstrap when the engine does not have it yet."""
    given = os.environ.get("CONTAINER_BASE_IMAGE") or os.environ.get("BASE_IMAGE")
    if given:
        return given
    if subprocess.run([engine, "image", "inspect", BOOTSTRAPPED], capture_output=True, check=False).returncode == 0:
        return BOOTSTRAPPED
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        no_engine("no base image given (CONTAINER_BASE_IMAGE) and debootstrap cannot make one (needs it, as root)")
    with tempfile.TemporaryDirectory(prefix="bookworm-") as root:
        made = subprocess.run([*DEBOOTSTRAP, root, MIRROR], capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([engine, "import", "-", BOOTSTRAPPED], stdin=tar.stdout, capture_output=True)
        tar.wait()
        assert imported.returncode == 0, imported.stderr.decode(errors="replace")
    return BOOTSTRAPPED


def test_nox_container_builds_the_image_and_leaves_the_run_report_in_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session builds on the base image, runs `run` and `report` in it, then the baked container tests pass."""
    engine = engine_command()
    monkeypatch.setenv("CONTAINER_ENGINE", engine)
    monkeypatch.setenv("BASE_IMAGE", base_image(engine))
    project = bake(tmp_path)
    result = run([sys.executable, "-m", "nox", "-s", "container"], cwd=project, temp=tmp_path / "tmp")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    reports = sorted((project / "reports" / "ci").glob("*/report.json"))
    assert reports, f"no run report in the mounted reports/: {output[-3000:]}"
    assert "5 passed" in output  # the container tests ran against the image just built
