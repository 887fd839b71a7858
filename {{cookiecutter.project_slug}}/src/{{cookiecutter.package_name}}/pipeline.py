"""The value pipeline as an explicit list of steps over one Run object.

run = ingest -> build -> check -> publish -> report. Everything is written to and checked
in the audit location; `publish` copies the marts to where consumers read them only when
no error-level check failed. `report` always runs, so a failed run leaves its report too.
Every step reaches the warehouse through `warehouses.for_settings`.
dbt parses the project once per run (`Run.parsed`, made by the first step that needs it); every later
dbt call of the run reuses that parse.

A slim run (`--slim`) resolves production state before ingest, lists what its selection builds (`dbt ls`
through the run's parse) and ingests, and checks the freshness of, only the sources those nodes read
(`Run.sources`); full runs, `--select` runs and backfills load every raw table.

One run at a time per environment instance: `execute` holds the instance's run lock
(`locking.instance_lock`) from the first step to the report, and refuses to start while another
process holds it, so what is published is exactly what the run reporting PUBLISHED ingested,
built and checked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import build, checks, history, ingest, locking, publish, report, state, warehouses
from .config import Settings
from .errors import PipelineError


def _new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass
class Run:
    """One pipeline run: its parameters going in, each step's result coming out."""

    settings: Settings
    command: str = "run"  # the CLI command, recorded as the holder of the instance's run lock
    select: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    slim: bool = False
    backfill: tuple[str, str] | None = None
    reload: bool = False  # ingest loads every raw file again, even those unchanged since the last ingest
    run_id: str = field(default_factory=_new_run_id)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    started: float = field(default_factory=time.perf_counter)
    ingested: ingest.IngestResult | None = None
    # dbt's parse of the project, made once by the first step that needs it; every later dbt call reuses it.
    parsed: build.Parsed | None = field(default=None, repr=False)
    slim_state: state.State | None = None
    # The source unique ids a slim build reads (ingest loads, freshness checks only these); None: every source.
    sources: frozenset[str] | None = None
    skipped: tuple[str, ...] = ()  # raw tables (`schema.table`) this run did not load: its selection reads none
    builds: list[build.BuildResult] = field(default_factory=list)
    checks: list[checks.Check] = field(default_factory=list)
    published: list[publish.Relation] = field(default_factory=list)
    crashed: str = ""
    report_dir: str = ""

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The run's parse (sources, nodes, unit tests as manifest.json holds them); None before it parsed."""
        return self.parsed.as_dict if self.parsed is not None else None

    @property
    def built(self) -> list[str]:
        """The models this run built successfully (a slim build or a backfill builds a few)."""
        return [
            n.unique_id for r in self.builds for n in r.nodes if n.resource_type == "model" and n.status == "success"
        ]

    @property
    def failed(self) -> bool:
        return bool(self.crashed) or any(check.stops_the_line for check in self.checks)


Step = Callable[[Run, Callable[[str], None]], None]
# What `backfill` reprocesses unless told otherwise: the microbatch models and their tests.
BACKFILL_SELECTOR = "config.incremental_strategy:microbatch"


def _parsed(run: Run, say: Callable[[str], None] | None = None) -> build.Parsed:
    """The run's one parse of the project by dbt: ingest reads its sources, every dbt call reuses it.

    With `say`, the first call reports dbt's import and its parse as `    dbt import done in 2.0 s` and
    `    dbt parse done in 2.7 s` (wall seconds; the benchmarks read these lines as parts of the step).
    """
    if run.parsed is None:
        started = time.perf_counter()
        import dbt.cli.main  # noqa: F401, PLC0415 - dbt's ~2 s import, timed apart from its parse

        imported = time.perf_counter()
        run.parsed = build.parse(run.settings, run.variables)
        if say is not None:
            say(f"    dbt import done in {imported - started:.1f} s")
            say(f"    dbt parse done in {time.perf_counter() - imported:.1f} s")
    return run.parsed


def _specs(run: Run, say: Callable[[str], None] | None = None) -> list[ingest.TableSpec]:
    """The raw tables as dbt parses the sources (ingest and build share the run's one parse)."""
    return ingest.load_specs(_parsed(run, say).as_dict)


def _slim_selection(run: Run, say: Callable[[str], None]) -> None:
    """Resolve a slim run's production state (once) and the sources its selection reads (`Run.sources`).

    Needs the project, git and the state folder, not the audit database. Leaves `Run.sources` None (every
    source) when no state was found (a full build) or for a backfill.
    """
    if not run.slim or run.slim_state is not None:
        return
    started = time.perf_counter()
    run.slim_state = state.resolve(run.settings, say)
    if not run.slim_state.args or run.backfill:
        return
    parsed = _parsed(run, say)
    chosen = build.selected(run.settings, run.select, run.variables, run.slim_state.args, parsed=parsed)
    run.sources = frozenset(state.sources_read(parsed.as_dict, chosen))
    say(f"    slim selection done in {time.perf_counter() - started:.1f} s")


