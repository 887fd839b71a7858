"""The pipeline runs its steps in order and stops the line at the first failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.package_name }} import checks, config, pipeline
from {{ cookiecutter.package_name }}.errors import PipelineError


def _step(name: str, log: list[str], fail: bool = False) -> pipeline.Step:
    def step(run: pipeline.Run, say: Callable[[str], None]) -> None:
        log.append(name)
        if fail:
            raise PipelineError(f"{name} broke")

    return step


def test_steps_run_in_order_and_a_crash_stops_the_line_but_not_the_report(project: Path) -> None:
    run = pipeline.Run(config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}))
    log: list[str] = []
    said: list[str] = []
    steps = [
        ("a", _step("a", log)),
        ("b", _step("b", log, fail=True)),
        ("c", _step("c", log)),
        ("report", _step("report", log)),
    ]
    assert pipeline.execute(run, steps, say=said.append) == 1
    assert log == ["a", "b", "report"]
    assert "error: step 'b' failed: b broke" in said
    assert run.checks[-1].stops_the_line
    assert run.checks[-1].message == "b broke"


def test_a_failed_error_level_check_fails_the_run_without_a_crash(project: Path) -> None:
    run = pipeline.Run(config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}))

    def failing_check(run: pipeline.Run, say: Callable[[str], None]) -> None:
        run.checks.append(checks.Check("output", "keys", "error", "fail", "Got 1 result"))

    def warning(run: pipeline.Run, say: Callable[[str], None]) -> None:
        run.checks.append(checks.Check("input", "dupes", "warn", "fail", "Got 2 results"))

    said: list[str] = []
    assert pipeline.execute(run, [("w", warning)], say=said.append) == 0  # a warning flags, passes
    assert pipeline.execute(run, [("c", failing_check)], say=said.append) == 1
    assert "error: 1 error-level check(s) failed: keys" in said


def test_a_clean_run_exits_zero(project: Path) -> None:
    run = pipeline.Run(config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}))
    log: list[str] = []
    assert pipeline.execute(run, [("a", _step("a", log))], say=lambda _: None) == 0
    assert log == ["a"]
