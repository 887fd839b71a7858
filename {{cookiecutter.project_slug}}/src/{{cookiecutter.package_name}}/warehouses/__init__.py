"""The warehouse seam: everything the pipeline asks of a warehouse, and which implementation answers.

A `Warehouse` is one *instance* of one dbt target (`dev__<branch>`, `ci_pr_<n>`, `staging`, `prod`, or a
`run-many` parameter set) with two locations: the **audit** location, where ingest loads the raw schemas and
dbt builds and checks everything, and the **published** location, the one consumers read, which only `publish`
writes. DuckDB keeps them in two files (`<stem>__audit.duckdb` and `<stem>.duckdb`); a server warehouse keeps
them in two schemas (`<instance>__audit` and `<instance>`). One module per warehouse implements the interface
(`duckdb.py`, ...); `for_settings` picks it by the dbt adapter type of the environment's target in
`profiles.yml`, so nothing outside this package names a warehouse. Each implementation module exposes a
`Warehouse` class built from Settings (`Warehouse(settings)`, satisfying the `Warehouse` protocol) and a
module-level `list_instances(project_dir, shared)`; mypy checks the conformance (`_conforms` in duckdb.py).

SQL handed to a `Session` is plain SQL that runs on every supported warehouse (no engine-only function) with
`?` placeholders (an implementation rewrites them for its driver); where a statement must differ, the
implementation owns it (a method here). Every warehouse failure is raised as `WarehouseError` (subclasses
`MissingRelation`, `InUse`), a PipelineError whose message is one sentence: callers never catch a driver's
exception.

Ingest validates every raw file locally, in an in-process DuckDB engine (`RawLoader.engine`), and hands the
checked rows to the warehouse as a query over that engine (`LocalRows`): DuckDB's engine *is* the audit
database, so its load is SQL in the same file with no copy; a remote warehouse reads the rows as Arrow record
batches (`engine.execute(query, params).fetch_record_batch()`) and bulk-loads them.

The instance's run lock stays a local file lock (locking.py) at `Warehouse.lock_path`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import yaml

from ..config import Settings
from ..errors import PipelineError

if TYPE_CHECKING:
    import duckdb as duckdb_module

Location = Literal["audit", "published"]
AUDIT: Location = "audit"
PUBLISHED: Location = "published"
# Parameters of one statement: positional for `?` placeholders.
Params = Sequence[object]
# The dbt adapter types with an implementation here, and the module that holds each.
IMPLEMENTATIONS = {
    "duckdb": "duckdb", "postgres": "postgres", "spark": "spark",
    "snowflake": "snowflake", "bigquery": "bigquery", "databricks": "databricks",
}  # fmt: skip
DEFAULT_TYPE = "duckdb"
# The tables ingest keeps beside the raw tables of each raw schema (columns: `RawLoader.load_raw`, ingest.py).
QUARANTINE = "_quarantine"
STATE = "_ingest_state"
# The schema of the run history (history.py) as the pipeline's SQL names it. DuckDB keeps it as it is, in the
# instance's own audit file; a server warehouse's audit session names its instance's audit schema by it, so every
# instance keeps its own history and `drop` removes it.
HISTORY_SCHEMA = "pipeline"
# Settings.fault that stops the process in the middle of `publish` (the write-audit-publish tests only).
KILL_DURING_PUBLISH = "kill-during-publish"


class WarehouseError(PipelineError):
    """A warehouse refused or failed a statement; the message is one sentence naming what and where."""


class MissingRelation(WarehouseError):
    """A statement named a relation (or schema) that does not exist in the location it ran in."""


class InUse(WarehouseError):
    """Another process holds the location (DuckDB: a writer or reader holds the file); the message names it."""


@dataclass(frozen=True)
class Relation:
    """A relation inside one location: its schema and table name as dbt built them (manifest `schema`, `alias`)."""

    schema: str
    name: str


def outside_schemas(relations: Sequence[Relation], audit: str, raw: str) -> list[Relation]:
    """The relations in none of an instance's schemas: `audit`, the ones dbt derives from it (`<audit>_x`), `raw`.

    What a schema-per-instance warehouse (Postgres, Spark's databases, the cloud ones) answers for `outside`.
    """
    return [r for r in relations if r.schema not in (audit, raw) and not r.schema.startswith(f"{audit}_")]


def published_schema(schema: str, audit: str, name: str) -> str:
    """Where a schema of an instance's audit location is published: `<name>__audit[_x]` -> `<name>[_x]`.

    A schema outside the audit location (`audit` and the `<audit>_x` dbt derives from it) is returned as is.
    What a schema-per-instance warehouse (Postgres, Spark's databases, the cloud ones) answers for its publish.
    """
    return name + schema[len(audit) :] if schema.startswith(audit) else schema


@dataclass(frozen=True)
class Instance:
    """One instance as `env list` shows it; `owner` is who it belongs to (`branch 'feat/a'`), or `?`.

    `path` is where it lives: the published database file (DuckDB), or `schema <name>` on a server, as a Path
    only for DuckDB; `size_bytes` is 0 where the warehouse does not say.
    """

    name: str
    env: str
    path: Path
    size_bytes: int
    owner: str = "?"


@dataclass(frozen=True)
class LocalRows:
    """Rows the local validation engine computes: one `select` statement over `RawLoader.engine`.

    Engine SQL, not warehouse SQL: it may use DuckDB's functions and named `$name` parameters (`params` as a
    mapping) or `?` ones (a sequence). Not materialised until the loader reads it: DuckDB's loader runs it
    inside the audit file itself; a remote loader fetches it as Arrow record batches and bulk-loads them.
    """

    query: str
    params: Params | Mapping[str, object] = ()


@dataclass(frozen=True)
class IngestRecord:
    """One raw table's load as ingest records it in `<schema>._ingest_state`, besides the counts.

    `schema`.`relation` is the raw table (dbt's identifier), `source_table` its source name, `sha256` the
    file's bytes, `spec_digest` the spec's (ingest.spec_digest), `run_id` the loading run. The counts are the
    loader's: what the table and its quarantine hold after the load.
    """

    schema: str
    relation: str
    source_table: str
    raw_file: str
    sha256: str
    spec_digest: str
    run_id: str


@dataclass(frozen=True)
class Kept:
    """A raw table's last load that can be kept (`RawLoader.reusable`): its run id and counts."""

    run_id: str
    loaded_rows: int
    quarantined_rows: int


class Session(Protocol):
    """A connection to one location of an instance, for the pipeline's own queries (history, checks, metrics).

    Relations without a schema-qualifying database resolve in the session's location. Every method raises
    WarehouseError (MissingRelation for an absent relation) instead of a driver's exception.
    """

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement with `?` placeholders, as tuples of Python values (datetime, float, str, ...)."""
        ...

    def query_with_names(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Like `query`, with the result's column names first (reconciliation queries are read by name)."""
        ...

    def execute(self, sql: str, params: Params = ()) -> None:
        """Run one statement with `?` placeholders; in a transaction only inside `transaction()`."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Statements inside commit together on a normal exit and roll back on an exception."""
        ...

    def tables(self, schema: str) -> list[str]:
        """The tables and views of `schema` in this location, sorted; [] when the schema does not exist."""
        ...

    def describe(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(column name, data type as the warehouse spells it) of a table, in order; MissingRelation if absent."""
        ...

    def digest(self, schema: str, table: str, skip: Sequence[str] = ()) -> str:
        """`<rows>:<digest>` of a table's content without the `skip` columns, independent of row order.

        The digest moves when a value or a repeated row changes (a sum of row hashes, not a XOR); only the same
        warehouse's digests are compared. MissingRelation when the table does not exist.
        """
        ...

    def relation(self, *parts: str) -> str:
        """A quoted, qualified relation name (`relation("raw", "orders")` -> `"raw"."orders"`)."""
        ...

    def production(self) -> bool:
        """Whether this instance has a production to compare with or defer to (Settings.defer_path / prod)."""
        ...

    def production_relation(self, schema: str, name: str, database: str | None = None) -> str:
        """A quoted relation naming `schema.name` in production, readable in this session.

        `database` is given for a relation dbt deferred to: its `defer_relation.database` ('' when dbt gave
        none); None for any other relation of production. DuckDB attaches the production file read-only, for
        the session's life, under that name (else a name of its own); Postgres reads another schema of the
        same database. Raises WarehouseError when `production()` is False.
        """
        ...


class RawLoader(Protocol):
    """Ingest's side of the seam, all inside one transaction of the audit location (`Warehouse.raw_loader`).

    `engine` is the in-process DuckDB connection where ingest validates raw files (session time zone UTC); for
    DuckDB it is the audit database's own connection, inside the same transaction.
    """

    engine: duckdb_module.DuckDBPyConnection

    def reusable(self, record: IngestRecord) -> Kept | None:
        """The last load of the record's table, when it can be kept; else None.

        It can when that load read the same file (`sha256`) under the same spec (`spec_digest`), and the table
        and its quarantine rows still hold that load's counts.
        """
        ...

    def load_raw(
        self, record: IngestRecord, rows: LocalRows, quarantine: LocalRows, unreadable: Sequence[Sequence[object]] = ()
    ) -> tuple[int, int]:
        """Replace the record's table with `rows`, replace its quarantine rows, record the load; (loaded, quarantined).

        `quarantine` and `unreadable` hold rows of `<schema>._quarantine` (run_id, source_table, raw_file,
        row_number, reason, record, quarantined_at): the first computed by the engine, the second as values
        (records no column could be read from), inserted in that order after deleting the table's old ones.
        """
        ...

    def touch(self, schema: str, table: str, loaded_at: datetime) -> None:
        """Set `_loaded_at` of every row of a kept raw table to this ingest's time (UTC, naive)."""
        ...


class LoadTarget(Protocol):
    """Where ingest loads raw tables: a Warehouse's audit location (or, in tests, one bare DuckDB file)."""

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        """One transaction on the audit location for ingest, committed on a normal exit, else rolled back.

        Each of `schemas` gets its `_quarantine` and `_ingest_state` tables; an exception leaves nothing written.

        `memory_limit` caps the local engine (DuckDB's `memory_limit` syntax, e.g. `256MB`).
        """
        ...

    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> AbstractContextManager[Session]:
        """A Session on the location (ingest reads a reused load's quarantine reasons back from the audit one)."""
        ...


class Warehouse(LoadTarget, Protocol):
    """One instance of one target on one warehouse (see the module docstring for its two locations)."""

    type: str  # the dbt adapter type: `duckdb`, `postgres`
    settings: Settings

    def where(self, location: Location = PUBLISHED) -> str:
        """The location in words for messages: `dev__main.duckdb`, `schema dev__main`."""
        ...

    def dbt_env(self) -> dict[str, str]:
        """The env vars profiles.yml reads to reach the audit location, slim CI's deferral included."""
        ...

    def outside(self, relations: Sequence[Relation]) -> list[Relation]:
        """The relations dbt would build, or ingest load, outside this instance (none is the only safe answer).

        `relations` come from the run's parse (manifest `schema`, `alias` of models, seeds and snapshots; `schema`,
        `identifier` of the sources ingest loads). A server warehouse keeps an instance apart only in its audit
        schema, the schemas dbt's default `generate_schema_name` derives from it (`<name>__audit_<custom>`) and its
        raw schema; a project whose macro returns a custom schema as it is (`marketing`), a snapshot's
        `target_schema`, or a source declared in a fixed schema (`landing`) would have every branch write the same
        schema. DuckDB: none (the instance's file is the only database dbt has attached).
        """
        ...

    def defer_env(self) -> dict[str, str]:
        """The env vars that point dbt's deferral at production ({} when there is none to defer to)."""
        ...

    def prepare(self) -> None:
        """Make what dbt needs before it connects and cannot make itself (DuckDB: the audit file's folder).

        Called right before each dbt call; idempotent, writes no data.
        """
        ...

    def sibling_env(self, name: str) -> dict[str, str]:
        """The env vars that place instance `name` of the same environment beside this one (`run-many`'s sets).

        A blank value unsets a variable (config reads blank as unset). DuckDB: a shared environment's file path
        beside this one's; dev and ci derive their own from the instance name.
        """
        ...

    def production(self) -> str | None:
        """Production in words (`prod.duckdb`) when this instance has one to defer to and compare with, else None."""
        ...

    def exists(self, location: Location = PUBLISHED) -> bool:
        """Whether the location exists (DuckDB: its file)."""
        ...

    def create(self) -> bool:
        """Make both locations and the audit location's `raw` schema (idempotent); True when anything was made.

        The caller holds the instance's run lock. Raises InUse when another process holds a location.
        """
        ...

    def drop(self) -> bool:
        """Remove both locations and what the warehouse keeps beside them; True when the instance existed."""
        ...

    def record_owner(self) -> None:
        """Record whose instance this is (`{"instance", "env", "owner"}`) where `list_instances` reads it."""
        ...

    @property
    def lock_path(self) -> Path:
        """The local file of the instance's run lock; instances that share a location share it."""
        ...

    def ensure_writable(self) -> None:
        """Open the audit location for writing once, so a holder is named (InUse) before any work starts."""
        ...

    def server_lock(self) -> AbstractContextManager[None]:
        """Hold the instance on the warehouse itself for the block, beside the local run lock (locking.py).

        The local lock cannot see a run from another checkout or machine on the same server instance. Postgres: a
        session-level advisory lock keyed on the instance, held on a connection of its own. DuckDB needs none (its
        file lock is the instance's own). Raises InUse at once when another process holds it.
        """
        ...

    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> AbstractContextManager[Session]:
        """A Session on the location; the audit one is created if missing unless `read_only`.

        Raises MissingRelation when a read-only location does not exist, InUse when another process holds it.
        """
        ...

    def publish(self, relations: Sequence[Relation]) -> None:
        """Copy `relations` from the audit location to the published one, all or none.

        The published location's other relations stay as they are. Consumers see the old relations or all new
        ones, never a mix (DuckDB: a new file swapped in with `os.replace`). Honours Settings.fault
        (`kill-during-publish`). Raises WarehouseError with the published location unchanged.
        """
        ...

    def snapshot(self, location: Location = PUBLISHED) -> dict[str, list[tuple[Any, ...]]]:
        """Every base table of the location (`schema.table`) with its rows sorted; {} when it does not exist."""
        ...


def _profile_type(project_dir: Path, target: str) -> str:
    """The `type:` of `target` in the project's profiles.yml, DEFAULT_TYPE when it cannot be read."""
    return _read_type(project_dir / "profiles.yml", project_dir / "dbt_project.yml", target)


@functools.cache
def _read_type(profiles: Path, project: Path, target: str) -> str:
    try:
        name = yaml.safe_load(project.read_text(encoding="utf-8"))["profile"]
        output = yaml.safe_load(profiles.read_text(encoding="utf-8"))[name]["outputs"][target]
        kind = str(output["type"]).strip()
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return DEFAULT_TYPE
    return kind or DEFAULT_TYPE


def adapter_type(settings: Settings) -> str:
    """The dbt adapter type of the environment's target in profiles.yml (`duckdb`, `postgres`)."""
    return _profile_type(settings.project_dir, settings.env)


def _module(kind: str) -> Any:
    if kind not in IMPLEMENTATIONS:
        raise PipelineError(
            f"profiles.yml names the dbt adapter type '{kind}', which this pipeline has no warehouse for; "
            f"use one of {', '.join(IMPLEMENTATIONS)}."
        )
    return importlib.import_module(f"{__name__}.{IMPLEMENTATIONS[kind]}")


def for_settings(settings: Settings) -> Warehouse:
    """The Warehouse of the environment instance `settings` resolves to, by its target's adapter type.

    Raises PipelineError naming the type when no implementation exists for it.
    """
    warehouse: Warehouse = _module(adapter_type(settings)).Warehouse(settings)
    return warehouse


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every environment instance that exists: dev and ci ones of the project, plus the shared ones given.

    Dispatched on the dev target's adapter type; sorted by env, then name.
    """
    module = _module(_profile_type(project_dir, "dev"))
    found: list[Instance] = module.list_instances(project_dir, list(shared))
    return found


def env_of(name: str) -> str:
    """The environment an instance name belongs to: `dev__x` dev, `ci`/`ci_pr_<n>` ci, anything else other."""
    if name.startswith("dev__"):
        return "dev"
    if name == "ci" or name.startswith("ci_pr_"):
        return "ci"
    return "other"