def _source_id(manifest: dict[str, Any], spec: ingest.TableSpec) -> str:
    """The unique id of the source table `spec` was read from (the run's parse as a dict)."""
    for unique_id, source in (manifest.get("sources") or {}).items():
        if source.get("source_name") == spec.source and source.get("name") == spec.name:
            return str(unique_id)
    return ""


def ingest_step(run: Run, say: Callable[[str], None]) -> None:
    """Load the raw files into the audit database; bad rows go to quarantine, a bad file stops the run.

    A slim run loads only the raw tables its selection reads (`_slim_selection`) and names the others.
    """
    pii_key = run.settings.pii_key  # first: staging without its own key stops here, before anything is written
    specs = _specs(run, say)
    if not specs:
        say("  no source table declares a meta.raw_file: nothing to ingest")
        return
    _slim_selection(run, say)
    if run.sources is not None:
        read = run.sources
        manifest = _parsed(run).as_dict
        run.skipped = tuple(f"{s.schema}.{s.table}" for s in specs if _source_id(manifest, s) not in read)
        specs = [spec for spec in specs if _source_id(manifest, spec) in read]
        if run.skipped:
            say(f"  not loaded, not read by the slim selection: {', '.join(run.skipped)}")
        if not specs:
            say("  the slim selection reads no raw table: nothing to ingest")
            return
    run.ingested = ingest.ingest(
        warehouses.for_settings(run.settings), specs, run.settings.raw_dir, run.run_id, say,
        pii_key=pii_key, reload=run.reload,
    )  # fmt: skip
    say(f"  {run.ingested.loaded_rows:,} rows loaded, {run.ingested.quarantined_rows:,} quarantined")
    run.checks += checks.quarantine_checks(
        {t.table: t.loaded_rows for t in run.ingested.tables},
        {t.table: t.quarantined_rows for t in run.ingested.tables},
    )


def build_step(run: Run, say: Callable[[str], None]) -> None:
    """Check freshness and build with dbt in the audit database (slim: only what changed)."""
    extra: tuple[str, ...] = ()
    if run.slim:
        _slim_selection(run, say)  # resolved already by the ingest step, unless the run has none
        extra = run.slim_state.args if run.slim_state is not None else ()
    fresh: list[str] | None = None if run.sources is None else sorted(run.sources)
    if fresh == []:
        say("  source freshness not checked: the slim selection reads no source")
    select = run.select
    if run.backfill:
        start, end = run.backfill
        extra = (*extra, "--event-time-start", start, "--event-time-end", end)
        select = select or (BACKFILL_SELECTOR,)
    # Past periods whose raw rows changed: a microbatch model would keep its old batches, so rebuild
    # the incremental models in full (a backfill reprocesses the range it was asked for instead).
    tables = [(spec.schema, spec.table) for spec in _specs(run)]
    digests = build.raw_digests(run.settings, tables)
    reason = "" if run.backfill else build.reprocess_reason(run.settings, digests)
    # A unit test reading `this` fails while the model was never built: build it empty first, as dbt's docs say,
    # then build it in full (the usual `where x > (select max(x) from this)` filter finds nothing to add
    # to an empty table).
    first = build.missing_relations(run.settings, build.models_reading_this(run.manifest or {}))
    if first:
        say(f"  building {', '.join(first)} empty first: a unit test reads its relation (`this`), not built yet")
        empty = build.build_empty(run.settings, first, select, run.variables, extra, parsed=run.parsed)
        if not empty.success:
            run.builds = [empty]
            return
        reason = reason or f"first build of {', '.join(first)}"
    if reason and not run.backfill:
        say(f"  reprocessing every period of the incremental models (--full-refresh): {reason}")
        extra = (*extra, "--full-refresh")
    run.builds = build.build(run.settings, select, run.variables, extra, parsed=run.parsed, fresh=fresh)
    # Digests of tables this run did not load are an older load's: only a run that loaded every table records.
    if not run.backfill and not run.skipped:
        build.record_digests(run.settings, digests, run.built)


def check_step(run: Run, say: Callable[[str], None]) -> None:
    """Turn dbt's results into checks with severities and add the pipeline's own checks."""
    target = run.settings.target_dir
    run.checks += checks.from_dbt(target) + checks.budget_checks(target) + checks.contract_checks(target)
    warehouse = warehouses.for_settings(run.settings)
    if warehouse.exists(warehouses.AUDIT):
        with warehouse.session(warehouses.AUDIT) as audit:
            run.checks += checks.regression_checks(audit, target, run.built)
            run.checks += checks.reconciliation_checks(
                audit, run.settings.project_dir, run.settings.raw_dir, target, built=run.built, deferred=run.slim
            )
    # Counted as the run summary counts them; the report step adds the trend checks after this.
    say(f"  so far {report.count_line(run.checks)}")


