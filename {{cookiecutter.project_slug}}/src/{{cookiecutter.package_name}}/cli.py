"""The pipeline's command line: argument parsing and exit codes only; the work is in the modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import config, {% if cookiecutter.include_example == "yes" %}generate, {% endif %}pipeline, report
from .errors import PipelineError

PROG = "{{ cookiecutter.project_slug }}"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE; write e.g. --var start_date=2025-01-01")
    return key.strip(), value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a scale factor; use a number above 0, e.g. 0.1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the value pipeline of this data product.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    env = argparse.ArgumentParser(add_help=False)
    env.add_argument("--env", choices=config.ENVIRONMENTS, default="dev", help="environment (dbt target); default dev")
    dbt = argparse.ArgumentParser(add_help=False)
    dbt.add_argument("--select", action="append", default=[], help="dbt node selection; repeatable")
    dbt.add_argument(
        "--var", action="append", default=[], type=_key_value, metavar="KEY=VALUE", help="dbt var; repeatable"
    )
    raw = argparse.ArgumentParser(add_help=False)
    raw.add_argument(
        "--raw-dir", type=Path, help="folder of raw files (default: $RAW_DATA_DIR or the committed sample)"
    )
{%- if cookiecutter.include_example == "yes" %}
    raw.add_argument(
        "--scale", type=_scale, help="generate raw data at this scale factor (1 = ~100k orders) and use it"
    )

    gen = commands.add_parser("generate", help="write deterministic raw files (CSV, Parquet, JSON lines)")
    gen.add_argument("--scale", type=_scale, default=generate.SAMPLE_SCALE, help="scale factor (1 = ~100k orders)")
    gen.add_argument("--seed", type=int, default=generate.SEED, help="random seed")
    gen.add_argument("--out", type=Path, required=True, help="folder to write the files and manifest to")
{%- endif %}
    commands.add_parser("ingest", parents=[env, raw], help="load raw files into the raw schema, quarantining bad rows")
    commands.add_parser("build", parents=[env, dbt], help="check source freshness, then dbt build")
    commands.add_parser("report", parents=[env], help="print the summary of the last run")
    commands.add_parser("run", parents=[env, dbt, raw], help="the value pipeline: ingest -> build -> report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one command, return its exit code (0 ok, 1 failed, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
{%- if cookiecutter.include_example == "yes" %}
        if args.command == "generate":
            data = generate.generate(args.scale, args.seed)
            generate.write(data, args.out)
            print(f"wrote {sum(len(rows) for rows in data.rows.values()):,} rows to {args.out}")
            return 0
{%- endif %}
        raw_dir = getattr(args, "raw_dir", None)
        settings = config.resolve(args.env, raw_dir=raw_dir)
{%- if cookiecutter.include_example == "yes" %}
        if getattr(args, "scale", None):
            settings = config.resolve(args.env, raw_dir=generate.ensure(args.scale, settings.project_dir))
{%- endif %}
        if args.command == "report":
            summary = report.summarize(settings)
            print(report.render(summary))
            return 0 if summary.ok else 1
        run = pipeline.Run(
            settings, select=tuple(getattr(args, "select", ())), variables=dict(getattr(args, "var", ()))
        )
        steps: dict[str, list[tuple[str, pipeline.Step]]] = {
            "ingest": [("ingest", pipeline.ingest_step)],
            "build": [("build", pipeline.build_step), ("report", pipeline.report_step)],
            "run": pipeline.STEPS,
        }
        return pipeline.execute(run, steps[args.command])
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
