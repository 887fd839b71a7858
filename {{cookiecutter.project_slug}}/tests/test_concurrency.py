"""One writer per environment instance, and databases held open by other processes.

Each case holds the instance's run lock (or a DuckDB file) in this process or a tiny helper
process and calls the CLI in-process: a refused command stops before dbt starts, so they are fast.
test_branches.py races two real pipeline processes on one branch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from conftest import PACKAGE
from {{ cookiecutter.package_name }} import cli as main_cli
from {{ cookiecutter.package_name }} import config, locking, parallel, publish
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.warehouses import duckdb as duckdb_warehouse
from {{ cookiecutter.package_name }}.warehouses.duckdb import snapshot

CI = {"PR_NUMBER": "7"}


def _settings(project: Path, env: str = "ci", **environ: str) -> config.Settings:
    return config.resolve(env, environ={"DBT_PROJECT_DIR": str(project), **CI, **environ})


@contextmanager
def _held_elsewhere(code: str) -> Iterator[subprocess.Popen[str]]:
    """A helper process that runs `code`, prints `held`, then waits; killed afterwards."""
    with subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('held', flush=True)\nimport sys; sys.stdin.readline()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "held"
            yield process
        finally:
            process.kill()


def _holding_the_instance(project: Path) -> str:
    """Python code that takes the ci_pr_7 instance's run lock as run `RUN-A` of command `run`."""
    return (
        f"from {PACKAGE} import config, locking\n"
        f"settings = config.resolve('ci', environ=dict(DBT_PROJECT_DIR={str(project)!r}, PR_NUMBER='7'))\n"
        "held = locking.instance_lock(settings, 'run', 'RUN-A')\n"
        "held.__enter__()"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["ingest"],
        ["build"],
        ["backfill", "--start", "2025-01-01", "--end", "2025-02-01"],
        ["unit-test"],
        ["docs"],
        ["env", "create"],
        ["env", "drop"],
    ],
)
def test_a_command_that_writes_a_held_instance_is_refused_naming_the_holder(
    project: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PR_NUMBER", "7")
    settings = _settings(project)
    with locking.instance_lock(settings, "run", "RUN-A"):
        assert main_cli.main([*argv, "--env", "ci"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: instance ci_pr_7 is in use by run RUN-A (pid {os.getpid()}, command `run`")
    assert err.strip().endswith("wait for it to finish (or stop that process), then run again.")
    assert err.count("\n") == 1
    assert not settings.audit_path.exists()  # nothing was written to the instance
    assert not settings.reports_dir.exists()


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PR_NUMBER", "7")
    with _held_elsewhere(_holding_the_instance(project)) as holder:
        assert main_cli.main(["env", "create", "--env", "ci"]) == 1
        assert f"in use by run RUN-A (pid {holder.pid}, command `run`" in capsys.readouterr().err
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert main_cli.main(["env", "create", "--env", "ci"]) == 0  # the stale lock file does not block it
    assert "created ci_pr_7" in capsys.readouterr().out


@pytest.mark.integration  # run-many starts its sets' pipelines in processes of their own, which reach the warehouse
def test_run_many_refuses_a_set_whose_instance_is_held(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CI.items():  # the sets' processes derive their instance from this environment too
        monkeypatch.setenv(name, value)
    settings = _settings(project)
    held = _settings(project, PIPELINE_INSTANCE="ci_pr_7__eu")
    said: list[str] = []
    with locking.instance_lock(held, "backfill", "RUN-B"):
        code = parallel.run_sets(settings, [parallel.ParameterSet("eu", ())], PACKAGE, say=said.append)
    assert code == 1
    text = "\n".join(said)
    assert "error: instance ci_pr_7__eu is in use by run RUN-B" in text
    assert "command `backfill`" in text
    assert "Traceback" not in text


def _tiny_audit(settings: config.Settings, rows: int) -> None:
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create or replace table main.fct_orders as select range as order_id from range(?)", [rows])


@pytest.mark.duckdb
def test_a_reader_of_the_published_file_does_not_block_publish_and_keeps_the_old_tables(project: Path) -> None:
    settings = _settings(project)
    marts = [publish.Relation("main", "fct_orders")]
    _tiny_audit(settings, 1)
    publish.publish(settings, marts)
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(settings.duckdb_path)!r}, read_only=True)\n"
            "count = lambda: con.execute('select count(*) from main.fct_orders').fetchone()[0]\n"
            "print(count(), flush=True)\n"
            "sys.stdin.readline()\n"
            "print(count(), flush=True)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as reader:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "1"
        _tiny_audit(settings, 3)
        assert publish.publish(settings, marts) == marts  # the open reader does not block it
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"  # the reader keeps the file it opened
    assert snapshot(settings.duckdb_path) == {"main.fct_orders": [(0,), (1,), (2,)]}  # a new connection: new tables
    assert [p.name for p in settings.duckdb_path.parent.iterdir() if "publishing" in p.name] == []


@pytest.mark.duckdb
def test_a_held_audit_database_fails_the_run_with_one_sentence_and_a_failed_report(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PR_NUMBER", "7")
    settings = _settings(project)
    _tiny_audit(settings, 1)
    code = f"import duckdb\ncon = duckdb.connect({str(settings.audit_path)!r}, read_only=True)"
    with _held_elsewhere(code) as holder:
        assert main_cli.main(["run", "--env", "ci"]) == 1
        sentence = (
            f"{settings.audit_path} is open in another process (pid {holder.pid}, e.g. a BI tool or notebook); "
            "close the other connection or wait, then run again."
        )
        out = capsys.readouterr().out
        assert f"error: step 'open' failed: {sentence}" in out
        assert f"history unavailable: {sentence}" in out
        assert "Traceback" not in out
    reports = sorted(settings.reports_dir.glob("*/report.json"))
    assert len(reports) == 1
    document = json.loads(reports[0].read_text(encoding="utf-8"))
    assert document["status"] == "failed"
    assert main_cli.main(["report", "--env", "ci"]) == 1  # `report` now shows this failed run as the latest
    assert document["run_id"] in capsys.readouterr().out


def test_duckdbs_lock_error_becomes_a_sentence_naming_the_file(tmp_path: Path) -> None:
    database = tmp_path / 'o\'brien "data" é.duckdb'
    duckdb.connect(str(database)).close()
    code = f"import duckdb\ncon = duckdb.connect({str(database)!r})"
    with _held_elsewhere(code) as holder, pytest.raises(PipelineError) as refused:
        duckdb_warehouse.ensure_writable(database)
    assert str(refused.value) == (
        f"{database} is open in another process (pid {holder.pid}, e.g. a BI tool or notebook); "
        "close the other connection or wait, then run again."
    )
    assert duckdb_warehouse.database_in_use(ValueError("Could not set lock on file")) is None
