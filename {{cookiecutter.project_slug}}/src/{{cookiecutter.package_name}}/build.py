"""dbt through dbtRunner, in this process: dbt's ~2 s import and its parse are paid once per pipeline run.

`parse` returns a `Parsed` project; every later dbt call of the run (freshness, build, the empty build,
unit tests) takes it and hands dbt the parsed manifest (`dbtRunner(manifest=...)`) instead of parsing again,
as long as it runs with the parse's target and vars (`Parsed.fits`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config, warehouses
from .config import Settings
from .errors import PipelineError, listed

# What the incremental models were last built from, per instance: {"raw.orders": "<rows>:<hash>", ...}.
RAW_DIGESTS = "raw_digests.json"


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


@dataclass(frozen=True)
class Parsed:
    """dbt's parse of one project for one target and one set of vars.

    `manifest` is dbt's in-memory Manifest (what `dbtRunner().invoke(["parse"]).result` gives); `as_dict` holds
    its sources, nodes and unit tests as manifest.json would (`manifest_dict`, for ingest's specs). Vars and the
    target are rendered into the parse (`var()` in a config, `target.name` in a schema), so the manifest is
    reused only by a call with the same project, target and vars.
    """

    manifest: Any = field(repr=False)
    as_dict: dict[str, Any] = field(repr=False)
    project_dir: Path
    target: str
    variables: tuple[tuple[str, str], ...]

    def fits(self, settings: Settings, variables: Mapping[str, str] | None) -> bool:
        """Whether a dbt call for `settings` with `variables` may reuse this parse (same project, target, vars)."""
        return (
            self.project_dir == settings.project_dir
            and self.target == settings.env
            and self.variables == _frozen(variables)
        )


def _frozen(variables: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (variables or {}).items()))


def _reused(parsed: Parsed | None, settings: Settings, variables: Mapping[str, str] | None) -> Any:
    """The parsed manifest to hand dbt, or None (dbt parses) when there is none or it was parsed otherwise."""
    return parsed.manifest if parsed is not None and parsed.fits(settings, variables) else None


@contextmanager
def _environment(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    """profiles.yml reads env vars: set this environment's values, and unset `unset`, just for the dbt call."""
    saved = {name: os.environ.get(name) for name in [*values, *unset]}
    for name in unset:
        os.environ.pop(name, None)
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
    if not sys.stdout.isatty():  # colour codes only belong on a terminal, never in a redirected log
        args.append("--no-use-colors")
    if variables:
        args += ["--vars", json.dumps(dict(variables))]
    for selector in select:
        args += ["--select", selector]
    return [*args, *extra]


def invoke(settings: Settings, args: list[str], manifest: Any = None, *, artifact: Path | None = None) -> BuildResult:
    """Run one dbt command; a crash (not a failing test) becomes a PipelineError.

    `manifest` (dbt's Manifest from `parse`, or None) spares dbt its parse: the caller checks it was parsed
    with this call's target and vars (`Parsed.fits`). `artifact`: a path to write dbt's result object to, in
    dbt's own artifact format (for a call made with `--no-write-json`).
    """
    outcome = _run(settings, args, manifest)
    if artifact is not None and outcome.exception is None and hasattr(outcome.result, "write"):
        outcome.result.write(str(artifact))
    return _result(args, outcome)


def _result(args: list[str], outcome: Any) -> BuildResult:
    """Turn dbt's dbtRunnerResult into a BuildResult; a crash (dbt could not run at all) raises PipelineError."""
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


def _run(settings: Settings, args: list[str], manifest: Any = None) -> Any:
    """dbtRunner(manifest=manifest).invoke(args) in this environment's variables: dbt's dbtRunnerResult."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - a 2 s import, only when dbt runs

    warehouse = warehouses.for_settings(settings)
    warehouse.prepare()
    # A blank setting is an unset one (config.blank_profile_variables): profiles.yml's default applies.
    with _environment(warehouse.dbt_env(), config.blank_profile_variables(settings.project_dir, settings.env)):
        return dbtRunner(manifest=manifest).invoke(args)


def parse(settings: Settings, variables: Mapping[str, str] | None = None) -> Parsed:
    """Parse the project with dbt (once per run): dbt's manifest, and the parts of manifest.json the run reads.

    Ingest resolves the raw tables from `Parsed.as_dict` (ingest.load_specs), so ingest and dbt read the
    same sources; the later dbt calls of the run reuse the manifest (see `Parsed`). The parse writes no
    manifest.json (~0.4 s at the example's size, and the build writes it again at its end): `as_dict` is
    serialised from memory instead. dbt still saves its partial-parse state. Raises PipelineError when
    dbt cannot parse the project (dbt's message says which file), and (`refuse_outside`) when it would build a
    relation outside the instance.
    """
    outcome = _run(settings, dbt_args(["parse"], settings, variables=variables, extra=["--no-write-json"]))
    if outcome.exception is not None or not outcome.success or outcome.result is None:
        raise PipelineError(
            f"dbt could not parse the project in {settings.project_dir}; fix the file its log above names "
            f"(full log: {settings.log_dir / 'dbt.log'})."
        )
    as_dict = manifest_dict(outcome.result)
    refuse_outside(settings, as_dict)
    return Parsed(
        manifest=outcome.result,
        as_dict=as_dict,
        project_dir=settings.project_dir,
        target=settings.env,
        variables=_frozen(variables),
    )


# What dbt writes a relation for (a test's stored failures go to a schema derived from the target's, as dbt names it).
_BUILT = ("model", "seed", "snapshot")
# How many of the relations outside an instance `refuse_outside` names (then: "and <n> more").
_NAMED = 3


def refuse_outside(settings: Settings, manifest: Mapping[str, Any]) -> None:
    """Raise PipelineError, before anything is written, when the run would write a relation outside the instance.

    `manifest` is the parse as manifest.json holds it: `nodes` (`resource_type`, `schema`, `alias`, `config`,
    `original_file_path`; ephemeral models build nothing) and the `sources` ingest loads (those with a
    `meta.raw_file`: `schema`, `identifier`). The warehouse decides what is outside (`Warehouse.outside`): on a
    server, a schema not derived from the instance's own, which every branch's run would write alike, and which
    publish would copy onto itself. The sentence names up to `_NAMED` of them, models first. Two sources loaded into
    one table (the same `schema` and `identifier`) are refused too: each load would replace the other's rows.
    """
    nodes = [
        node
        for node in (manifest.get("nodes") or {}).values()
        if node.get("resource_type") in _BUILT and (node.get("config") or {}).get("materialized") != "ephemeral"
    ]
    loaded = [
        source
        for source in (manifest.get("sources") or {}).values()
        if {**(source.get("meta") or {}), **((source.get("config") or {}).get("meta") or {})}.get("raw_file")
        and (source.get("config") or {}).get("enabled", True)
    ]
    warehouse = warehouses.for_settings(settings)
    built = {warehouses.Relation(str(node["schema"]), str(node["alias"])): node for node in nodes}
    outside = warehouse.outside(list(built))
    if outside:
        raise PipelineError(
            f"dbt would build {_named(outside, built)} outside instance {settings.name}, where every branch's run "
            "would write the same schema; derive custom schemas from the target's, as dbt's default "
            "generate_schema_name does (`target.schema ~ '_' ~ custom_schema_name`; a snapshot: `schema` instead of "
            "`target_schema`), then run again; nothing was written."
        )
    sources = {
        warehouses.Relation(str(source["schema"]), str(source.get("identifier") or source["name"])): source
        for source in loaded
    }
    tables: dict[warehouses.Relation, list[str]] = {}
    for source in loaded:
        relation = warehouses.Relation(str(source["schema"]), str(source.get("identifier") or source["name"]))
        tables.setdefault(relation, []).append(f"{source['source_name']}.{source['name']}")
    shared = {relation: names for relation, names in tables.items() if len(names) > 1}
    if shared:
        relation, names = min(shared.items(), key=lambda item: (item[0].schema, item[0].name))
        raise PipelineError(
            f"the sources {' and '.join(names)} would both be loaded into table {relation.name} of schema "
            f"{relation.schema}, each over the other; give one of them an `identifier` of its own, then run again; "
            "nothing was written."
        )
    outside = warehouse.outside(list(sources))
    if outside:
        raise PipelineError(
            f"ingest would load {_named(outside, sources)} outside instance {settings.name}, where every branch's run "
            f"would replace what the others (prod too) read; declare the source's schema as the instance's raw "
            f"schema, env_var('{config.RAW_SCHEMA_VAR}', 'raw') in double braces as the example's sources do, then "
            "run again; nothing was written."
        )


def _named(outside: Sequence[warehouses.Relation], by_relation: Mapping[warehouses.Relation, Any]) -> str:
    """Up to `_NAMED` of `outside` as `file (schema s)`, then `and <n> more`."""
    ordered = sorted(outside, key=lambda relation: (relation.schema, relation.name))
    return listed(
        [f"{by_relation[r].get('original_file_path') or r.name} (schema {r.schema})" for r in ordered], _NAMED
    )


# Keys dbt keeps on a parsed node in memory and drops from manifest.json.
_IN_MEMORY_ONLY = ("config_call_dict", "unrendered_config_call_dict", "_event_status")


def manifest_dict(manifest: Any) -> dict[str, Any]:
    """The `sources`, `nodes` and `unit_tests` of dbt's in-memory Manifest, as manifest.json holds them.

    What the pipeline reads of a parse (ingest's raw tables, the models whose unit tests read `this`),
    without serialising the rest (dbt's hundreds of macros, docs, the graph maps) to a file.
    """
    writable = manifest.writable_manifest()
    parts: dict[str, Any] = {}
    for part in ("sources", "nodes", "unit_tests"):
        parts[part] = {}
        for unique_id, resource in getattr(writable, part).items():
            node = resource.to_dict(omit_none=False)
            for key in _IN_MEMORY_ONLY:
                node.pop(key, None)
            if node.get("defer_relation", "") is None:  # manifest.json leaves an empty one out
                del node["defer_relation"]
            parts[part][unique_id] = node
    # Through JSON as dbt writes it (datetimes in ISO format), so the dict equals what manifest.json would hold.
    as_json: dict[str, Any] = json.loads(json.dumps(parts, default=_json_value))
    return as_json


def _json_value(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def freshness(
    settings: Settings,
    variables: Mapping[str, str] | None = None,
    *,
    parsed: Parsed | None = None,
    sources: Sequence[str] | None = None,
) -> BuildResult:
    """`dbt source freshness` of every source, or of `sources` (unique ids); writes target/<instance>/sources.json.

    dbt would also rewrite manifest.json (~0.3 s at the example's size) though freshness changes nothing in it:
    it runs with `--no-write-json` and sources.json is written here from dbt's own result.
    """
    # `source:<source>.<table>` selects one source table; the unique id's package part is dbt's, not the selector's.
    select = [f"source:{'.'.join(uid.split('.')[2:])}" for uid in sources or ()]
    args = dbt_args(["source", "freshness"], settings, select, variables, extra=["--no-write-json"])
    manifest = _reused(parsed, settings, variables)
    return invoke(settings, args, manifest, artifact=settings.target_dir / "sources.json")


def build(
    settings: Settings,
    select: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    *,
    parsed: Parsed | None = None,
    fresh: Sequence[str] | None = None,
) -> list[BuildResult]:
    """Check source freshness, then `dbt build` (models, data tests and unit tests in DAG order).

    `parsed` (from `parse`, same target and vars) spares both calls dbt's parse. `fresh`: the sources whose
    freshness is checked, as source unique ids (`source.<package>.<source>.<table>`); None checks every source,
    an empty sequence none (no freshness call, no sources.json: a slim build that reads no source). Writes
    target/<instance>/sources.json, run_results.json and manifest.json. Raises PipelineError when `select` is
    given and matches no node dbt can build: dbt itself only warns "Nothing to do", and a run that did nothing
    must not pass.
    """
    for stale in ("run_results.json", "sources.json"):  # never report a previous run's results
        (settings.target_dir / stale).unlink(missing_ok=True)
    checked: list[BuildResult] = []
    if fresh is None or fresh:
        checked = [freshness(settings, variables, parsed=parsed, sources=fresh)]
        if not checked[0].success:
            return checked
    args = dbt_args(["build"], settings, select, variables, extra=extra)
    built = invoke(settings, args, _reused(parsed, settings, variables))
    if select and not built.nodes:
        selection = " ".join(select)
        raise PipelineError(
            f"--select '{selection}' matches no node in the project; check the name "
            f"(`dbt ls --select '{selection}'` lists what a selection matches)."
        )
    return [*checked, built]


def selected(
    settings: Settings,
    select: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    *,
    parsed: Parsed | None = None,
) -> list[str]:
    """The unique ids of the nodes `dbt build` with `select` and `extra` would run (`dbt ls`, no build).

    `extra` carries the slim selection (`--select state:modified+ --state <dir>`, `--indirect-selection`);
    `--defer` and `--favor-state` are dropped (they change where unselected parents are read from, not what is
    selected). With `parsed` (same target and vars) dbt lists from that parse instead of parsing again. Models,
    tests, unit tests, sources, seeds and snapshots alike. Raises PipelineError when dbt cannot list (e.g. a state
    folder without manifest.json).
    """
    listing = [argument for argument in extra if argument not in ("--defer", "--favor-state", "--full-refresh")]
    # `--log-level none`: the list is read from dbt's result, not printed (`--quiet` still prints it); a failure
    # is named below and in the log file.
    args = dbt_args(
        ["ls"], settings, select, variables,
        extra=[*listing, "--output", "json", "--output-keys", "unique_id", "--no-write-json", "--log-level", "none"],
    )  # fmt: skip
    outcome = _run(settings, args, _reused(parsed, settings, variables))
    if outcome.exception is not None or not outcome.success:
        raise PipelineError(
            f"dbt could not list what the selection builds: {outcome.exception or 'see its log above'} "
            f"(full log: {settings.log_dir / 'dbt.log'})."
        )
    return [str(json.loads(line)["unique_id"]) for line in outcome.result or []]


def models_reading_this(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """{model name: (schema, alias)} of the models with a unit test that gives `input: this` (manifest.json as a dict).

    Such a unit test (the usual one of an incremental model, run with `is_incremental: true`) reads the columns of
    the model's own relation, which dbt cannot do before the model was first built: dbt's docs ask to build it
    empty first (`dbt run --empty`).
    """
    names = {
        test["model"]
        for test in (manifest.get("unit_tests") or {}).values()
        if any(given.get("input") == "this" for given in test.get("given") or [])
    }
    return {
        node["name"]: (node["schema"], node["alias"])
        for node in (manifest.get("nodes") or {}).values()
        if node.get("resource_type") == "model" and node.get("name") in names
    }


def missing_relations(settings: Settings, relations: Mapping[str, tuple[str, str]]) -> list[str]:
    """The names of `relations` ({model: (schema, alias)}) not in the audit location (all, when it does not exist)."""
    if not relations:
        return []
    warehouse = warehouses.for_settings(settings)
    if not warehouse.exists(warehouses.AUDIT):
        return sorted(relations)
    with warehouse.session(warehouses.AUDIT, read_only=True) as session:
        present = {schema: set(session.tables(schema)) for schema in {schema for schema, _ in relations.values()}}
    return sorted(name for name, (schema, table) in relations.items() if table not in present[schema])


def build_empty(
    settings: Settings,
    models: Sequence[str],
    select: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    *,
    parsed: Parsed | None = None,
) -> BuildResult:
    """`dbt run --empty` of `models` and their parents: each becomes an empty relation with the model's columns.

    An empty run reads its parents, so they are built empty too, but only what the build's own selection (`select`,
    or `--select` in `extra`) rebuilds right after. `extra`'s other arguments (`--state`, `--defer`,
    `--favor-state`) go along.
    """
    selectors = [part for selector in select for part in selector.split()]
    rest: list[str] = []
    arguments = iter(extra)
    for argument in arguments:
        if argument == "--select":
            selectors += next(arguments, "").split()
        elif argument == "--indirect-selection":  # tests only: `run` has no use for it
            next(arguments, None)
        elif argument != "--full-refresh":
            rest.append(argument)
    # dbt reads `a,b` as the intersection of a and b.
    parents = [f"+{model}" for model in models]
    chosen = [f"{selector},{model}" for selector in selectors for model in parents] if selectors else parents
    args = dbt_args(["run"], settings, chosen, variables, extra=[*rest, "--empty"])
    return invoke(settings, args, _reused(parsed, settings, variables))


def raw_digests(settings: Settings, tables: Sequence[tuple[str, str]]) -> dict[str, str]:
    """A digest of each raw table's content in the audit database: {"schema.table": digest}.

    `tables` are (schema, table) pairs (the sources' raw tables). A table the ingest step loaded is
    known by what `<schema>._ingest_state` recorded of its load: `ingest:<rows>:<file sha256>:<spec digest>`
    (no table scan). Any other table by its content: `<rows>:<sum of the rows' hashes>`, which ignores
    row order and ingest's own `_loaded_at` column, and moves when a value or a repeated row changes (a
    XOR of row hashes would miss an even number of equal changes). A table missing from the audit
    database is left out.
    """
    warehouse = warehouses.for_settings(settings)
    if not warehouse.exists(warehouses.AUDIT):
        return {}
    digests = {}
    with warehouse.session(warehouses.AUDIT, read_only=True) as session:
        present = {schema: set(session.tables(schema)) for schema in {schema for schema, _ in tables}}
        for schema, table in tables:
            if table not in present[schema]:
                continue
            if warehouses.STATE in present[schema]:
                loaded = session.query(
                    f"select loaded_rows, sha256, spec_digest from {session.relation(schema, warehouses.STATE)} "
                    "where relation = ?",
                    [table],
                )
                if loaded:
                    digests[f"{schema}.{table}"] = "ingest:{}:{}:{}".format(*loaded[0])
                    continue
            digests[f"{schema}.{table}"] = session.digest(schema, table, skip=("_loaded_at",))
    return digests


def reprocess_reason(settings: Settings, digests: Mapping[str, str]) -> str:
    """Why the incremental models must be rebuilt in full, or '' when their raw data did not change.

    Compares `digests` (raw_digests) with those recorded after the last build that built every
    incremental model (target/<instance>/raw_digests.json). A microbatch model keeps its old batches
    otherwise: past periods whose raw rows changed would never be recomputed.
    """
    path = settings.target_dir / RAW_DIGESTS
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(recorded, dict):
        return "no record of the raw data the incremental models were built from"
    changed = sorted(name for name in set(recorded) | set(digests) if recorded.get(name) != digests.get(name))
    if changed:
        return f"raw data changed since the last build ({', '.join(changed)})"
    return ""


def record_digests(settings: Settings, digests: Mapping[str, str], built: Sequence[str]) -> bool:
    """Record `digests` as what the incremental models were built from, if this run built them all.

    `built` holds the unique ids of the models this run built successfully; the incremental ones
    come from target/<instance>/manifest.json. Returns whether the record was written.
    """
    manifest_path = settings.target_dir / "manifest.json"
    if not manifest_path.is_file():
        return False
    nodes = json.loads(manifest_path.read_text(encoding="utf-8")).get("nodes", {})
    incremental = {
        uid
        for uid, node in nodes.items()
        if node.get("resource_type") == "model" and (node.get("config") or {}).get("materialized") == "incremental"
    }
    if not incremental <= set(built):
        return False
    (settings.target_dir / RAW_DIGESTS).write_text(json.dumps(dict(digests), sort_keys=True), encoding="utf-8")
    return True


def unit_tests(
    settings: Settings, variables: Mapping[str, str] | None = None, *, parsed: Parsed | None = None
) -> list[BuildResult]:
    """Run dbt's unit tests: their models' parents are built empty first, since dbt reads their columns.

    `parsed` (same target and vars) spares both dbt calls their parse; without it the first call parses.
    """
    manifest = _reused(parsed, settings, variables)
    parents = invoke(settings, dbt_args(["run"], settings, ["+test_type:unit"], variables, extra=["--empty"]), manifest)
    if not parents.success:
        return [parents]
    return [parents, invoke(settings, dbt_args(["test"], settings, ["test_type:unit"], variables), manifest)]
