from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import cli, dbt_schema, warehouse_of
from {{ cookiecutter.package_name }} import build, config
from {{ cookiecutter.package_name }}.cli import main as cli_main
from {{ cookiecutter.package_name }}.errors import PipelineError, listed
from {{ cookiecutter.package_name }}.warehouses import AUDIT


def test_dbt_runs_against_the_environment_target_with_its_own_artifacts(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    args = build.dbt_args(["build"], settings, select=["fct_orders+", "tag:daily"], variables={"day": "2025-01-01"})
    assert args[0] == "build"
    assert args[args.index("--target") + 1] == "ci"
    assert args[args.index("--profiles-dir") + 1] == str(project)
    assert args[args.index("--target-path") + 1] == str(project / "target" / "ci")
    assert json.loads(args[args.index("--vars") + 1]) == {"day": "2025-01-01"}
    assert [args[i + 1] for i, a in enumerate(args) if a == "--select"] == ["fct_orders+", "tag:daily"]


def test_environment_values_are_set_only_for_the_dbt_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_THREADS", "9")
    monkeypatch.delenv("DBT_DUCKDB_PATH", raising=False)
    with build._environment({"DBT_THREADS": "2", "DBT_DUCKDB_PATH": "/x.duckdb"}):
        assert os.environ["DBT_THREADS"] == "2"
        assert os.environ["DBT_DUCKDB_PATH"] == "/x.duckdb"
    assert os.environ["DBT_THREADS"] == "9"
    assert "DBT_DUCKDB_PATH" not in os.environ


def test_a_dbt_crash_becomes_a_clear_pipeline_error(project: Path) -> None:
    (project / "dbt_project.yml").write_text("name: [unclosed\n", encoding="utf-8")
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    with pytest.raises(PipelineError, match="dbt build could not run"):
        build.invoke(settings, build.dbt_args(["build"], settings))


MANIFEST_WITH_UNIT_TESTS = {
    "nodes": {
        "model.p.fct_events": {"resource_type": "model", "name": "fct_events", "schema": "main", "alias": "fct_events"},
        "model.p.dim_days": {"resource_type": "model", "name": "dim_days", "schema": "marts", "alias": "days"},
    },
    "unit_tests": {
        "unit_test.p.fct_events.new_rows_only": {"model": "fct_events",
                                                 "given": [{"input": "ref('stg_events')"}, {"input": "this"}]},
        "unit_test.p.dim_days.a_day": {"model": "dim_days", "given": [{"input": "ref('stg_days')"}]},
    },
}  # fmt: skip


def test_a_message_names_up_to_its_limit_then_how_many_more() -> None:
    assert listed(["a", "b"], 3) == "a, b"
    assert listed(["a", "b", "c"], 3) == "a, b, c"
    assert listed(["a", "b", "c", "d", "e"], 3) == "a, b, c and 2 more"
    assert listed([], 3) == ""


def test_the_models_whose_unit_tests_read_this_are_found_with_their_relation() -> None:
    """Only a unit test with `input: this` needs the model's own relation before the build."""
    assert build.models_reading_this(MANIFEST_WITH_UNIT_TESTS) == {"fct_events": ("main", "fct_events")}
    assert build.models_reading_this({"nodes": {}}) == {}


@pytest.mark.duckdb
def test_only_relations_missing_from_the_audit_database_are_listed(project: Path) -> None:
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    wanted = {"fct_events": ("main", "fct_events"), "days": ("marts", "days")}
    assert build.missing_relations(settings, wanted) == ["days", "fct_events"]  # no audit database yet
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create table main.fct_events as select 1 as event_id")
    assert build.missing_relations(settings, wanted) == ["days"]


@pytest.mark.parametrize(
    ("select", "extra", "selected", "passed"),
    [
        pytest.param((), (), ["+fct_events"], [], id="a-full-build"),
        pytest.param(("fct_events+ tag:daily",), (), ["fct_events+,+fct_events", "tag:daily,+fct_events"], [],
                     id="a-selection"),
        pytest.param((), ("--select", "@state:modified", "--indirect-selection", "cautious", "--state", "prod"),
                     ["@state:modified,+fct_events"], ["--state", "prod"], id="slim-ci"),
        pytest.param((), ("--select", "state:modified+", "--defer", "--favor-state", "--state", "prod",
                          "--full-refresh"),
                     ["state:modified+,+fct_events"], ["--defer", "--favor-state", "--state", "prod"],
                     id="slim-ci-deferred"),
    ],
)  # fmt: skip
def test_the_empty_build_touches_only_what_the_build_rebuilds(
    project: Path, monkeypatch: pytest.MonkeyPatch, *, select: tuple[str, ...], extra: tuple[str, ...],
    selected: list[str], passed: list[str],
) -> None:  # fmt: skip
    """A relation emptied here and not rebuilt by the build itself would stay empty: the selection is intersected."""
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    calls: list[list[str]] = []

    def invoke(_settings: object, args: list[str], _manifest: object = None) -> build.BuildResult:
        calls.append(args)
        return build.BuildResult("run", True, ())

    monkeypatch.setattr(build, "invoke", invoke)
    build.build_empty(settings, ["fct_events"], select, None, extra)
    [args] = calls
    assert args[0] == "run" and args[-1] == "--empty"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--select"] == selected
    after = args[args.index("--log-path") + 2 : -1]
    others = [a for i, a in enumerate(after) if "--select" not in (a, after[i - 1]) and a != "--no-use-colors"]
    assert others == passed


# An incremental model with the usual filter, and the usual unit test of its incremental run.
INCREMENTAL_MODEL = """{% raw %}{{ config(materialized='incremental', unique_key='event_id') }}

with

events as (
    select * from (values (1, timestamp '2024-01-01'), (2, timestamp '2024-01-02'), (3, timestamp '2024-01-03'))
        as t (event_id, occurred_at)
),

final as (
    select * from events
    {% if is_incremental() %}
        where occurred_at > (select max(occurred_at) from {{ this }})
    {% endif %}
)

select * from final
{% endraw %}"""
INCREMENTAL_UNIT_TEST = """
unit_tests:
  - name: only_newer_events_are_added
    model: fct_events
    overrides: {macros: {is_incremental: true}}
    given:
      - input: this
        rows: [{event_id: 1, occurred_at: '2024-01-01'}, {event_id: 2, occurred_at: '2024-01-02'}]
    expect:
      rows: [{event_id: 3}]
"""


def _incremental_project(project: Path) -> None:
    """Replace the project's models with one incremental mart whose unit test reads `this`."""
    for folder in ("models", "data_tests", "data"):
        shutil.rmtree(project / folder, ignore_errors=True)
    (project / "data_tests").mkdir()
    marts = project / "models" / "marts"
    marts.mkdir(parents=True)
    (marts / "fct_events.sql").write_text(INCREMENTAL_MODEL, encoding="utf-8")
    (marts / "_marts__models.yml").write_text(INCREMENTAL_UNIT_TEST, encoding="utf-8")


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count dbt's parses of a project in this process (each full or partial parse loads a manifest once)."""
    from dbt.parser.manifest import ManifestLoader  # noqa: PLC0415 - dbt's 2 s import, integration tests only

    parses: list[str] = []
    real = ManifestLoader.get_full_manifest

    def counted(cls: type, config: Any, *args: Any, **kwargs: Any) -> Any:
        parses.append(str(config.project_root))
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ManifestLoader, "get_full_manifest", classmethod(counted))
    return parses


