"""The pipeline's command line: argument parsing and exit codes only; the work is in the modules."""

from __future__ import annotations

import argparse
import functools
import io
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from . import build, config, environments, {% if cookiecutter.include_example == "yes" %}generate, {% endif %}locking, parallel, pipeline, report
from .errors import PipelineError

PROG = "{{ cookiecutter.project_slug }}"
T = TypeVar("T")


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises PipelineError: argparse then prints usage and one sentence."""

    def checked(text: str) -> T:
        try:
            return parse(text)
        except PipelineError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    checked.__name__ = parse.__name__  # argparse names the type in its own messages
    return checked


@_argument
def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"{config.shown(text)} is not KEY=VALUE; write e.g. --var start_date=2025-01-01")
    return key.strip(), value


@_argument
def _selection(text: str) -> str:
    if not text.strip() or not text.isprintable():
        raise PipelineError(
            f"--select {config.shown(text)} is blank or holds control characters; "
            "write a dbt selection, e.g. fct_invoices+"
        )
    return text


@_argument
def _parameter_set(text: str) -> parallel.ParameterSet:
    """A run-many set whose arguments `run` accepts: an unknown option is refused now, not as a crashed set."""
    parameters = parallel.parse_set(text)
    _set_arguments(parameters)
    return parameters


def _set_arguments(parameters: parallel.ParameterSet) -> argparse.Namespace:
    """The set's arguments parsed by `run`'s own options (`_run_options`); PipelineError naming label and option."""
    fix = f"give it only options of `run` (see `{PROG} run --help`), e.g. --set '{parameters.label}:--var region=eu'"
    try:
        args, unknown = _run_options().parse_known_args(parameters.args)
    except argparse.ArgumentError as error:
        raise PipelineError(f"--set {parameters.label}: {error}") from None  # the option's own sentence and fix
    if unknown:
        raise PipelineError(f"--set {parameters.label}: `run` has no option {config.shown(unknown[0])}; {fix}.")
    _one_raw_folder(args, f"--set {parameters.label}: ")
    if any(arg == "--env" or arg.startswith("--env=") for arg in parameters.args):
        raise PipelineError(
            f"--set {parameters.label}: every set runs in run-many's environment; "
            f"drop --env from the set and give it to run-many (`{PROG} run-many --env prod --set ...`)."
        )
    return args


def _one_raw_folder(args: argparse.Namespace, where: str = "") -> None:
    """Refuse --scale with --raw-dir (PipelineError): --scale generates the raw folder it reads."""
    if getattr(args, "scale", None) and getattr(args, "raw_dir", None) is not None:
        raise PipelineError(f"{where}--scale generates the raw folder it reads; give --scale or --raw-dir, not both.")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


@_argument
def _date(text: str) -> str:
    if _ISO_DATE.fullmatch(text.strip()):
        try:
            return date.fromisoformat(text.strip()).isoformat()
        except ValueError:
            pass  # e.g. 2025-02-30: shaped like a date, but not one
    raise PipelineError(f"{config.shown(text)} is not a date; write YYYY-MM-DD, e.g. 2025-03-01")


_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,9})?|\.[0-9]{1,9}", re.ASCII)
# Scale 1 is ~100k orders; 100 (10M orders) is already more than a laptop should generate by accident.
MAX_SCALE = 100.0


@_argument
def _scale(text: str) -> float:
    value = float(text) if _DECIMAL.fullmatch(text.strip()) else 0.0
    if not 0 < value <= MAX_SCALE:
        raise PipelineError(
            f"{config.shown(text)} is not a scale factor; use a number above 0 and at most {MAX_SCALE:g}, e.g. 0.1"
        )
    return value


@_argument
def _seed(text: str) -> int:
    return config.integer(text, "--seed", 42, 0, 2**32 - 1)


def _path(name: str) -> Callable[[str], Path]:
    """An argparse type for a path option: refuses what no filesystem accepts (NUL, too long, blank)."""

    def path(text: str) -> Path:
        return config.path(text, name, "data/raw")

    return _argument(path)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand whose own --help opens with a description (argparse shows `help` only in the list)."""
    kwargs.setdefault("description", help[0].upper() + help[1:] + ".")
    return commands.add_parser(name, help=help, **kwargs)


