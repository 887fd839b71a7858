"""Issue 11's benchmark suite: bake the default project, measure each figure side by side, print one markdown table.

Every row is a median of `--repeat` runs with their min and max; where a row compares two things (our bake against
cookiecutter-data-science's, `run` against a bare `dbt build`, slim against full) the two are run in turns, so
machine noise hits both alike, and the ratio is our median over the other's. Targets are issue 11's (P1-P4); the
suite prints whether each is met and never fails on a figure: a step that cannot run leaves its row "not measured"
with the reason. The figures of the pipeline come from the bake's own benchmarks (its `nox -s benchmark -- NAME`),
each of which prints one `BENCHMARK-JSON {...}` line per figure (the bake's benchmarks/_project.py, `report`).

Run it from the template: `uvx nox -s benchmark` (a long run: cold `nox` and scale 10 take minutes),
`uvx nox -s benchmark -- --quick` (one run each, the smallest data, no `nox` rows: a few minutes), `-- --help`.
The table goes to stdout and to `--output` (default benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from figures import Figure, Row, Target, find_figure, missing_reason, parse_figures, render_table, summarise
from steps import StepFailed, bake_ccds, bake_ours, baked_benchmark, ccds_template, clean_env, nox_in, run

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = TEMPLATE / "benchmarks" / "results.md"
P1 = Target("P1 ≤ 120 s", 120, of="ours")
P2 = Target("P2 ≤ 0.3", 0.3)
P3 = Target("P3 ≤ 1.05", 1.05)
P4_TIME = Target("P4 ≤ 15 s", 15, of="ours")
P4_MEMORY = Target("P4 ≤ 512 MiB", 512, of="ours")
# Scale factors of the generation rows; a row above --quick's 0.1, or at 100 without --scale-100, says skipped.
SCALES = (0.1, 1, 10, 100)
# What --skip takes: one name per part of the suite, each a row or a group of rows.
PARTS = ("bake", "cold", "warm", "run", "generate", "slim", "fanout", "pre-commit")
QUICK_SKIPS = ("cold", "warm", "fanout")
NO_CCDS_TEMPLATE = (
    "cookiecutter-data-science 2.3.0 on PyPI ships no template (wheel and sdist hold only `ccds`), and `ccds` "
    "could not clone it from GitHub; pass --ccds-template with a local copy"
)
BAKE_LABEL = "bake the default project (`cookiecutter --no-input`)"
COLD_LABEL = "first `nox` of a bake, cold (empty uv cache, new venvs and hooks)"
WARM_LABEL = "default `nox`, warm (venvs, hooks and caches exist)"
PRE_COMMIT_LABEL = "`pre-commit run --all-files`, warm"
# Models of the synthetic fan-out slim_ci builds for P2 (issue 11: at least 50).
FANOUT_MODELS = 50


@dataclass(frozen=True)
class Baked:
    """A row read from one of the bake's benchmarks: `script` run with `args`, figure `ours` (and `compared`).

    `{repeat}` in `args` becomes the run count. `match` picks among figures of the same name by the fields the
    benchmark added (e.g. `{"scale": 10}`); a figure without those fields is taken when no other matches, since
    each call measures one setting. `part` is the --skip name that leaves the row out; `scale` is the data's scale
    factor (None: the committed sample), compared with the run's largest.
    """

    label: str
    part: str
    script: str
    args: tuple[str, ...]
    ours: str
    compared: str | None = None
    against: str = ""
    target: Target | None = None
    match: dict[str, object] = field(default_factory=dict)
    scale: float | None = None


def baked_rows(max_scale: float = 10, run_scale: float = 10) -> list[Baked]:
    """The rows that come from the bake's benchmarks, in table order, with the figure names each must print.

    The bake's generate.py is called once: it generates every scale of SCALES up to `max_scale` (rows above it say
    skipped) and makes one first run (generate, ingest, build, checks, publish, report) at `run_scale`.
    """
    rows = [
        Baked("`run` vs bare `dbt build`, committed sample", "run", "run_overhead", ("--repeat", "{repeat}"),
              "run", "dbt build", "bare `dbt build`", P3),
        Baked("`run` vs bare `dbt build`, scale 1", "run", "run_overhead", ("--repeat", "{repeat}", "--scale", "1"),
              "run", "dbt build", "bare `dbt build`", P3, {"scale": 1}, scale=1),
    ]  # fmt: skip
    generate = ("--repeat", "{repeat}", "--max-scale", f"{max_scale:g}", "--run-scale", f"{run_scale:g}")
    for scale in SCALES:
        # Issue 11 sets P4 at scale 10: generation time here, peak memory on the whole first run.
        rows += [
            Baked(f"generate, scale {scale:g}", "generate", "generate", generate, "generate",
                  target=P4_TIME if scale == 10 else None, match={"scale": scale}, scale=scale),
            Baked(f"generate peak RSS, scale {scale:g}", "generate", "generate", generate, "generate peak RSS",
                  match={"scale": scale}, scale=scale),
        ]  # fmt: skip
    rows += [
        Baked(f"first run (generate to report), scale {run_scale:g}", "generate", "generate", generate, "first run",
              match={"scale": run_scale}),
        Baked(f"first run peak RSS, scale {run_scale:g}", "generate", "generate", generate, "first run peak RSS",
              target=P4_MEMORY if run_scale == 10 else None, match={"scale": run_scale}),
    ]  # fmt: skip
    rows += [
        Baked("slim vs full CI run, the example, one mart changed", "slim", "slim_ci", ("--repeat", "{repeat}"),
              "slim run", "full run", "full run", P2),
        Baked(f"slim vs full CI run, {FANOUT_MODELS} models, one changed", "fanout", "slim_ci",
              ("--repeat", "{repeat}", "--fanout", str(FANOUT_MODELS)), "slim run", "full run", "full run", P2),
    ]  # fmt: skip
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The suite's options (see `--help`), with `max_scale` and `run_scale` (of generate.py) added.

    `--quick` sets repeat 1, skips QUICK_SKIPS and scales above 0.1, and makes the first run at scale 0.1.
    """
    parser = argparse.ArgumentParser(prog="suite.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, interleaved (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run each, scale 0.1 only, no `nox` rows")
    parser.add_argument("--skip", nargs="+", choices=PARTS, default=[], metavar="PART",
                        help=f"leave parts out (their rows say so): {', '.join(PARTS)}")  # fmt: skip
    parser.add_argument("--scale-100", action="store_true", help="generate scale 100 too (many minutes, ~2 GB)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file (default %(default)s)")
    parser.add_argument(
        "--ccds-template", help="a local copy of cookiecutter-data-science's template (or $CCDS_TEMPLATE)"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the template to bake (default: this one)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give at least 1 run per figure")
    args.max_scale = SCALES[-1] if args.scale_100 else SCALES[-2]
    args.run_scale = SCALES[-2]
    if args.quick:
        args.repeat = 1
        args.skip = sorted({*args.skip, *QUICK_SKIPS})
        args.max_scale = args.run_scale = SCALES[0]
    return args


def log(message: str) -> None:
    """Progress, on stderr: stdout carries the table only."""
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


def skipped(label: str, part: str, target: Target | None = None, against: str = "") -> Row:
    return Row(label, against=against, target=target, missing=f"skipped (--skip {part} or --quick)")


def measure_bake(
    template: Path, scratch: Path, repeat: int, ccds: str | None, with_ccds: bool = True
) -> tuple[Row, Path | None]:
    """Our bake against cookiecutter-data-science's (from `ccds`, None: GitHub), in turns.

    Returns the row and our last bake's project folder (None when our bake failed). The ccds side fails alone (no
    `ccds`, no template): the row then keeps our figure and says why in its comparison column.
    """
    env = clean_env(scratch)
    ours: list[float] = []
    theirs: list[float] = []
    why_not_theirs = ""
    project = None
    label = BAKE_LABEL
    for i in range(repeat):
        try:
            seconds, project = bake_ours(template, scratch / "bakes" / f"ours-{i}", env)
        except StepFailed as error:
            return Row(label, target=None, missing=str(error)), None
        ours.append(seconds)
        if with_ccds and not why_not_theirs:
            try:
                theirs.append(bake_ccds(ccds, scratch / "bakes" / f"ccds-{i}", env))
            except StepFailed as error:
                # Without a local template, ccds clones it from GitHub: say that, not git's traceback.
                why_not_theirs = str(error) if ccds else NO_CCDS_TEMPLATE
    against = "cookiecutter-data-science (`ccds --no-input`)"
    if not with_ccds:  # `--skip bake`: one untimed bake of ours to measure the rest in
        return Row(label, summarise("bake", ours, "s")), project
    if why_not_theirs:
        return Row(label, summarise("bake", ours, "s"), against=f"{against}: not measured: {why_not_theirs}"), project
    return Row(label, summarise("bake", ours, "s"), summarise("ccds bake", theirs, "s"), against), project


def measure_nox(template: Path, project: Path, scratch: Path, repeat: int, skip: Sequence[str]) -> list[Row]:
    """The bake's default `nox`: cold (a fresh bake, empty uv and pre-commit caches) and warm, in turns.

    Warm reuses `project`'s virtualenvs and hook environments; an untimed `nox` prepares them first.
    """
    cold: list[float] = []
    warm: list[float] = []
    cold_failed = warm_failed = ""
    if "warm" not in skip:
        try:
            log("an untimed `nox` in the bake, so the warm runs find its venvs")
            nox_in(project, env=clean_env(scratch))
        except StepFailed as error:
            warm_failed = str(error)
    for i in range(repeat):
        if "cold" not in skip and not cold_failed:
            fresh = scratch / f"cold-{i}"
            try:
                _, cold_project = bake_ours(template, fresh / "bake", clean_env(scratch))
                env = clean_env(scratch, UV_CACHE_DIR=str(fresh / "uv-cache"), PRE_COMMIT_HOME=str(fresh / "hooks"))
                log(f"cold `nox` {i + 1}/{repeat}")
                cold.append(nox_in(cold_project, env=env)[0])
            except StepFailed as error:
                cold_failed = str(error)
            shutil.rmtree(fresh, ignore_errors=True)  # a bake's venvs and a uv cache: gigabytes each round
        if "warm" not in skip and not warm_failed:
            try:
                log(f"warm `nox` {i + 1}/{repeat}")
                warm.append(nox_in(project, env=clean_env(scratch))[0])
            except StepFailed as error:
                warm_failed = str(error)
    rows = []
    for label, part, samples, failed in (("cold", "cold", cold, cold_failed), ("warm", "warm", warm, warm_failed)):
        title = COLD_LABEL if label == "cold" else WARM_LABEL
        if part in skip:
            rows.append(skipped(title, part, P1))
        elif failed:
            rows.append(Row(title, target=P1, missing=failed))
        else:
            rows.append(Row(title, summarise(f"nox {label}", samples, "s"), target=P1))
    return rows


def measure_baked(
    project: Path, specs: Sequence[Baked], scratch: Path, repeat: int, skip: Sequence[str], max_scale: float
) -> list[Row]:
    """Run each distinct (script, args) of `specs` once in the bake and read every row's figures from its output.

    Rows of a skipped part, or at a scale above `max_scale`, say so instead.
    """
    env = clean_env(scratch)
    outputs: dict[tuple[str, tuple[str, ...]], str | StepFailed] = {}
    rows = []
    for spec in specs:
        if spec.part in skip:
            rows.append(skipped(spec.label, spec.part, spec.target, spec.against))
            continue
        if spec.scale is not None and spec.scale > max_scale:
            why = "--scale-100" if spec.scale > SCALES[-2] else "a run without --quick"
            rows.append(Row(spec.label, against=spec.against, target=spec.target, missing=f"skipped: needs {why}"))
            continue
        args = tuple(arg.replace("{repeat}", str(repeat)) for arg in spec.args)
        if (spec.script, args) not in outputs:
            log(f"the bake's {spec.script} {' '.join(args)}")
            try:
                outputs[spec.script, args] = baked_benchmark(project, spec.script, args, env)
            except StepFailed as error:
                outputs[spec.script, args] = error
        rows.append(row_from_output(spec, outputs[spec.script, args]))
    return rows


def row_from_output(spec: Baked, output: str | StepFailed) -> Row:
    """The row `spec` describes, from its benchmark's stdout (or the failure that stopped it)."""
    if isinstance(output, StepFailed):
        return Row(spec.label, against=spec.against, target=spec.target, missing=str(output))
    figures = parse_figures(output)

    def pick(name: str) -> Figure | None:
        return find_figure(figures, name, **spec.match) or find_figure(
            [figure for figure in figures if not set(spec.match) & set(figure.extra)], name
        )

    ours = pick(spec.ours)
    compared = pick(spec.compared) if spec.compared else None
    for name, figure in ((spec.ours, ours), (spec.compared, compared)):
        if name and figure is None:
            reason = missing_reason(f"{spec.script}.py", name, **spec.match)
            return Row(spec.label, against=spec.against, target=spec.target, missing=reason)
    return Row(spec.label, ours, compared, spec.against, spec.target)


def measure_pre_commit(project: Path, scratch: Path, repeat: int) -> Row:
    """`pre-commit run --all-files` in the bake (its first commit made), warm: hooks installed by an untimed run."""
    label = PRE_COMMIT_LABEL
    env = clean_env(scratch)
    try:
        run(["uv", "sync", "--only-group=dev"], cwd=project, env=env)
        pre_commit = str(project / ".venv" / "bin" / "pre-commit")
        run([pre_commit, "run", "--all-files"], cwd=project, env=env)
        samples = [run([pre_commit, "run", "--all-files"], cwd=project, env=env)[0] for _ in range(repeat)]
    except StepFailed as error:
        return Row(label, missing=str(error))
    return Row(label, summarise("pre-commit", samples, "s"))


def template_commit(template: Path) -> str:
    """The template's git commit (short), read when the suite starts; `unknown` outside a git checkout."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=template, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def notes(args: argparse.Namespace, ccds_note: str, load: tuple[float, float], commit: str) -> list[str]:
    """The lines under the table: when, where, how many runs, what each comparison means."""
    return [
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end; template commit {commit}; {args.repeat} "
        f"interleaved run(s) per figure: median [min-max]; ratio = our median / the compared median.",
        f"Bake: ours includes its post-generation hook (`uv lock`, the first commit); {ccds_note}.",
        "Cold `nox`: a fresh bake with empty UV_CACHE_DIR and PRE_COMMIT_HOME (every package from PyPI); warm: the "
        "same bake's venvs and hooks after an untimed run. CI is unset, as on a newcomer's machine.",
        "Pipeline rows come from the bake's benchmarks (`nox -s benchmark -- NAME`, their BENCHMARK-JSON lines): "
        "run_overhead, generate, slim_ci. Targets are issue 11's; the suite prints them and never asserts.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, write it to --output; 0 even when figures miss their targets or are missing."""
    args = parse_args(argv)
    ccds, ccds_note = ccds_template(args.ccds_template)
    specs = baked_rows(args.max_scale, args.run_scale)
    start_load, commit = os.getloadavg()[0], template_commit(args.template)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="template-benchmark-") as folder:
        scratch = Path(folder)
        if "bake" in args.skip:  # one untimed bake to measure the rest in
            bake_row, project = measure_bake(args.template, scratch, 1, None, with_ccds=False)
            bake_row = skipped(bake_row.label, "bake")
        else:
            log(f"baking ours and cookiecutter-data-science's, {args.repeat} time(s) each, in turns")
            bake_row, project = measure_bake(args.template, scratch, args.repeat, ccds)
        rows.append(bake_row)
        later: list[tuple[Callable[[Path], list[Row]], list[Row]]] = [
            (lambda p: measure_nox(args.template, p, scratch, args.repeat, args.skip),
             [Row(COLD_LABEL, target=P1), Row(WARM_LABEL, target=P1)]),
            (lambda p: measure_baked(p, specs, scratch, args.repeat, args.skip, args.max_scale),
             [Row(spec.label, target=spec.target) for spec in specs]),
            (lambda p: [skipped(PRE_COMMIT_LABEL, "pre-commit")] if "pre-commit" in args.skip
             else [measure_pre_commit(p, scratch, args.repeat)], [Row(PRE_COMMIT_LABEL)]),
        ]  # fmt: skip
        for measure, placeholders in later:
            if project is None:
                rows += [Row(row.label, target=row.target, missing="no bake to measure in") for row in placeholders]
            else:
                rows += measure(project)
    table = render_table(rows, notes(args, ccds_note, (start_load, os.getloadavg()[0]), commit))
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
