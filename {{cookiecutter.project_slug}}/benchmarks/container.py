"""What the step image costs: its size, a cold and a warm build, and the pipeline in the container against the host.

The pipeline (`run --env ci` on the committed sample) runs in turns on the host (this virtualenv's CLI, in a
throwaway copy of the project) and in the image (the run contract: read-only root, tmpfs, three mounted throwaway
folders), `--repeat` times each; the medians (with min and max: `_project.report`) and their ratio are printed side
by side. The engine is $CONTAINER_ENGINE (the nox session picks docker or podman, whichever answers `info`);
$BASE_IMAGE and $SSL_CERT_FILE are used as `nox -s container` uses them. The cold build (`--no-cache`) downloads
every dependency again. The runs use the warm build's image ID, and the tag (this run's own) is removed at the end:
another checkout building on the same engine can move a shared tag in between. Not a test: it prints figures, never
judges them. Run it with `nox -s benchmark -- container` (`--repeat 3` by default).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from _project import PACKAGE, PROJECT_DIR, copy_project, report

# This run's own tag: a shared one (`:benchmark`) could be moved, or removed, by a benchmark of another checkout.
IMAGE = f"{PACKAGE.replace('_', '-')}:benchmark-{secrets.token_hex(4)}"
CONTRACT = ("--rm", "--read-only", "--tmpfs=/tmp:rw,mode=1777", "--tmpfs=/app/logs:rw,mode=1777")
PIPELINE = ("run", "--env", "ci")


def timed(command: list[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds one command takes; exits with its output when it fails (a failed run's time means nothing)."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def build(engine: str, iidfile: Path, *extra: str) -> tuple[float, str]:
    """`engine build` of this project as `nox -s container` builds it, tagged IMAGE: seconds taken and the image ID."""
    options = [f"--build-arg=BASE_IMAGE={os.environ['BASE_IMAGE']}"] if os.environ.get("BASE_IMAGE") else []
    if Path(os.environ.get("SSL_CERT_FILE") or "/nonexistent").is_file():
        options.append(f"--secret=id=ca,src={os.environ['SSL_CERT_FILE']}")
    iidfile.unlink(missing_ok=True)
    seconds = timed([engine, "build", *options, *extra, f"--iidfile={iidfile}", "--tag", IMAGE, str(PROJECT_DIR)])
    return seconds, iidfile.read_text(encoding="utf-8").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="pipeline runs on each side (default 3)")
    repeat = parser.parse_args().repeat
    engine = os.environ.get("CONTAINER_ENGINE", "").strip()
    if not engine:
        sys.exit("CONTAINER_ENGINE is not set; run this with `nox -s benchmark -- container`, which picks the engine.")
    with tempfile.TemporaryDirectory(prefix="container-benchmark-") as folder:
        cold, _ = build(engine, Path(folder) / "image-id", "--no-cache")
        warm, image = build(engine, Path(folder) / "image-id")
    inspect = subprocess.run([engine, "image", "inspect", image], capture_output=True, text=True, check=True)
    size = json.loads(inspect.stdout)[0]["Size"]
    host: list[float] = []
    container: list[float] = []
    with tempfile.TemporaryDirectory(prefix="container-benchmark-") as folder:
        project = copy_project(Path(folder) / "project")
        mounts = []
        for name in ("warehouse", "reports", "target"):
            (Path(folder) / name).mkdir()
            (Path(folder) / name).chmod(0o777)  # whatever id the engine maps the image's user to
            mounts.append(f"--volume={Path(folder) / name}:/app/{name}")
        env = {**os.environ, "DBT_PROJECT_DIR": str(project)}
        for _ in range(repeat):
            host.append(timed([sys.executable, "-m", PACKAGE, *PIPELINE], env=env))
            container.append(timed([engine, "run", *CONTRACT, *mounts, image, *PIPELINE]))
    subprocess.run([engine, "rmi", IMAGE], capture_output=True, check=False)
    print(f"step image ({engine}), pipeline `{' '.join(PIPELINE)}` {repeat} times on each side")
    report("image size", [size / 2**20], "MiB")
    report("image build cold", [cold], "s")
    report("image build warm", [warm], "s")
    report("pipeline on the host", host, "s")
    report("pipeline in the container", container, "s")
    report("container / host", [c / h for c, h in zip(container, host, strict=True)], "ratio")


if __name__ == "__main__":
    main()