@functools.cache  # built once per process, like _parser
def _parents() -> dict[str, argparse.ArgumentParser]:
    """The option groups commands share: env, dbt, raw (the raw folder), load (how ingest loads it)."""
    env = argparse.ArgumentParser(add_help=False)
    env.add_argument("--env", choices=config.ENVIRONMENTS, default="dev", help="environment (dbt target); default dev")
    dbt = argparse.ArgumentParser(add_help=False)
    dbt.add_argument("--select", action="append", default=[], type=_selection, help="dbt node selection; repeatable")
    dbt.add_argument(
        "--var", action="append", default=[], type=_key_value, metavar="KEY=VALUE", help="dbt var; repeatable"
    )
    dbt.add_argument("--slim", action="store_true", help="build only what changed against production (slim CI)")
    raw = argparse.ArgumentParser(add_help=False)
    raw.add_argument(
        "--raw-dir",
        type=_path("--raw-dir"),
        help="folder of raw files (default: $RAW_DATA_DIR or the committed sample)",
    )
    load = argparse.ArgumentParser(add_help=False)
    load.add_argument(
        "--reload",
        action="store_true",
        help="load every raw file again, also those unchanged since this instance last ingested them",
    )
{%- if cookiecutter.include_example == "yes" %}
    load.add_argument(
        "--scale", type=_scale, help="generate raw data at this scale factor (1 = ~100k orders) and use it"
    )
{%- endif %}
    return {"env": env, "dbt": dbt, "raw": raw, "load": load}


@functools.cache
def _run_options() -> argparse.ArgumentParser:
    """`run`'s options alone, to check a run-many set's arguments (errors raise argparse.ArgumentError, no exit)."""
    parents = _parents()
    return argparse.ArgumentParser(
        prog=f"{PROG} run",
        parents=[parents["env"], parents["dbt"], parents["raw"], parents["load"]],
        add_help=False,
        exit_on_error=False,
    )


@functools.cache  # built once per process: argparse's gettext lookups make each build cost tens of ms
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the value pipeline of this data product.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = _parents()
    env, dbt, raw, load = parents["env"], parents["dbt"], parents["raw"], parents["load"]
{%- if cookiecutter.include_example == "yes" %}

    gen = _command(commands, "generate", help="write deterministic raw files (CSV, Parquet, JSON lines)")
    gen.add_argument("--scale", type=_scale, default=generate.SAMPLE_SCALE, help="scale factor (1 = ~100k orders)")
    gen.add_argument("--seed", type=_seed, default=generate.SEED, help="random seed (0 to 4294967295)")
    gen.add_argument("--out", type=_path("--out"), required=True, help="folder to write the files and manifest to")
    gen.add_argument(
        "--reference",
        type=_path("--reference"),
        help="also write the finance reference (monthly net revenue) and its manifest to this folder",
    )
{%- endif %}
    _command(
        commands, "ingest", parents=[env, raw, load], help="load raw files into the raw schema, quarantining bad rows"
    )
    _command(
        commands,
        "build",
        parents=[env, dbt],
        help="source freshness and dbt build, then check, publish and report (no ingest)",
    )
    _command(
        commands,
        "run",
        parents=[env, dbt, raw, load],
        help="the value pipeline: ingest -> build -> check -> publish -> report",
    )
    _command(commands, "unit-test", parents=[env, raw, load], help="dbt unit tests (their parents built empty first)")
    fill = _command(
        commands, "backfill", parents=[env, dbt], help="reprocess a date range of the incremental (microbatch) models"
    )
    fill.add_argument("--start", type=_date, required=True, help="first day to reprocess (YYYY-MM-DD)")
    fill.add_argument("--end", type=_date, required=True, help="day after the last one (YYYY-MM-DD, exclusive)")
    _command(commands, "docs", parents=[env], help="generate the dbt docs site (target/docs) from this instance")
    rep = _command(commands, "report", parents=[env], help="print the summary of the last run")
    rep.add_argument(
        "--markdown",
        type=_path("--markdown"),
        metavar="FILE",
        help="also append it as markdown (e.g. a CI job summary)",
    )

    many = _command(
        commands,
        "run-many",
        parents=[env],
        help="run the pipeline for several parameter sets at once, each in its own instance",
    )
    many.add_argument(
        "--set", dest="sets", action="append", required=True, type=_parameter_set, metavar="LABEL:ARGS",
        help="a label and the `run` arguments of one set, e.g. --set 'eu:--var region=eu'; repeatable",
    )  # fmt: skip

    adds = _command(
        commands,
        "add-source",
        parents=[raw],
        help="declare raw files as dbt sources and write their staging models",
        description="Read each raw file (CSV, Parquet, JSON lines) inside the raw folder, declare it as a dbt "
        "source table (meta.raw_file, data_type per column, not_null and unique where the file shows it) and "
        "write its staging model stg_<source>__<table>s with YAML. Refuses what is already declared.",
    )
    adds.add_argument("files", nargs="+", type=_path("FILE"), metavar="FILE", help="raw file inside the raw folder")
    adds.add_argument("--source", help="source name (default: the file's folder inside the raw folder, else raw)")
    adds.add_argument("--table", help="table name, for one FILE (default: the file name without its extension)")

    contracts = _command(
        commands,
        "contract",
        parents=[env],
        help="write a model's contract (its YAML column list) from its built table",
        description="Read the columns of MODEL as the last run of the instance built them (name, type) and "
        "write them into the model's YAML with `contract: {enforced: true}`, so the next build enforces them. "
        "Refuses a model whose YAML already declares a data_type or a contract, naming the file.",
    )
    contracts.add_argument("model", metavar="MODEL", help="the model's name, as in ref(), e.g. fct_sales")

    envs = _command(commands, "env", help="list, create or drop environment instances (dev per branch, ci per PR)")
    envs.add_argument("action", choices=["list", "create", "drop"])
    envs.add_argument("--env", choices=config.ENVIRONMENTS, default="dev", help="environment; default dev")
    envs.add_argument("--allow-shared", action="store_true", help="let `drop` remove staging or prod")
    return parser

