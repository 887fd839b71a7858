from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import cli, pipeline


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[pipeline.Run, list[str]]]:
    """Record what the CLI would run instead of running it."""
    calls: list[tuple[pipeline.Run, list[str]]] = []

    def fake_execute(run: pipeline.Run, steps: list[tuple[str, pipeline.Step]]) -> int:
        calls.append((run, [name for name, _ in steps]))
        return 0

    monkeypatch.setattr(pipeline, "execute", fake_execute)
    return calls


def test_run_wires_env_selection_and_vars_into_one_run(
    project: Path, captured: list[tuple[pipeline.Run, list[str]]]
) -> None:
    argv = ["run", "--env", "ci", "--select", "fct_orders+", "--var", "day=2025-01-01", "--var", "region=eu=west"]
    assert cli.main(argv) == 0
    run, steps = captured[0]
    assert steps == ["ingest", "build", "check", "publish", "report"]
    assert run.settings.env == "ci"
    assert run.select == ("fct_orders+",)
    assert run.variables == {"day": "2025-01-01", "region": "eu=west"}


@pytest.mark.parametrize(
    ("command", "steps"),
    [
        ("ingest", ["ingest"]),
        ("build", ["build", "check", "publish", "report"]),
        ("unit-test", ["ingest", "unit tests"]),
    ],
)
def test_each_command_runs_its_steps(
    project: Path, captured: list[tuple[pipeline.Run, list[str]]], command: str, steps: list[str]
) -> None:
    assert cli.main([command]) == 0
    assert captured[0][1] == steps
    assert captured[0][0].settings.env == "dev"


def test_a_var_without_equals_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--var", "oops"])
    assert exit_info.value.code == 2
    assert "'oops' is not KEY=VALUE" in capsys.readouterr().err


def test_a_missing_setting_fails_with_the_fix_and_exit_code_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--env", "prod"]) == 1
    assert "export DBT_DUCKDB_PATH=" in capsys.readouterr().err


def test_report_before_any_run_explains_itself(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--env", "ci"]) == 0
    assert "no run found yet" in capsys.readouterr().out


def test_slim_and_select_together_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--slim", "--select", "fct_orders"]) == 1
    assert "drop --select, or drop --slim" in capsys.readouterr().err
