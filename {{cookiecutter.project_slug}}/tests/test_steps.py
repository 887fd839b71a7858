"""The pipeline runs its steps in order and stops the line at the first failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.package_name }} import config, pipeline
from {{ cookiecutter.package_name }}.errors import PipelineError


def _step(name: str, log: list[str], fail: bool = False) -> pipeline.Step:
    def step(run: pipeline.Run, say: Callable[[str], None]) -> None:
        log.append(name)
        if fail:
            raise PipelineError(f"{name} broke")

    return step


def test_steps_run_in_order_and_a_failure_stops_the_line(project: Path) -> None:
    run = pipeline.Run(config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}))
    log: list[str] = []
    said: list[str] = []
    steps = [("a", _step("a", log)), ("b", _step("b", log, fail=True)), ("c", _step("c", log))]
    assert pipeline.execute(run, steps, say=said.append) == 1
    assert log == ["a", "b"]
    assert "error: step 'b' failed: b broke" in said


def test_a_clean_run_exits_zero(project: Path) -> None:
    run = pipeline.Run(config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)}))
    log: list[str] = []
    assert pipeline.execute(run, [("a", _step("a", log))], say=lambda _: None) == 0
    assert log == ["a"]
