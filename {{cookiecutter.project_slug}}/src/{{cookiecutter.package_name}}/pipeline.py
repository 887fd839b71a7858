"""The value pipeline as an explicit list of steps over one Run object: ingest -> build -> report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import build, ingest, report, state
from .config import Settings
from .errors import PipelineError


@dataclass
class Run:
    """One pipeline run: its parameters going in, each step's result coming out."""

    settings: Settings
    select: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    slim: bool = False
    run_id: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    ingested: ingest.IngestResult | None = None
    slim_state: state.State | None = None
    builds: list[build.BuildResult] = field(default_factory=list)
    summary: report.Summary | None = None


Step = Callable[[Run, Callable[[str], None]], None]


def _stop_on_failure(builds: list[build.BuildResult], what: str) -> None:
    """Raise, naming the failed nodes, if any dbt command of the step failed."""
    failed = [node for result in builds for node in result.failures()]
    if failed or not all(result.success for result in builds):
        names = ", ".join(node.unique_id for node in failed[:5]) or "see the dbt log above"
        raise PipelineError(f"{what} failed ({len(failed)} node(s): {names}).")


def ingest_step(run: Run, say: Callable[[str], None]) -> None:
    """Load the raw files; bad rows go to quarantine, a bad file stops the run."""
    specs = ingest.load_specs(run.settings.project_dir)
    if not specs:
        say("  no source table declares a meta.raw_file: nothing to ingest")
        return
    run.ingested = ingest.ingest(run.settings.duckdb_path, specs, run.settings.raw_dir, run.run_id, say)
    say(f"  {run.ingested.loaded_rows:,} rows loaded, {run.ingested.quarantined_rows:,} quarantined")


def build_step(run: Run, say: Callable[[str], None]) -> None:
    """Check freshness and build with dbt (slim: only what changed against production); errors stop the run."""
    extra: tuple[str, ...] = ()
    if run.slim:
        run.slim_state = state.resolve(run.settings, say)
        extra = run.slim_state.args
    run.builds = build.build(run.settings, run.select, run.variables, extra)
    _stop_on_failure(run.builds, f"dbt {run.builds[-1].command}")


def unit_test_step(run: Run, say: Callable[[str], None]) -> None:
    """Run dbt's unit tests against empty parents; a failing unit test stops the run."""
    run.builds = build.unit_tests(run.settings, run.variables)
    _stop_on_failure(run.builds, "dbt unit tests")
    say(f"  {sum(node.resource_type == 'unit_test' for node in run.builds[-1].nodes)} unit tests passed")


def report_step(run: Run, say: Callable[[str], None]) -> None:
    """Summarize the run from dbt's artifacts and the warehouse."""
    run.summary = report.summarize(run.settings)
    say(report.render(run.summary))


STEPS: list[tuple[str, Step]] = [("ingest", ingest_step), ("build", build_step), ("report", report_step)]


def execute(run: Run, steps: list[tuple[str, Step]] = STEPS, say: Callable[[str], None] = print) -> int:
    """Run the steps in order; the first failure stops the line with its reason and exit code 1."""
    say(f"==> run {run.run_id} on {run.settings.env} ({run.settings.duckdb_path.name})")
    for name, step in steps:
        started = time.perf_counter()
        say(f"==> {name}")
        try:
            step(run, say)
        except PipelineError as error:
            say(f"error: step '{name}' failed: {error}")
            return 1
        say(f"    {name} done in {time.perf_counter() - started:.1f} s")
    return 0