{% if cookiecutter.include_example == "yes" %}
def _generate(args: argparse.Namespace) -> int:
    # Both folders first: a --reference that cannot be made must not leave the data files written.
    for flag, folder in (("--out", args.out), ("--reference", args.reference)):
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PipelineError(f"cannot write to {flag} {config.shown(str(folder))}: {error.strerror}.") from None
    try:
        generated = generate.write(args.scale, args.seed, args.out, reference_dir=args.reference)
    except OSError as error:
        where = config.shown(str(error.filename or args.out))
        raise PipelineError(f"cannot write {where}: {error.strerror}.") from None
    print(f"wrote {generated.rows:,} rows to {args.out}")
    return 0

{% endif %}
def _report(args: argparse.Namespace) -> int:
    settings = config.resolve(args.env)
    folder = report.latest(settings)
    if folder is None:
        print(f"Run summary ({settings.name}): no run found yet; run the `run` or `build` command first.")
        return 0
    document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    print(report.render_document(document))
    print(f"  report: {folder / 'report.html'}")
    if args.markdown:
        try:
            with args.markdown.open("a", encoding="utf-8") as handle:
                handle.write((folder / "summary.md").read_text(encoding="utf-8"))
        except OSError as error:
            raise PipelineError(
                f"cannot append to --markdown {config.shown(str(args.markdown))}: {error.strerror}."
            ) from None
    return 1 if document["status"] == "failed" else 0


def _docs(args: argparse.Namespace) -> int:
    settings = config.resolve(args.env, connects=True)
    target = settings.project_dir / "target" / "docs"
    environments.check_folders(settings, {"docs site": target, "dbt logs": settings.log_dir})
    with locking.instance_lock(settings, "docs", run_id="docs"):  # dbt opens the audit database to read its catalog
        result = build.invoke(settings, build.dbt_args(["docs", "generate"], settings, target_dir=target))
    print(f"docs site: {target / 'index.html'}" if result.success else "error: dbt docs generate failed")
    return 0 if result.success else 1


def _add_source(args: argparse.Namespace) -> int:
    # Imported here: add_source and contract bring YAML round-tripping (~0.2 s) that `run` has no use for.
    from . import add_source  # noqa: PLC0415

    settings = config.resolve("dev", raw_dir=args.raw_dir)
    files = [path if path.is_absolute() else Path.cwd() / path for path in args.files]
    written = add_source.add_sources(settings.project_dir, settings.raw_dir, files, args.source, args.table)
    for name in add_source.relative(written, settings.project_dir):
        print(f"wrote {name}")
    print("next: review the YAML (descriptions, keys), then `run --env dev` ingests and builds it.")
    return 0


def _contract(args: argparse.Namespace) -> int:
    from . import contract  # noqa: PLC0415 - see _add_source

    settings = config.resolve(args.env)
    with locking.instance_lock(settings, "contract", run_id="contract"):  # reads the audit database
        path, columns = contract.write_contract(settings, args.model)
    print(f"wrote the contract of {args.model} ({columns} columns) to {path.relative_to(settings.project_dir)}")
    print("next: review the types, then `run` builds it with the contract enforced.")
    return 0


