"""No bad input reaches the user as a traceback: every variable and every argument, fed hostile values.

In-process and fast: each command is stopped where it would start real work (dbt, subprocesses,
data generation), so a value that is accepted shows up in a recorder instead.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import build, cli, config, {% if cookiecutter.include_example == "yes" %}generate, {% endif %}parallel, pipeline

HOSTILE = [
    "",
    "   ",
    "²",
    "٣",
    "x" * 10_000,
    "'\"",
    'it\'s "quoted"',
    "a\nb",
    "\x01\x07\x1b[31m\x7f\t",
    "\udcff",  # an undecodable byte in argv or the environment
    "nan",
    "inf",
    "-1",
    "1e999",
]
# A value of these must be refused unless blank (blank means unset).
NUMBERS_AND_NAMES = ("DBT_THREADS", "PIPELINE_FAULT", "DBT_PROJECT_DIR")
USAGE_ERROR = re.compile(rf"{re.escape(cli.PROG)}(?: [a-z-]+)?: error: .+")


class Stopped(list[str]):
    """What reached the point where real work would start (the instance name, or the command)."""


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Stopped:
    """A bare project (a dbt_project.yml, and the raw folders `run` checks) and every command's real work replaced."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: hostile\n", encoding="utf-8")
    for raw in (config.SAMPLE_DIR, Path("raw")):  # dev's and ci's default, prod's RAW_DATA_DIR below
        (project / raw).mkdir(parents=True)
    for var in config.VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(config.PROJECT_DIR_VAR, str(project))
    calls = Stopped()

    def execute(run: pipeline.Run, steps: object) -> int:
        calls.append(run.settings.name)
        return 0

    def run_sets(settings: config.Settings, sets: object, package: str) -> int:
        calls.append(settings.name)
        return 0

    def invoke(settings: config.Settings, args: list[str]) -> build.BuildResult:
        calls.append(settings.name)
        return build.BuildResult(command=args[0], success=True, nodes=())

    monkeypatch.setattr(pipeline, "execute", execute)
    monkeypatch.setattr(parallel, "run_sets", run_sets)
    monkeypatch.setattr(build, "invoke", invoke)
{%- if cookiecutter.include_example == "yes" %}

    def ensure(scale: float, project_dir: Path, seed: int = 0) -> Path:
        calls.append("generate")
        return project_dir / config.SAMPLE_DIR

    def write(scale: float, seed: int, out: Path, reference_dir: Path | None = None) -> generate.Generated:
        calls.append("generate")
        return generate.Generated(scale=scale, seed=seed)

    monkeypatch.setattr(generate, "ensure", ensure)
    monkeypatch.setattr(generate, "write", write)
{%- endif %}
    monkeypatch.setenv("GITHUB_HEAD_REF", "main")  # no git call per case
    monkeypatch.chdir(tmp_path)  # relative paths land in the test's folder
    return calls


def _outcome(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of one in-process CLI call; any other exception fails the test with its traceback."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    return code, capsys.readouterr().err


def _assert_one_sentence(code: int, err: str, stopped: Stopped, context: str) -> None:
    assert "Traceback" not in err, context
    lines = err.strip().splitlines()
    if code == 0:
        # `report` and `env list` do their (read-only) work in the test; every other command is stopped.
        assert stopped or context.startswith(("report ", "env ")), f"{context}: exit 0 but nothing ran"
        assert all(re.fullmatch(r"[a-z0-9_]{1,56}", name) for name in stopped if name != "generate"), stopped
    elif code == 1:
        assert len(lines) == 1, f"{context}: {err!r}"
        assert lines[0].startswith("error: "), f"{context}: {err!r}"
    elif code == 2:  # argparse: its usage lines, then one error line
        assert USAGE_ERROR.fullmatch(lines[-1]), f"{context}: {err!r}"
        assert all(not USAGE_ERROR.match(line) for line in lines[:-1]), f"{context}: {err!r}"
    else:
        pytest.fail(f"{context}: exit {code}, {err!r}")


@pytest.mark.parametrize("var", config.VARIABLES)
@pytest.mark.parametrize("env", ["dev", "ci", "prod"])
def test_every_environment_variable_fed_hostile_values(
    stopped: Stopped, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, var: str, env: str
) -> None:
    argv = ["run", "--env", env]
    if env == "prod":  # prod's required settings, valid unless the variable under test is one of them
        monkeypatch.setenv("DBT_DUCKDB_PATH", "prod.duckdb")
        monkeypatch.setenv("RAW_DATA_DIR", "raw")
    for value in HOSTILE:
        stopped.clear()
        monkeypatch.setenv(var, value)
        code, err = _outcome(argv, capsys)
        context = f"{var}={value[:30]!r} {' '.join(argv)}"
        _assert_one_sentence(code, err, stopped, context)
        assert code in (0, 1), context
        if code == 1:
            assert var in err, f"{context}: the message does not name the variable: {err!r}"
        if value.strip() and (var in NUMBERS_AND_NAMES or (var == "PR_NUMBER" and "ci" in argv)):
            assert code == 1, f"{context} was accepted"


def _options() -> Iterator[tuple[str, str | None]]:
    """(command, option) for every option that takes a value, and (command, None) for positionals."""
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in commands.choices.items():
        for action in subparser._actions:
            if not action.option_strings:
                yield command, None
            elif action.nargs != 0 and "--help" not in action.option_strings:
                yield command, action.option_strings[0]


# What each command needs besides the argument under test.
REQUIRED = {
    "generate": ["--out", "generated"],
    "backfill": ["--start", "2025-01-01", "--end", "2025-02-01"],
    "run-many": ["--set", "a:"],
    "env": ["list"],
}
# Options whose value has a shape: the hostile text goes in each part too.
SHAPED = {"--var": ["k={}", "{}=v"], "--set": ["a:{}", "{}:"]}


def _argv(command: str, option: str | None, value: str) -> list[str]:
    base = list(REQUIRED.get(command, []))
    if option is None:  # env's action is the only positional
        return [command, value]
    if option in base:
        del base[base.index(option) : base.index(option) + 2]
    return [command, *base, option, value]


@pytest.mark.parametrize(("command", "option"), list(_options()))
def test_every_cli_argument_fed_hostile_values(
    stopped: Stopped, capsys: pytest.CaptureFixture[str], command: str, option: str | None
) -> None:
    values = [shape.format(value) for value in HOSTILE for shape in SHAPED.get(option or "", ["{}"])]
    for value in values:
        stopped.clear()
        code, err = _outcome(_argv(command, option, value), capsys)
        _assert_one_sentence(code, err, stopped, f"{command} {option} {value[:30]!r}")


def test_the_sweep_covers_every_variable_config_reads() -> None:
    written = ("DEFER_DATABASE_VAR", "SCHEMA_VAR", "RAW_SCHEMA_VAR")  # set for dbt by the pipeline, never read
    declared = {value for name, value in vars(config).items() if name.endswith("_VAR") and name not in written}
    assert declared <= set(config.VARIABLES)
