"""The default bake's step image, built and run for real: `nox -s container` leaves the run report in reports/.

Slow (a cold image build downloads every dependency; a warm one reuses the engine's layer cache). It needs a
container engine that runs: where none does, it is skipped with the reason, except in CI (CI=true), where it fails.
The base image is $CONTAINER_BASE_IMAGE or $BASE_IMAGE; without either, a Debian bookworm with python3 is made once
with debootstrap and imported as BOOTSTRAPPED (kept by the engine, so later runs reuse it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from container_engine import engine_and_base
from test_baked_checks import run

from conftest import bake

pytestmark = pytest.mark.slow


def test_nox_container_builds_the_image_and_leaves_the_run_report_in_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session builds on the base image, runs `run` and `report` in it, then the baked container tests pass."""
    for name, value in engine_and_base().items():
        monkeypatch.setenv(name, value)
    project = bake(tmp_path)
    result = run([sys.executable, "-m", "nox", "-s", "container"], cwd=project, temp=tmp_path / "tmp")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    reports = sorted((project / "reports" / "ci").glob("*/report.json"))
    assert reports, f"no run report in the mounted reports/: {output[-3000:]}"
    assert "5 passed" in output  # the container tests ran against the image just built
