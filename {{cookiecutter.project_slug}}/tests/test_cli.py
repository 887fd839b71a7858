from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import build, cli, config, parallel, pipeline, report

Calls = list[tuple[pipeline.Run, list[tuple[str, pipeline.Step]]]]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Record the run and the exact (name, function) steps the CLI hands to `execute`, instead of running them."""
    calls: Calls = []

    def fake_execute(run: pipeline.Run, steps: list[tuple[str, pipeline.Step]]) -> int:
        calls.append((run, list(steps)))
        return 0

    monkeypatch.setattr(pipeline, "execute", fake_execute)
    return calls


def test_run_wires_env_selection_and_vars_into_one_run(project: Path, captured: Calls) -> None:
    argv = ["run", "--env", "ci", "--select", "fct_orders+", "--var", "day=2025-01-01", "--var", "region=eu=west"]
    assert cli.main(argv) == 0
    run, steps = captured[0]
    assert steps == pipeline.STEPS
    assert run.settings.env == "ci"
    assert run.select == ("fct_orders+",)
    assert run.variables == {"day": "2025-01-01", "region": "eu=west"}


# The functions, not just the names: a command wired to the wrong step function must fail here.
EXPECTED_STEPS = {
    "run": [
        ("ingest", pipeline.ingest_step),
        ("build", pipeline.build_step),
        ("check", pipeline.check_step),
        ("publish", pipeline.publish_step),
        ("report", pipeline.report_step),
    ],
    "ingest": [("ingest", pipeline.ingest_step)],
    "build": [
        ("build", pipeline.build_step),
        ("check", pipeline.check_step),
        ("publish", pipeline.publish_step),
        ("report", pipeline.report_step),
    ],
    "unit-test": [("ingest", pipeline.ingest_step), ("unit tests", pipeline.unit_test_step)],
}


@pytest.mark.parametrize("command", sorted(EXPECTED_STEPS))
def test_each_command_runs_its_step_functions(project: Path, captured: Calls, command: str) -> None:
    assert cli.main([command]) == 0
    run, steps = captured[0]
    assert steps == EXPECTED_STEPS[command]
    assert run.settings.env == "dev"
    assert run.backfill is None
    assert run.reload is False  # unchanged raw files are reused unless asked


@pytest.mark.parametrize("command", ["run", "ingest", "unit-test"])
def test_reload_asks_ingest_to_load_every_raw_file_again(project: Path, captured: Calls, command: str) -> None:
    assert cli.main([command, "--reload"]) == 0
    run, _ = captured[0]
    assert run.reload is True


def test_pipeline_steps_are_the_documented_order() -> None:
    # The CLI slices pipeline.STEPS; this pins what the slices hold.
    assert EXPECTED_STEPS["run"] == pipeline.STEPS
    assert pipeline.ALWAYS == ("report",)


def test_backfill_rebuilds_the_range_without_ingesting(project: Path, captured: Calls) -> None:
    assert cli.main(["backfill", "--start", "2025-01-01", "--end", "2025-02-01", "--select", "fct_daily_revenue"]) == 0
    run, steps = captured[0]
    assert steps == EXPECTED_STEPS["build"]
    assert run.backfill == ("2025-01-01", "2025-02-01")
    assert run.select == ("fct_daily_revenue",)


def test_docs_generates_the_site_from_this_instance(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[list[str]] = []

    def fake_invoke(settings: object, args: list[str]) -> build.BuildResult:
        calls.append(args)
        return build.BuildResult(command=args[0], success=True, nodes=())

    monkeypatch.setattr(build, "invoke", fake_invoke)
    assert cli.main(["docs", "--env", "ci"]) == 0
    assert calls[0][:2] == ["docs", "generate"]
    assert calls[0][calls[0].index("--target") + 1] == "ci"
    assert calls[0][calls[0].index("--target-path") + 1] == str(project / "target" / "docs")
    assert "docs site:" in capsys.readouterr().out


def test_run_many_hands_every_set_to_the_parallel_runner(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[parallel.ParameterSet]]] = []

    def run_sets(settings: config.Settings, sets: list[parallel.ParameterSet], package: str) -> int:
        calls.append((settings.name, sets))
        return 3

    monkeypatch.setattr(parallel, "run_sets", run_sets)
    assert cli.main(["run-many", "--env", "ci", "--set", "eu:--var region=eu", "--set", "us:"]) == 3
    assert calls == [("ci", [parallel.ParameterSet("eu", ("--var", "region=eu")), parallel.ParameterSet("us", ())])]


def test_a_var_without_equals_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--var", "oops"])
    assert exit_info.value.code == 2
    assert "'oops' is not KEY=VALUE" in capsys.readouterr().err


@pytest.mark.duckdb
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run-many", "--set", "eu:--var 'region=eu"], "do not parse (No closing quotation)"),
        (["run-many", "--set", "audit:"], "(not starting with `audit` or `raw`)"),
        (["run-many", "--set", "raw:"], "(not starting with `audit` or `raw`)"),
        (["run-many", "--set", "raw2:--var x=1"], "(not starting with `audit` or `raw`)"),
        (["run-many", "--set", "eu:--bogus"], "--set eu: `run` has no option '--bogus'; give it only options of `run`"),
        (["run-many", "--set", "eu:--help"], "--set eu: `run` has no option '--help'"),
        (["run-many", "--set", "eu:--var x"], "--set eu: argument --var: 'x' is not KEY=VALUE"),
        (["run-many", "--set", "eu:--env prod"], "--set eu: every set runs in run-many's environment; drop --env"),
        (["run-many", "--set", "eu:--env=prod"], "--set eu: every set runs in run-many's environment; drop --env"),
{%- if cookiecutter.include_example == "yes" %}
        (["run-many", "--set", "eu:--scale 0.1 --raw-dir x"], "--set eu: --scale generates the raw folder it reads"),
{%- endif %}
        (["backfill", "--start", "2025-01-01", "--end", "²"], "'²' is not a date"),
        (["backfill", "--start", "2025-02-30", "--end", "2025-03-01"], "'2025-02-30' is not a date"),
        (["run", "--select", " "], "--select ' ' is blank"),
        (["run", "--raw-dir", "x" * 10_000], "--raw-dir='xxxx"),
    ],
)
def test_bad_arguments_are_usage_errors_in_one_sentence(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error
    assert len(error) < 400


{%- if cookiecutter.include_example == "yes" %}


def test_scale_and_a_raw_folder_together_are_refused_before_anything_runs(
    project: Path, captured: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scale generates the folder it reads: a --raw-dir beside it was silently ignored."""
    assert cli.main(["ingest", "--scale", "0.1", "--raw-dir", str(project)]) == 1
    assert "--scale generates the raw folder it reads; give --scale or --raw-dir, not both." in capsys.readouterr().err
    assert not captured
{%- endif %}


