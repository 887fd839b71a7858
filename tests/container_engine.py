"""A container engine and a base image for the template's image tests, or a skip that says why (a failure in CI).

Used by `test_container_image.py` and the workflow walk of `test_workflows_run.py`. The engine is $CONTAINER_ENGINE,
else the first of docker and podman whose `info` answers. The base image is $CONTAINER_BASE_IMAGE or $BASE_IMAGE;
without either, a Debian bookworm with python3 is made once with debootstrap (as root, ~45 s) and imported as
BOOTSTRAPPED, which the engine keeps, so later runs reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

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


def engine_and_base() -> dict[str, str]:
    """CONTAINER_ENGINE and BASE_IMAGE for a bake's `nox -s container`; skips (fails in CI) where none can run."""
    engine = engine_command()
    return {"CONTAINER_ENGINE": engine, "BASE_IMAGE": base_image(engine)}