@pytest.mark.integration
def test_a_run_parses_the_project_once_and_still_writes_every_artifact(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freshness, the empty build and the build reuse the run's one parse; their artifacts are still written."""
    _incremental_project(project)
    parses = _count_parses(monkeypatch)
    assert cli_main(["run", "--env", "ci"]) == 0
    assert parses == [str(project)]
    target = project / "target" / "ci"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    assert any(r["unique_id"].endswith(".fct_events") and r["status"] == "success" for r in results)
    assert "results" in json.loads((target / "sources.json").read_text(encoding="utf-8"))
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert any(uid.endswith(".fct_events") for uid in manifest["nodes"])


def test_a_parse_is_reused_only_with_its_own_project_target_and_vars(project: Path) -> None:
    """Vars and the target are rendered into the parse: a call with others must let dbt parse again."""
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    manifest = object()
    parsed = build.Parsed(manifest, {}, settings.project_dir, "ci", build._frozen({"day": "2025-01-01"}))
    assert build._reused(parsed, settings, {"day": "2025-01-01"}) is manifest
    assert build._reused(parsed, settings, {"day": "2025-01-02"}) is None
    assert build._reused(parsed, settings, None) is None
    assert build._reused(None, settings, {"day": "2025-01-01"}) is None
    dev = config.resolve("dev", environ={"DBT_PROJECT_DIR": str(project)})
    assert build._reused(parsed, dev, {"day": "2025-01-01"}) is None


@pytest.mark.integration
def test_the_parse_in_memory_reads_as_manifest_json(project: Path) -> None:
    """Ingest reads the run's parse from memory: the sources, nodes and unit tests dbt writes to manifest.json."""
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    parsed = build.parse(settings)
    assert build.invoke(settings, build.dbt_args(["parse"], settings)).success
    written = json.loads((settings.target_dir / "manifest.json").read_text(encoding="utf-8"))
    for part in ("sources", "nodes", "unit_tests"):
        assert parsed.as_dict[part] == written[part], part


@pytest.mark.integration
def test_a_build_with_other_vars_than_the_parse_parses_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest parsed with one set of vars is never handed to a dbt call with another."""
    _incremental_project(project)
    settings = config.resolve("ci", environ={"DBT_PROJECT_DIR": str(project)})
    parses = _count_parses(monkeypatch)
    parsed = build.parse(settings, {"day": "1"})
    build.build(settings, ["fct_events"], {"day": "1"}, parsed=parsed)
    assert len(parses) == 1
    build.build(settings, ["fct_events"], {"day": "2"}, parsed=parsed)
    assert len(parses) == 3  # freshness and build each parse with the vars they were given


@pytest.mark.integration
def test_an_incremental_model_unit_tested_on_this_builds_in_full_on_a_fresh_instance(project: Path) -> None:
    """dbt cannot run a unit test reading `this` before the model exists: the run builds it empty first, then
    in full (with the usual filter, an empty table would stay empty)."""
    _incremental_project(project)
    out = cli(project, "run", "--env", "ci")
    assert "building fct_events empty first" in out
    assert "PASS fct_events::only_newer_events_are_added" in out
    with warehouse_of(project).session(AUDIT, read_only=True) as session:
        relation = session.relation(dbt_schema(project, "ci", "fct_events"), "fct_events")
        assert [tuple(row) for row in session.query(f"select count(*) from {relation}")] == [(3,)]
    # The next run finds the relation: no empty build, the unit test runs on it.
    again = cli(project, "run", "--env", "ci")
    assert "empty first" not in again
    assert "PASS fct_events::only_newer_events_are_added" in again