def _run_many(args: argparse.Namespace) -> int:
    given = [_set_arguments(parameters) for parameters in args.sets]
    # A set without --raw-dir or --scale reads $RAW_DATA_DIR (or the sample): check it once, before any set starts.
    settings = config.resolve(
        args.env, connects=True, ingests=any(not (s.raw_dir or getattr(s, "scale", None)) for s in given)
    )
    for parameters, options in zip(args.sets, given, strict=True):
        if options.raw_dir is not None and not getattr(options, "scale", None):
            config.check_raw_dir(
                settings.project_dir / options.raw_dir,
                f"--set {parameters.label}: --raw-dir {config.shown(str(options.raw_dir))}",
            )
    return parallel.run_sets(settings, args.sets, package=__package__ or PROG)


def _env(args: argparse.Namespace) -> int:
    if args.action == "drop" and args.env in config.SHARED_ENVIRONMENTS and not args.allow_shared:
        raise environments.refuse_shared(args.env)  # before resolve asks for settings a refusal never uses
    # An instance lives where the target's profile says: its settings (PGHOST, ...) are needed, never defaulted
    # to a local server; no raw folder and no masking key.
    settings = config.resolve(args.env, connects=True, uses_raw=False, keyed=False)
    if args.action == "create":
        path, made = environments.create(settings)
        environments.record(settings)
        if made:
            print(f"created {settings.name} ({settings.owner}): {path}")
        else:
            print(f"{settings.name} ({settings.owner}) already exists: {path}; nothing to create")
    elif args.action == "drop":
        dropped = environments.drop(settings, allow_shared=args.allow_shared)
        print(f"dropped {settings.name}" if dropped else f"{settings.name} had no database; nothing to drop")
    else:
        shared = [settings] if settings.is_shared else []  # `env list --env prod` includes prod's database
        print(environments.format_instances(environments.list_instances(settings.project_dir, shared)))
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    if getattr(args, "slim", False) and getattr(args, "select", None):
        raise PipelineError("--slim picks what to build from production state; drop --select, or drop --slim.")
    # unit-test ingests too (its parents are built empty, but from the raw tables ingest declares).
    ingests = args.command in ("ingest", "run", "unit-test")
    _one_raw_folder(args)
    generates = bool(getattr(args, "scale", None))  # --scale writes its own raw folder: nothing to check yet
    raw_dir = getattr(args, "raw_dir", None)
    settings = config.resolve(args.env, raw_dir=raw_dir, connects=True, ingests=ingests and not generates)
{%- if cookiecutter.include_example == "yes" %}
    if generates:
        settings = config.resolve(args.env, raw_dir=generate.ensure(args.scale, settings.project_dir), connects=True)
{%- endif %}
    backfill = (args.start, args.end) if args.command == "backfill" else None
    if backfill and backfill[0] >= backfill[1]:
        raise PipelineError(f"--start {backfill[0]} must be before --end {backfill[1]} (the end is exclusive).")
    run = pipeline.Run(
        settings,
        command=args.command,
        select=tuple(getattr(args, "select", ())),
        variables=dict(getattr(args, "var", ())),
        slim=getattr(args, "slim", False),
        backfill=backfill,
        reload=getattr(args, "reload", False),
    )
    steps: dict[str, list[tuple[str, pipeline.Step]]] = {
        "ingest": [("ingest", pipeline.ingest_step)],
        "build": pipeline.STEPS[1:],
        "backfill": pipeline.STEPS[1:],
        "run": pipeline.STEPS,
        "unit-test": [("ingest", pipeline.ingest_step), ("unit tests", pipeline.unit_test_step)],
    }
    environments.check_folders(settings)
    environments.record(settings)  # `env list` shows whose instance this is
    return pipeline.execute(run, steps[args.command])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one command, return its exit code (0 ok, 1 failed, 2 usage)."""
    for stream in (sys.stdout, sys.stderr):
        # A file name from undecodable bytes (`\udcff`) must print as an escape, not fail the command.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    handlers = {
{%- if cookiecutter.include_example == "yes" %}
        "generate": _generate,
{%- endif %}
        "report": _report,
        "add-source": _add_source,
        "contract": _contract,
        "env": _env,
        "run-many": _run_many,
        "docs": _docs,
    }
    try:
        return handlers.get(args.command, _pipeline)(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file the command reads or writes; the modules name the ones they expect
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or error
        print(f"error: cannot use{where} ({reason}); check the path and its permissions.", file=sys.stderr)
        return 1
