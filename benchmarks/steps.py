"""The benchmark suite's steps: commands timed in subprocesses, bakes, and the bake's own benchmarks.

A step that fails raises StepFailed with one line (the command, its exit code, the last line it printed); the suite
turns that into a "not measured" row rather than a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# Set by nox for the template's own session venv, or by a developer's shell: a `uv`/`nox` in a bake that inherits
# them installs into the wrong environment. CI=true would turn the bake's integration tests on in its default `nox`,
# which a newcomer's first `nox` does not run.
DROPPED = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "CI")
# cookiecutter-data-science's template: where `ccds` itself clones it (cookiecutter's clone cache, on a machine that
# reaches GitHub), unless --ccds-template or $CCDS_TEMPLATE names a local copy.
CCDS_CACHE = Path("~/.cookiecutters/cookiecutter-data-science").expanduser()


class StepFailed(Exception):
    """A measured command failed or could not start; the message is one line for the table."""


def clean_env(scratch: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run in a bake: this one less DROPPED, TMPDIR in `scratch`, plus `extra`.

    Nested pytest runs prune the oldest `pytest-N` folders of their TMPDIR: they get their own, under `scratch`.
    """
    tmp = scratch / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name not in DROPPED}
    return {**env, "TMPDIR": str(tmp), "UV_COMPILE_BYTECODE": "1", **extra}


def run(command: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[float, str]:
    """Run `command`; return (wall seconds, its stdout). Raises StepFailed when it exits non-zero or cannot start."""
    started = time.perf_counter()
    try:
        result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except OSError as error:
        raise StepFailed(f"`{Path(command[0]).name}` could not start ({error.strerror})") from error
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        printed = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
        # nox's own closing lines ("nox > Session x failed.") say less than the command's last words above them.
        said = [line for line in printed if not line.startswith("nox >")] or printed
        last = said[-1][:200] if said else "no output"
        shown = " ".join([Path(command[0]).name, *command[1:5]]) + (" …" if len(command) > 5 else "")
        raise StepFailed(f"`{shown}` exited {result.returncode}: {last}")
    return seconds, result.stdout


def tool(name: str) -> str | None:
    """The path of console script `name`: beside this interpreter (the nox session's venv) first, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.is_file() else shutil.which(name)


def bake_ours(template: Path, output: Path, env: Mapping[str, str]) -> tuple[float, Path]:
    """`cookiecutter --no-input` of `template` into `output` (a new folder): (seconds, the project folder).

    The time includes our post-generation hook: pruning, `uv lock` and the first git commit.
    """
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(template), "--output-dir", str(output)]
    seconds, _ = run(command, env=env)
    projects = [path for path in output.iterdir() if path.is_dir()]
    if len(projects) != 1:
        raise StepFailed(f"the bake in {output} made {len(projects)} folders, not one project")
    return seconds, projects[0]


def ccds_template(given: str | None) -> tuple[str | None, str]:
    """Where to bake cookiecutter-data-science from, and how the table's note says it: (template or None, note).

    `given` (--ccds-template, else $CCDS_TEMPLATE) wins; else the clone `ccds` left in cookiecutter's cache; else
    None: the PyPI package (wheel and sdist alike) ships only its `ccds` command, which clones the template from
    GitHub, so without either the suite tries that once and reports why it could not.
    """
    chosen = given or os.environ.get("CCDS_TEMPLATE")
    if chosen:
        return chosen, f"cookiecutter-data-science baked from the local template {chosen}"
    if (CCDS_CACHE / "ccds.json").is_file() or (CCDS_CACHE / "cookiecutter.json").is_file():
        return str(CCDS_CACHE), f"cookiecutter-data-science baked from ccds's cached clone {CCDS_CACHE}"
    return None, "cookiecutter-data-science: `ccds` (PyPI) ships no template and clones it from GitHub"


def bake_ccds(template: str | None, output: Path, env: Mapping[str, str]) -> float:
    """`ccds --no-input [template] -o output`: seconds. Raises StepFailed without `ccds` or when it fails."""
    ccds = tool("ccds")
    if ccds is None:
        raise StepFailed("`ccds` is not installed (the `benchmark` dependency group has cookiecutter-data-science)")
    seconds, _ = run([ccds, "--no-input", *([template] if template else []), "-o", str(output)], env=env)
    return seconds


def nox_in(project: Path, *args: str, env: Mapping[str, str]) -> tuple[float, str]:
    """`nox ARGS` in `project` with this interpreter's nox: (seconds, stdout). Raises StepFailed when it fails."""
    return run([sys.executable, "-m", "nox", *args], cwd=project, env=env)


def baked_benchmark(project: Path, name: str, args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run the bake's `benchmarks/<name>.py` through its `nox -s benchmark -- name ARGS`; return its stdout.

    Raises StepFailed when the bake has no such script or it fails.
    """
    if not (project / "benchmarks" / f"{name}.py").is_file():
        raise StepFailed(f"the bake has no benchmarks/{name}.py")
    _, output = nox_in(project, "-s", "benchmark", "--", name, *args, env=env)
    return output
