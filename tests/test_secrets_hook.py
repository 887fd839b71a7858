"""The baked project's detect-secrets hook, run as its pre-commit config says: an accepted finding stays accepted.

The hook comes from PyPI at the version the config pins (`uv tool run`), on the files pre-commit would give it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import bake, git

FINDING = 'API_PASSWORD = "hunter2isnotgood"\n'
PRAGMA = "  # pragma: allowlist secret"


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed; it comes with the template's test dependency group")
    return found


def secrets_hook(project: Path) -> tuple[list[str], re.Pattern[str]]:
    """The hook's command line (its pinned package run through uv) and its exclude pattern."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hook = next(hook for repo in config["repos"] for hook in repo["hooks"] if hook["id"] == "detect-secrets")
    [pin] = hook["additional_dependencies"]
    return [uv(), "tool", "run", "--from", pin, *shlex.split(hook["entry"])], re.compile(hook.get("exclude", "^$"))


def run_hook(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook on every file in the project, tracked or not, that its exclude lets through."""
    command, exclude = secrets_hook(project)
    files = git(project, "ls-files", "--cached", "--others", "--exclude-standard").split()
    chosen = [name for name in files if not exclude.search(name)]
    return subprocess.run([*command, *chosen], cwd=project, capture_output=True, text=True, check=False)


def accept_finding(project: Path, path: Path) -> None:
    """Accept the finding the way the project's config says: in a baseline if it uses one, else inline."""
    command, _ = secrets_hook(project)
    if "--baseline" in command:
        baseline = command[command.index("--baseline") + 1]
        scan = [*command[:-2], "--baseline", baseline]
        scan[scan.index("detect-secrets-hook")] = "detect-secrets"
        scan.insert(scan.index("detect-secrets") + 1, "scan")
        git(project, "add", "-A")  # `detect-secrets scan` reads the files git tracks
        subprocess.run(scan, cwd=project, capture_output=True, check=True)
    else:
        path.write_text(FINDING.rstrip("\n") + PRAGMA + "\n", encoding="utf-8")


def files_of(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


def test_lines_added_above_an_accepted_finding_never_fail_the_hook(tmp_path: Path) -> None:
    """It flags a new secret, passes once it is accepted, and stays green, touching nothing, as lines move."""
    project = bake(tmp_path)
    settings = project / "settings_example.py"
    settings.write_text(FINDING, encoding="utf-8")

    flagged = run_hook(project)
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "settings_example.py:1" in flagged.stdout

    accept_finding(project, settings)
    git(project, "add", "-A")
    accepted = run_hook(project)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    settings.write_text("# Settings for the example.\n\n" + settings.read_text(encoding="utf-8"), encoding="utf-8")
    before = files_of(project)
    moved = run_hook(project)

    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert files_of(project) == before
