"""Data generation at growing scales, and the whole first run on generated data: seconds and peak memory.

Each measurement runs in a child process of its own, so its peak resident memory (`ru_maxrss` of the child) is
that process's alone: `generate --scale S` for scales 0.1, 1 and 10 (100 with `--max-scale 100`), then the
ratio of each figure per 10x of data; then a first `run --env ci --scale S` (generate, ingest, build, checks,
publish, report) in a fresh copy of this project. Medians of `--repeat` runs, with min and max; the scales are
interleaved within each round. Not a test: it prints figures.
Run it with `nox -s benchmark -- generate --repeat 3` (`--max-scale 100` adds scale 100, minutes and ~2 GB of disk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import PACKAGE, copy_project, report

SCALES = (0.1, 1.0, 10.0, 100.0)
# Measured alone after the first run, on the data it generated (`--reload`: reuse would skip every file).
# Generation's peak is in the table above, so a run whose peak exceeds both owes it to dbt's build. (`build` alone
# is not measured: without the sample its reconciliation with the sample's finance reference fails, as it should.)
STEPS = (("ingest", "--reload"),)
GIB = 1024**3
MIB = 1024**2


def measure(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run `python -m <package> ARGS` in a child; return wall seconds, CPU seconds and peak RSS bytes.

    The wrapper is a fresh interpreter that starts the CLI as its own child and reports that child's
    `ru_maxrss` (kilobytes on Linux), so the figure is one process's peak, never the benchmark's own. CPU
    seconds (user + system) hold still when other work shares the machine's cores; wall seconds do not.
    """
    wrapper = (
        "import resource, subprocess, sys; "
        "code = subprocess.call([sys.executable, '-m', sys.argv[1], *sys.argv[2:]], stdout=sys.stderr); "
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime); sys.exit(code)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", wrapper, PACKAGE, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(args)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    peak, cpu = result.stdout.strip().splitlines()[-1].split()
    return seconds, float(cpu), int(peak) * 1024


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    """`median (min-max) unit` of a list of figures."""
    shown = [value / scale for value in values]
    return f"{statistics.median(shown):7.2f} ({min(shown):.2f}-{max(shown):.2f}) {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every measurement (default 1)")
    parser.add_argument("--max-scale", type=float, default=10.0, help="largest scale to generate (default 10)")
    parser.add_argument("--run-scale", type=float, default=10.0, help="scale of the whole first run (default 10)")
    args = parser.parse_args()
    if args.repeat < 1:
        sys.exit("--repeat must be at least 1.")
    scales = [scale for scale in SCALES if scale <= args.max_scale]
    env = {key: value for key, value in os.environ.items() if key != "UV_PROJECT_ENVIRONMENT"}
    times: dict[float, list[float]] = {scale: [] for scale in scales}
    cpus: dict[float, list[float]] = {scale: [] for scale in scales}
    peaks: dict[float, list[float]] = {scale: [] for scale in scales}
    runs: list[tuple[float, float, int]] = []
    steps: dict[str, list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="benchmark-generate-") as scratch:
        for round_ in range(args.repeat):
            for scale in scales:
                out = Path(scratch) / f"sf_{scale:g}_{round_}"
                seconds, cpu, peak = measure(
                    ["generate", "--scale", f"{scale:g}", "--out", str(out)], Path(scratch), env
                )
                times[scale].append(seconds)
                cpus[scale].append(cpu)
                peaks[scale].append(peak)
                shutil.rmtree(out)
            project = copy_project(Path(scratch) / f"project_{round_}")
            run_env = {**env, "DBT_PROJECT_DIR": str(project)}
            scale_args = ["--env", "ci", "--scale", f"{args.run_scale:g}"]
            runs.append(measure(["run", *scale_args], project, run_env))
            for step, *options in STEPS:
                steps.setdefault(step, []).append(measure([step, *scale_args, *options], project, run_env))
            shutil.rmtree(project)
    print(f"\ngenerate, {args.repeat} round(s), median (min-max); the ratio is against the scale 10x smaller")
    print(f"{'scale':>6}  {'seconds':>26}  {'CPU seconds':>26}  {'peak RSS':>26}  {'x time':>7}  {'x memory':>8}")
    for index, scale in enumerate(scales):
        ratio = ""
        if index and scales[index - 1] * 10 == scale:
            previous = scales[index - 1]
            ratio = (
                f"{statistics.median(times[scale]) / statistics.median(times[previous]):7.1f}  "
                f"{statistics.median(peaks[scale]) / statistics.median(peaks[previous]):8.1f}"
            )
        figures = (
            f"{spread(times[scale], 's'):>26}  {spread(cpus[scale], 's'):>26}  {spread(peaks[scale], 'GiB', GIB):>26}"
        )
        print(f"{scale:>6g}  {figures}  {ratio}")
    run_seconds, run_cpu, run_peak = [r[0] for r in runs], [r[1] for r in runs], [float(r[2]) for r in runs]
    print(f"\nfirst run at scale {args.run_scale:g} (run --env ci --scale {args.run_scale:g}, a fresh copy):")
    print(
        f"  {'run':>8}  {spread(run_seconds, 's')}, CPU {spread(run_cpu, 's')}, peak RSS {spread(run_peak, 'GiB', GIB)}"
    )
    for step, rows in steps.items():
        step_seconds, step_cpu, step_peak = [r[0] for r in rows], [r[1] for r in rows], [float(r[2]) for r in rows]
        cpu_text = f"CPU {spread(step_cpu, 's')}"
        print(f"  {step:>8}  {spread(step_seconds, 's')}, {cpu_text}, peak RSS {spread(step_peak, 'GiB', GIB)} (alone)")
    print()
    for scale in scales:
        report("generate", times[scale], "s", scale=scale)
        report("generate peak RSS", [peak / MIB for peak in peaks[scale]], "MiB", scale=scale)
    report("first run", run_seconds, "s", scale=args.run_scale)
    report("first run peak RSS", [peak / MIB for peak in run_peak], "MiB", scale=args.run_scale)


if __name__ == "__main__":
    main()