def publish_step(run: Run, say: Callable[[str], None]) -> None:
    """Publish the audited marts atomically, unless an error-level check failed."""
    errors, _, _ = checks.verdict(run.checks)
    if errors:
        say(f"  not published: {errors} error-level check(s) failed; consumers keep the previous tables")
        return
    # Only what this run built: a slim build or a backfill leaves the other published marts as they are.
    relations = publish.published_relations(run.settings.target_dir / "manifest.json", run.built)
    if not relations:  # never name a consumers' file that this run did not write
        say("  nothing published: this run built no relation that is published; consumers keep the previous tables")
        return
    run.published = publish.publish(run.settings, relations)
    say(f"  published {len(run.published)} relation(s) to {warehouses.for_settings(run.settings).where()}")


def unit_test_step(run: Run, say: Callable[[str], None]) -> None:
    """Run dbt's unit tests against empty parents; a failing unit test stops the run."""
    run.builds = build.unit_tests(run.settings, run.variables, parsed=run.parsed)
    run.checks += checks.from_dbt(run.settings.target_dir)
    units = [c for c in run.checks if c.stage == "business"]
    say(f"  {sum(c.status == 'pass' for c in units)} of {len(units)} unit tests passed")


def report_step(run: Run, say: Callable[[str], None]) -> None:
    """Write the run's report folder and history, and print the summary.

    The folder is written even when the audit database (which holds the history) is open in
    another process: the run's history and row counts are then left out, and the summary says so.
    """
    warehouse = warehouses.for_settings(run.settings)
    try:
        past = []
        if warehouse.exists(warehouses.AUDIT):
            with warehouse.session(warehouses.AUDIT) as session:
                past = history.load(session)
        audit_metrics = report.metrics(run.settings)
    except warehouses.InUse as refusal:
        say(f"  history unavailable: {refusal}")
        past, audit_metrics = None, {}
    seconds = time.perf_counter() - run.started
    metrics = {**audit_metrics, "seconds": round(seconds, 3)}
    limits = history.control(past or [], metrics)
    run.checks += history.trend_checks(limits)
    status = "failed" if run.failed else ("published" if run.published else "passed")
    if past is not None:
        with warehouse.session(warehouses.AUDIT) as session:
            history.append(
                session, run_id=run.run_id, started_at=run.started_at, status=status, seconds=seconds, metrics=metrics
            )
    document = report.document(
        settings=run.settings,
        run_id=run.run_id,
        started_at=run.started_at,
        seconds=seconds,
        status=status,
        parameters={"select": list(run.select), "vars": run.variables, "slim": run.slim, "backfill": run.backfill},
        checks=run.checks,
        ingested=run.ingested,
        history=[*(past or []), {"run_id": run.run_id, "started_at": run.started_at, "status": status,
                         "seconds": seconds, "metrics": metrics}],
        control=limits,
        not_loaded=run.skipped,
    )  # fmt: skip
    folder = report.write(run.settings, document)
    run.report_dir = str(folder)
    say(report.render_document(document))
    say(f"  report: {folder / 'report.html'}")


STEPS: list[tuple[str, Step]] = [
    ("ingest", ingest_step),
    ("build", build_step),
    ("check", check_step),
    ("publish", publish_step),
    ("report", report_step),
]
ALWAYS = ("report",)  # runs even after a failure, so every run leaves its report


def _crash(run: Run, name: str, error: PipelineError, say: Callable[[str], None]) -> None:
    say(f"error: step '{name}' failed: {error}")
    run.crashed = f"{name}: {error}"
    run.checks.append(checks.Check(name, f"{name} step", "error", "fail", str(error)))


def execute(
    run: Run,
    steps: list[tuple[str, Step]] = STEPS,
    say: Callable[[str], None] = print,
    always: tuple[str, ...] = ALWAYS,
) -> int:
    """Run the steps in order; a crash skips the rest but the report; exit 1 if anything stopped the line.

    Holds the instance's run lock throughout. Raises PipelineError, before any step and without
    writing anything, when another process holds it. The audit location held by another process
    (a notebook, a BI tool: warehouses.InUse) fails the run with a sentence naming it, and the report
    step still writes the run's folder.
    """
    with locking.instance_lock(run.settings, run.command, run.run_id):
        say(f"==> run {run.run_id} on {run.settings.env} ({run.settings.name})")
        try:
            locking.ensure_writable(run.settings)
        except PipelineError as error:
            _crash(run, "open", error, say)
        for name, step in steps:
            if run.crashed and name not in always:
                continue
            started = time.perf_counter()
            say(f"==> {name}")
            try:
                step(run, say)
            except PipelineError as error:  # a warehouse's refusal (warehouses.InUse) among them: one sentence
                _crash(run, name, error, say)
                continue
            say(f"    {name} done in {time.perf_counter() - started:.1f} s")
    if run.failed and not run.crashed:
        failed = [c.name for c in run.checks if c.stops_the_line]
        say(f"error: {len(failed)} error-level check(s) failed: {', '.join(failed[:5])}")
    return 1 if run.failed else 0
