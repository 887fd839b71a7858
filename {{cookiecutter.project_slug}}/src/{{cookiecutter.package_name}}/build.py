"""dbt through dbtRunner, in this process: dbt's ~2 s import is paid once per pipeline run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import PipelineError


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    execution_time: float
    message: str


@dataclass(frozen=True)
class BuildResult:
    command: str
    success: bool
    nodes: tuple[NodeResult, ...]

    def failures(self) -> list[NodeResult]:
        return [node for node in self.nodes if node.status in ("error", "fail", "runtime error")]


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """profiles.yml reads env vars: set this environment's values just for the dbt call."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_args(
    command: Sequence[str],
    settings: Settings,
    select: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    *,
    extra: Sequence[str] = (),
    project_dir: Path | None = None,
    target_dir: Path | None = None,
) -> list[str]:
    """The dbt command line for one environment: its target, its artifacts, its variables."""
    project = project_dir or settings.project_dir
    args = [
        *command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target", settings.env,
        "--target-path", str(target_dir or settings.target_dir),
        "--log-path", str(settings.log_dir),
    ]  # fmt: skip
    if variables:
        args += ["--vars", json.dumps(dict(variables))]
    for selector in select:
        args += ["--select", selector]
    return [*args, *extra]


def invoke(settings: Settings, args: list[str]) -> BuildResult:
    """Run one dbt command; a crash (not a failing test) becomes a PipelineError."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - a 2 s import, only when dbt runs

    with _environment(settings.dbt_env()):
        outcome = dbtRunner().invoke(args)
    if outcome.exception is not None:
        raise PipelineError(f"dbt {args[0]} could not run: {outcome.exception}")
    results: Any = getattr(outcome.result, "results", None) or []
    nodes = tuple(
        NodeResult(
            unique_id=result.node.unique_id,
            resource_type=str(result.node.resource_type),
            status=str(result.status),
            execution_time=float(result.execution_time or 0.0),
            message=str(result.message or ""),
        )
        for result in results
    )
    return BuildResult(command=" ".join(args[:1]), success=bool(outcome.success), nodes=nodes)


def build(
    settings: Settings,
    select: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
) -> list[BuildResult]:
    """Check source freshness, then `dbt build` (models, data tests and unit tests in DAG order)."""
    for stale in ("run_results.json", "sources.json"):  # never report a previous run's results
        (settings.target_dir / stale).unlink(missing_ok=True)
    freshness = invoke(settings, dbt_args(["source", "freshness"], settings, variables=variables))
    if not freshness.success:
        return [freshness]
    return [freshness, invoke(settings, dbt_args(["build"], settings, select, variables, extra=extra))]


def unit_tests(settings: Settings, variables: Mapping[str, str] | None = None) -> list[BuildResult]:
    """Run dbt's unit tests: their models' parents are built empty first, since dbt reads their columns."""
    parents = invoke(settings, dbt_args(["run"], settings, ["+test_type:unit"], variables, extra=["--empty"]))
    if not parents.success:
        return [parents]
    return [parents, invoke(settings, dbt_args(["test"], settings, ["test_type:unit"], variables))]