@pytest.mark.duckdb
def test_a_database_folder_that_cannot_be_written_is_one_sentence(
    project: Path, captured: Calls, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "a_file").write_text("", encoding="utf-8")
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(project / "a_file" / "dev.duckdb"))
    assert cli.main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write in {project / 'a_file'} (") and err.count("\n") == 1
    assert not captured  # stopped before the run started


@pytest.mark.parametrize(
    ("folder", "what"), [("reports", "run reports"), ("target", "dbt artifacts"), ("logs", "dbt logs")]
)
def test_a_run_folder_that_cannot_be_written_is_one_sentence_before_anything_is_written(
    project: Path, captured: Calls, capsys: pytest.CaptureFixture[str], folder: str, what: str
) -> None:
    """A mount the step image cannot write, a read-only checkout: a file in the folder's place fails so, as root too."""
    (project / folder).write_text("", encoding="utf-8")
    before = sorted(path for path in project.rglob("*"))
    assert cli.main(["run", "--env", "ci"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write in {project / folder / 'ci'} (") and err.count("\n") == 1
    assert f"the run writes its {what} there" in err
    assert not captured  # stopped before the run started
    assert not (project / "warehouse").exists()  # no database, lock or owner file
    assert not [path for path in project.rglob("*") if path not in before and not path.is_dir()]  # no file at all


def test_an_os_error_no_module_expected_is_one_sentence_not_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise PermissionError(13, "Permission denied", str(project / "models" / "x.sql"))

    monkeypatch.setattr(cli, "_pipeline", refuse)
    assert cli.main(["run"]) == 1
    err = capsys.readouterr().err
    path = project / "models" / "x.sql"
    assert err == f"error: cannot use {path} (Permission denied); check the path and its permissions.\n"


def test_an_unwritable_markdown_file_is_one_sentence(
    project: Path, captured: Calls, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "reports" / "ci" / "20260101T000000Z-abc123"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text('{"status": "passed"}', encoding="utf-8")
    (folder / "summary.md").write_text("### summary\n", encoding="utf-8")
    monkeypatch.setattr(report, "render_document", lambda document: "Run summary (ci): PASSED")
    assert cli.main(["report", "--env", "ci", "--markdown", str(project / "missing" / "summary.md")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot append to --markdown '") and err.count("\n") == 1


def test_every_subcommand_help_opens_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description, f"`{name} --help` has no description"
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        assert " ".join(sub.description.split()) in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "case",  # argv, environment, message
    [
        (["run", "--raw-dir", "/nonexistent"], {}, "--raw-dir '/nonexistent' does not exist; name the folder"),
        (["ingest", "--raw-dir", "missing"], {}, "--raw-dir 'missing' does not exist; name the folder"),
        (["unit-test", "--raw-dir", "missing"], {}, "--raw-dir 'missing' does not exist; name the folder"),
        (["run"], {"RAW_DATA_DIR": "/nonexistent"}, "RAW_DATA_DIR='/nonexistent' does not exist; name the folder"),
        (["run-many", "--set", "eu:"], {"RAW_DATA_DIR": "/nonexistent"}, "RAW_DATA_DIR='/nonexistent' does not exist"),
        (["run-many", "--set", "eu:--raw-dir missing"], {}, "--set eu: --raw-dir 'missing' does not exist"),
        (["run", "--raw-dir", "FILE"], {}, "is a file, not a folder; name the folder that holds the raw files."),
        (["run"], {"RAW_DATA_DIR": "FILE"}, "is a file, not a folder; name the folder that holds the raw files."),
    ],
)
def test_a_raw_folder_that_is_missing_or_a_file_is_refused_before_the_warehouse_opens(
    project: Path,
    captured: Calls,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[list[str], dict[str, str], str],
) -> None:
    """A mistyped --raw-dir or $RAW_DATA_DIR (or a raw file named instead of its folder) is one sentence, exit 1."""
    argv, environ, message = case
    raw_file = str(project / "orders.csv")  # a raw file named instead of the folder that holds it
    (project / "orders.csv").write_text("order_id\n1\n", encoding="utf-8")
    for name, value in environ.items():
        monkeypatch.setenv(name, raw_file if value == "FILE" else value)
    ran: list[object] = []

    def run_sets(*args: object, **kwargs: object) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr(parallel, "run_sets", run_sets)
    before = sorted(path for path in project.rglob("*"))
    assert cli.main([raw_file if arg == "FILE" else arg for arg in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    if "RAW_DATA_DIR" in environ:
        assert "RAW_DATA_DIR=" in err and "--raw-dir" not in err  # names where the value came from
    assert not captured and not ran  # no run started, no set either
    assert not (project / "warehouse").exists()  # no database, lock or owner file
    assert [path for path in project.rglob("*") if path not in before] == []  # nothing written at all


def test_add_source_help_lists_only_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["add-source", "--help"])
    out = capsys.readouterr().out
    assert "--raw-dir" in out and "--source" in out
    assert "--reload" not in out and "--scale" not in out  # ingest's options, which add-source does not use


def test_env_commands_ask_for_the_warehouse_settings_of_a_shared_target_not_its_masking_key(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`env drop` reaches the instance where the target's profile says, so it asks for the profile's settings.

    Each setting the profile reads without a default is asked for, never a local server assumed (an unset PGHOST
    once meant libpq's local socket, where a staging schema of another server's name could be dropped); the
    masking key and the raw folder, which drop never uses, are not.
    """
    variables = config.profile_variables(project, "staging")
    for variable in (*variables, "PII_HASH_KEY"):
        monkeypatch.delenv(variable, raising=False)
    assert cli.main(["env", "drop", "--env", "staging", "--allow-shared"]) == 1
    err = capsys.readouterr().err
    needed = [v for v in variables if v not in config.PIPELINE_SET or v == config.DUCKDB_PATH_VAR]
    assert needed and all(variable in err for variable in needed), err
    assert "PII_HASH_KEY" not in err and "RAW_DATA_DIR" not in err
{%- if cookiecutter.warehouse in ("duckdb", "postgres") %}


# Where a drop runs here: a DuckDB file, or the tests' PostgreSQL server (conftest sets its PG* variables).
@pytest.mark.parametrize(
    "argv", [["env", "drop", "--env", "staging", "--allow-shared"], ["env", "list", "--env", "prod"]]
)
def test_env_commands_need_no_raw_folder_in_shared_environments(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Dropping or listing an instance reads no raw file: staging and prod do not ask for $RAW_DATA_DIR there."""
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(project / "shared.duckdb"))  # where staging's database is, on DuckDB
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert "RAW_DATA_DIR" not in capsys.readouterr().err
{%- endif %}
