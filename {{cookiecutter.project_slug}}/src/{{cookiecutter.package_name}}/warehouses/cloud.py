"""What Snowflake, BigQuery and Databricks share behind the seam: a schema per location, reached by the vendor's driver.

Not run against a live account in this project's CI: the statements below are checked as rendered SQL in
tests/test_cloud_warehouse.py (exact text, quoting through `sql.identifier`, values only as bound parameters),
against a recording stand-in for the driver's connection. The first run on a real account is the test of the rest.

An instance `<name>` (`dev__<branch>`, `ci_pr_<n>`, `staging`, `prod`) is three schemas (BigQuery: datasets):
`<name>__raw` (ingest's raw tables, quarantine and load state), `<name>__audit` (dbt builds and checks there) and
`<name>` (published: consumers read it), as on PostgreSQL. Who owns an instance is one row of `<name>._instance`
(instance, env, owner), inserted with bound parameters; `list_instances` reads every schema that has one.

The pipeline reaches the warehouse with the vendor's own DB-API driver, the one its dbt adapter already installs
(snowflake-connector-python, google-cloud-bigquery, databricks-sql-connector), configured from the same environment
variables profiles.yml reads: settings live once, in the environment. dbt's adapter connection was the other
candidate; it would need a dbt manifest and adapter setup for every metric query, and gives no bulk path either.
Each `Dialect` (one per warehouse module) owns what differs: how to connect, quote, bind, map types, list, digest
and publish. Every statement goes through `Session`, which binds values as `?` parameters (each dialect passes
them in its driver's style) and turns the driver's exceptions into the seam's WarehouseError.

Ingest validates raw files in an in-process DuckDB (`RawLoader.engine`) and inserts the checked rows with the
driver's `executemany` in batches of BATCH_ROWS. Loads are table by table: these warehouses do not roll back DDL
(Snowflake commits it implicitly; BigQuery and Databricks have no multi-statement DDL transactions), so a failed
ingest can leave some raw tables new and others old; the next ingest reloads what changed (`reusable`).
A bulk path (dlt, or each vendor's stage/load job) would replace the inserts at scale; not measured here.

Publish is each warehouse's atomic primitive (`Dialect.publish_statements`); its guarantee is in each module.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import duckdb

from .. import sql
from ..config import (
    AUDIT_SUFFIX,
    DUCKDB_PATH_VAR,
    RAW_SCHEMA_VAR,
    RAW_SUFFIX,
    SCHEMA_VAR,
    THREADS_VAR,
    WAREHOUSE_DIR,
    Settings,
)
from . import (
    AUDIT,
    HISTORY_SCHEMA,
    KILL_DURING_PUBLISH,
    PUBLISHED,
    QUARANTINE,
    STATE,
    IngestRecord,
    Instance,
    Kept,
    LocalRows,
    Location,
    MissingRelation,
    Params,
    Relation,
    WarehouseError,
    env_of,
    outside_schemas,
    published_schema,
)

PRODUCTION = "prod"
# The table in each published schema that records whose instance it is.
OWNER_TABLE = "_instance"
# Rows per executemany call when ingest inserts checked rows.
BATCH_ROWS = 5_000
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
# The columns of the tables ingest keeps beside the raw tables (see RawLoader in the package).
QUARANTINE_COLUMNS = (
    ("run_id", "VARCHAR"), ("source_table", "VARCHAR"), ("raw_file", "VARCHAR"), ("row_number", "BIGINT"),
    ("reason", "VARCHAR"), ("record", "VARCHAR"), ("quarantined_at", "TIMESTAMP"),
)  # fmt: skip
STATE_COLUMNS = (
    ("source_table", "VARCHAR"), ("raw_file", "VARCHAR"), ("relation", "VARCHAR"), ("sha256", "VARCHAR"),
    ("spec_digest", "VARCHAR"), ("loaded_rows", "BIGINT"), ("quarantined_rows", "BIGINT"), ("run_id", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
)  # fmt: skip
OWNER_COLUMNS = (("instance", "VARCHAR"), ("env", "VARCHAR"), ("owner", "VARCHAR"))


class Cursor(Protocol):
    """The part of a PEP 249 cursor the pipeline uses."""

    description: Any

    def execute(self, operation: str, parameters: Any = ...) -> Any: ...
    def executemany(self, operation: str, seq_of_parameters: Any) -> Any: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...
    def close(self) -> Any: ...


class Connection(Protocol):
    """The part of a PEP 249 connection the pipeline uses."""

    def cursor(self) -> Any: ...
    def close(self) -> Any: ...


def placeholders(statement: str, marker: str) -> str:
    """The seam's `?` placeholders as `marker` (`%s` for pyformat drivers, `%` doubled), outside quotes.

    Quotes are `'`, `"` and backticks; `?` inside them is text. With marker `?` the statement is returned as is.
    """
    if marker == "?":
        return statement
    out, quote = [], ""
    for char in statement:
        if quote:
            quote = "" if char == quote else quote
            out.append("%%" if char == "%" else char)
        elif char in ("'", '"', "`"):
            quote = char
            out.append(char)
        else:
            out.append(marker if char == "?" else "%%" if char == "%" else char)
    return "".join(out)


class Dialect:
    """What one cloud warehouse does its own way; the defaults are standard SQL with information_schema.

    Subclasses set `adapter` (the dbt adapter type), `quote`, `marker` (the driver's placeholder), `types`
    (DuckDB type -> the warehouse's) and `missing` (a pattern of the driver's "no such relation" messages),
    and implement `connect`, `driver_error`, `digest` and `publish_statements`. `environ` holds the settings the
    driver reads (the variables profiles.yml reads).
    """

    adapter: ClassVar[str] = ""
    quote: ClassVar[str] = '"'
    marker: ClassVar[str] = "?"
    types: ClassVar[Mapping[str, str]] = {}
    decimal: ClassVar[str] = "number({0},{1})"
    missing: ClassVar[re.Pattern[str]] = re.compile(r"does not exist|not found", re.IGNORECASE)
    # (pattern of the driver's message when a connection fails, the one sentence naming the variable to change),
    # first match wins; `unreachable` formats the sentence with `environ`. Empty: the general sentence.
    faults: ClassVar[Sequence[tuple[re.Pattern[str], str]]] = ()

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def connect(self) -> Connection:
        """A driver connection from the environment variables profiles.yml reads; WarehouseError naming them."""
        raise NotImplementedError

    def driver_error(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes that mean a statement failed."""
        raise NotImplementedError

    def identifier(self, name: str) -> str:
        """`name` quoted for this warehouse, through sql.identifier."""
        return sql.identifier(name, self.quote)

    def relation(self, *parts: str) -> str:
        """A dotted relation of quoted parts (schema, table)."""
        return ".".join(self.identifier(part) for part in parts)

    def column_type(self, duckdb_type: str) -> str:
        """The warehouse's type for a DuckDB column type of the engine's rows; WarehouseError for one without."""
        kind = duckdb_type.upper()
        decimal = _DECIMAL.fullmatch(kind)
        if decimal:
            return self.decimal.format(decimal[1], decimal[2])
        if kind not in self.types:
            raise WarehouseError(
                f"a raw column of DuckDB type {duckdb_type} has no {self.adapter} type here; declare another."
            )
        return self.types[kind]

    def create_table(self, schema: str, table: str, columns: Sequence[tuple[str, str]], *, replace: bool) -> str:
        """`create [or replace] table` (or `if not exists`) of DuckDB-typed `columns`."""
        definition = ", ".join(f"{self.identifier(name)} {self.column_type(kind)}" for name, kind in columns)
        verb = "create or replace table" if replace else "create table if not exists"
        return f"{verb} {self.relation(schema, table)} ({definition})"

    def create_schema(self, schema: str) -> str:
        return f"create schema if not exists {self.identifier(schema)}"

    def drop_schema(self, schema: str) -> str:
        return f"drop schema if exists {self.identifier(schema)} cascade"

    def catalog(self, view: str) -> str:
        """The information_schema view `view` (`schemata`, `tables`, `columns`) of the current database."""
        return f"information_schema.{view}"

    def schema_exists(self) -> str:
        """A query of one `?` (the schema name) that returns a row when the schema exists."""
        return f"select schema_name from {self.catalog('schemata')} where schema_name = ?"

    def tables(self) -> str:
        """A query of one `?` (the schema) listing its tables and views by name, sorted."""
        return f"select table_name from {self.catalog('tables')} where table_schema = ? order by table_name"

    def base_tables(self, schema: str) -> tuple[str, Params]:
        """A query listing the base tables (not views) of `schema`, sorted, and its parameters."""
        return (
            f"select table_name from {self.catalog('tables')} where table_schema = ? "
            "and table_type = 'BASE TABLE' order by table_name",
            [schema],
        )

    def columns(self, schema: str, table: str) -> tuple[str, Params]:
        """A query of (column name, data type) of one table, in order, and its parameters."""
        return (
            f"select column_name, data_type from {self.catalog('columns')} "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )

    def owner_schemas(self) -> tuple[str, Params]:
        """A query of the schemas that hold an OWNER_TABLE, sorted, and its parameters."""
        return (f"select table_schema from {self.catalog('tables')} where table_name = ? order by 1", [OWNER_TABLE])

    def digest(self, relation: str, columns: Sequence[str]) -> str:
        """A query of (rows, digest): a sum of row hashes of `columns` of `relation` (order-free, repeats count)."""
        raise NotImplementedError

    def begin(self) -> str | None:
        """The statement that opens a transaction, or None where statements cannot share one."""
        return None

    def publish_statements(self, source: tuple[str, str], target: tuple[str, str], staging: str) -> list[str]:
        """The statements that replace `target` (schema, table) by a copy of `source`.

        `staging` is a scratch schema the publish may use (`<published>__publishing`).
        """
        raise NotImplementedError

    def finish_publish(self, published: str, staging: str) -> list[str]:
        """Statements run after every relation of one published schema is copied ([] by default)."""
        del published, staging
        return []

    def start_publish(self, published: str, staging: str) -> list[str]:
        """Statements run before any relation of one published schema is copied ([] by default)."""
        del published, staging
        return []


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class Session:
    """A Session (see the package) on one driver connection, naming schemas as the location has them."""

    def __init__(
        self, dialect: Dialect, connection: Connection, schemas: Mapping[str, str] | None = None,
        production_schemas: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.dialect = dialect
        self.connection = connection
        self.schemas = dict(schemas or {})
        self.production_schemas = production_schemas

    def _error(self, error: BaseException) -> WarehouseError:
        text = _one_line(error)
        return MissingRelation(text) if self.dialect.missing.search(text) else WarehouseError(text)

    def _run(self, statement: str, params: Params, *, many: bool = False) -> Cursor:
        cursor: Cursor = self.connection.cursor()
        try:
            if many:
                cursor.executemany(placeholders(statement, self.dialect.marker), [list(row) for row in params])  # type: ignore[call-overload]
            elif params:
                cursor.execute(placeholders(statement, self.dialect.marker), list(params))
            else:
                cursor.execute(statement)
        except self.dialect.driver_error() as error:
            cursor.close()
            raise self._error(error) from None
        return cursor

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cursor = self._run(sql, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def query_with_names(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._run(sql, params)
        try:
            names = [str(column[0]) for column in cursor.description or []]
            return names, [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def execute(self, sql: str, params: Params = ()) -> None:
        self._run(sql, params).close()

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement once per row of parameters (the driver's executemany)."""
        if rows:
            self._run(sql, rows, many=True).close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Snowflake: one transaction (DML only; DDL commits). BigQuery, Databricks: statements run one by one."""
        begin = self.dialect.begin()
        if begin is None:
            yield
            return
        self.execute(begin)
        try:
            yield
        except BaseException:
            with contextlib.suppress(*self.dialect.driver_error()):
                self.connection.cursor().execute("rollback")
            raise
        self.execute("commit")

    def schema(self, name: str) -> str:
        """The schema of this location that holds what dbt recorded in `name`."""
        return self.schemas.get(name, name)

    def tables(self, schema: str) -> list[str]:
        return [str(name) for (name,) in self.query(self.dialect.tables(), [self.schema(schema)])]

    def describe(self, schema: str, table: str) -> list[tuple[str, str]]:
        rows = self.query(*self.dialect.columns(self.schema(schema), table))
        if not rows:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} does not exist.")
        return [(str(name), str(kind)) for name, kind in rows]

    def digest(self, schema: str, table: str, skip: Sequence[str] = ()) -> str:
        columns = [self.dialect.identifier(name) for name, _ in self.describe(schema, table) if name not in skip]
        if not columns:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} has no column to digest.")
        ((rows, digest),) = self.query(self.dialect.digest(self.relation(schema, table), columns))
        return f"{rows}:{digest}"

    def relation(self, *parts: str) -> str:
        if parts:  # (schema[, table]): the schema as this location names it
            parts = (self.schema(parts[0]), *parts[1:])
        return self.dialect.relation(*parts)

    def production(self) -> bool:
        return self.production_schemas is not None

    def production_relation(self, schema: str, name: str, database: str | None = None) -> str:
        """`schema.name` in production: a schema of the same database (dbt's own for a deferred relation)."""
        if self.production_schemas is None:
            raise WarehouseError(f"no production to read from: schema {PRODUCTION} does not exist.")
        if database is not None:
            return self.dialect.relation(schema, name)
        return self.dialect.relation(self.production_schemas.get(schema, schema), name)


class RawLoader:
    """Ingest's loader: rows checked in the local DuckDB `engine`, inserted into the warehouse table by table."""

    def __init__(self, engine: duckdb.DuckDBPyConnection, server: Session):
        self.engine = engine
        self.server = server

    def _count(self, statement: str, params: Params = ()) -> int:
        rows = self.server.query(statement, params)
        return int(rows[0][0]) if rows else 0

    def reusable(self, record: IngestRecord) -> Kept | None:
        dialect = self.server.dialect
        rows = self.server.query(
            f"select run_id, loaded_rows, quarantined_rows from {dialect.relation(record.schema, STATE)} "
            "where source_table = ? and sha256 = ? and spec_digest = ?",
            [record.source_table, record.sha256, record.spec_digest],
        )
        if not rows or record.relation not in self.server.tables(record.schema):
            return None
        run_id, loaded_rows, quarantined_rows = rows[0]
        loaded = self._count(f"select count(*) from {dialect.relation(record.schema, record.relation)}")
        quarantined = self._count(
            f"select count(*) from {dialect.relation(record.schema, QUARANTINE)} where source_table = ?",
            [record.source_table],
        )
        if loaded != loaded_rows or quarantined != quarantined_rows:
            return None
        return Kept(str(run_id), int(loaded_rows), int(quarantined_rows))

    def _insert(self, rows: LocalRows, schema: str, table: str, *, create: bool) -> None:
        """Insert the engine's `rows` into `schema.table` in batches (`create`: the table made from their types)."""
        dialect = self.server.dialect
        params = dict(rows.params) if isinstance(rows.params, Mapping) else list(rows.params)
        result = self.engine.execute(rows.query, params)
        columns = [(str(column[0]), str(column[1])) for column in result.description or []]
        if create:
            self.server.execute(dialect.create_table(schema, table, columns, replace=True))
        # A new table is filled by its columns' names; an existing one (the quarantine) by position, as the
        # engine's query orders its columns, whatever names the engine gave them.
        names = f" ({', '.join(dialect.identifier(name) for name, _ in columns)})" if create else ""
        values = ", ".join("?" for _ in columns)
        statement = f"insert into {dialect.relation(schema, table)}{names} values ({values})"
        while batch := result.fetchmany(BATCH_ROWS):
            self.server.execute_many(statement, batch)

    def load_raw(
        self, record: IngestRecord, rows: LocalRows, quarantine: LocalRows, unreadable: Sequence[Sequence[object]] = ()
    ) -> tuple[int, int]:
        dialect = self.server.dialect
        target = dialect.relation(record.schema, record.relation)
        relation = dialect.relation(record.schema, QUARANTINE)
        self._insert(rows, record.schema, record.relation, create=True)
        self.server.execute(f"delete from {relation} where source_table = ?", [record.source_table])
        self._insert(quarantine, record.schema, QUARANTINE, create=False)
        self.server.execute_many(f"insert into {relation} values (?, ?, ?, ?, ?, ?, ?)", list(unreadable))
        loaded = self._count(f"select count(*) from {target}")
        quarantined = self._count(f"select count(*) from {relation} where source_table = ?", [record.source_table])
        state = dialect.relation(record.schema, STATE)
        self.server.execute(f"delete from {state} where source_table = ?", [record.source_table])
        self.server.execute(
            f"insert into {state} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.source_table, record.raw_file, record.relation, record.sha256, record.spec_digest,
                loaded, quarantined, record.run_id, datetime.now(timezone.utc).replace(tzinfo=None),
            ],
        )  # fmt: skip
        return loaded, quarantined

    def touch(self, schema: str, table: str, loaded_at: datetime) -> None:
        # `where true`: BigQuery refuses an update without a where clause.
        relation = self.server.dialect.relation(schema, table)
        self.server.execute(f"update {relation} set _loaded_at = ? where true", [loaded_at])


class Warehouse:
    """A cloud instance: the schemas `<name>__raw`, `<name>__audit` and `<name>` (see the module docstring).

    Each warehouse module subclasses it with its `type` and `dialect_class`; `environ` (default: the process
    environment) is where the driver's settings are read, the same variables as profiles.yml.
    """

    type: str
    dialect_class: ClassVar[builtins.type[Dialect]]

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.dialect = self.dialect_class(environment() if environ is None else environ)
        self.name = settings.name
        self.audit, self.raw = f"{self.name}{AUDIT_SUFFIX}", f"{self.name}{RAW_SUFFIX}"

    def _connect(self) -> Connection:
        return self.dialect.connect()

    def schema(self, location: Location) -> str:
        """The location's schema: the audit one (raw tables beside it, in `<name>__raw`) or the published one."""
        return self.audit if location == AUDIT else self.name

    def outside(self, relations: Sequence[Relation]) -> list[Relation]:
        """The relations outside `<name>__audit`, the schemas dbt derives from it (`<name>__audit_x`), `<name>__raw`."""
        return outside_schemas(relations, self.audit, self.raw)

    def published_schema(self, schema: str) -> str:
        """Where a schema of the audit location is published (`warehouses.published_schema`)."""
        return published_schema(schema, self.audit, self.name)

    def where(self, location: Location = PUBLISHED) -> str:
        return f"schema {self.schema(location)}"

    def dbt_env(self) -> dict[str, str]:
        values = {SCHEMA_VAR: self.audit, RAW_SCHEMA_VAR: self.raw, THREADS_VAR: str(self.settings.threads)}
        return values | self.defer_env()

    def defer_env(self) -> dict[str, str]:
        return {}  # dbt defers to production's schemas of the same database as they are

    def prepare(self) -> None:
        """Nothing: dbt makes its schemas itself, and `create` made the raw one."""

    def sibling_env(self, name: str) -> dict[str, str]:
        if self.settings.is_shared:
            return {DUCKDB_PATH_VAR: str(self.settings.duckdb_path.with_name(f"{name}.duckdb"))}
        return {DUCKDB_PATH_VAR: ""}

    def _exists(self, session: Session, schema: str) -> bool:
        return bool(session.query(self.dialect.schema_exists(), [schema]))

    def _production_schemas(self, session: Session) -> dict[str, str] | None:
        wanted = self.settings.state_dir is not None and self.name != PRODUCTION
        if not wanted or not self._exists(session, PRODUCTION):
            return None
        return {self.audit: PRODUCTION}

    @contextmanager
    def _session(self, schemas: Mapping[str, str] | None = None) -> Iterator[Session]:
        connection = self._connect()
        try:
            yield Session(self.dialect, connection, schemas)
        finally:
            with contextlib.suppress(*self.dialect.driver_error()):
                connection.close()

    def production(self) -> str | None:
        with self._session() as session:
            found = self._production_schemas(session) is not None
        return f"schema {PRODUCTION}" if found else None

    def exists(self, location: Location = PUBLISHED) -> bool:
        with self._session() as session:
            return self._exists(session, self.schema(location))

    def create(self) -> bool:
        with self._session() as session:
            made = False
            for schema in (self.raw, self.audit, self.name):
                made |= not self._exists(session, schema)
                session.execute(self.dialect.create_schema(schema))
        return made

    def drop(self) -> bool:
        """`Dialect.drop_schema` (`drop schema if exists ... cascade`) of the three schemas; True when any existed.

        What `cascade` reaches here is the schema's own objects only: these engines keep no dependencies between a
        view and the tables it reads, so a consumer's view in another schema (dataset) over an instance's table is
        not dropped with it, as PostgreSQL would; it stays, and fails when queried (Snowflake: object does not
        exist; BigQuery: not found; Databricks: table or view not found). Snowflake's `cascade` also drops a table
        that a foreign key of another schema references (its constraints are not enforced). Nothing is checked
        first: what reads an instance is the consumer's to know (Snowflake's ACCOUNT_USAGE.OBJECT_DEPENDENCIES,
        BigQuery's INFORMATION_SCHEMA.VIEWS, Unity Catalog lineage would tell).
        """
        with self._session() as session:
            existed = False
            for schema in (self.name, self.audit, self.raw):
                existed |= self._exists(session, schema)
                session.execute(self.dialect.drop_schema(schema))
        return existed

    def record_owner(self) -> None:
        with self._session() as session:
            session.execute(self.dialect.create_schema(self.name))
            session.execute(self.dialect.create_table(self.name, OWNER_TABLE, OWNER_COLUMNS, replace=True))
            session.execute(
                f"insert into {self.dialect.relation(self.name, OWNER_TABLE)} values (?, ?, ?)",
                [self.name, self.settings.env, self.settings.owner],
            )

    @property
    def lock_path(self) -> Path:
        return self.settings.project_dir / WAREHOUSE_DIR / f"{self.name}.lock"

    def ensure_writable(self) -> None:
        with self._session():
            pass

    @contextmanager
    def server_lock(self) -> Iterator[None]:
        """Nothing yet: these warehouses have no session lock this pipeline uses; only the local run lock holds."""
        yield

    @contextmanager
    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> Iterator[Session]:
        # The run history lives in the instance's audit schema: one history per instance, dropped with it.
        schemas = {self.audit: self.name} if location == PUBLISHED else {HISTORY_SCHEMA: self.audit}
        with self._session(schemas) as session:
            schema = self.schema(location)
            if not self._exists(session, schema):
                if read_only:
                    raise MissingRelation(f"schema {schema} does not exist yet; `run` or `env create` makes it.")
                session.execute(self.dialect.create_schema(schema))
            session.production_schemas = self._production_schemas(session)
            yield session

    @contextmanager
    def _raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> Iterator[RawLoader]:
        with self._session() as session, duckdb.connect() as engine:
            engine.execute("set TimeZone = 'UTC'")
            engine.execute("set preserve_insertion_order = true")
            engine.execute("set memory_limit = ?", [memory_limit])
            for schema in sorted(set(schemas)):
                session.execute(self.dialect.create_schema(schema))
                session.execute(self.dialect.create_table(schema, QUARANTINE, QUARANTINE_COLUMNS, replace=False))
                session.execute(self.dialect.create_table(schema, STATE, STATE_COLUMNS, replace=False))
            yield RawLoader(engine, session)

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        return self._raw_loader(schemas, memory_limit=memory_limit)

    def publish(self, relations: Sequence[Relation]) -> None:
        by_schema: dict[str, list[Relation]] = {}
        for relation in relations:
            by_schema.setdefault(self.published_schema(relation.schema), []).append(relation)
        try:
            with self._session() as session:
                count = 0
                for published, members in by_schema.items():
                    staging = f"{published}__publishing"
                    session.execute(self.dialect.create_schema(published))
                    for statement in self.dialect.start_publish(published, staging):
                        session.execute(statement)
                    for relation in members:
                        for statement in self.dialect.publish_statements(
                            (relation.schema, relation.name), (published, relation.name), staging
                        ):
                            session.execute(statement)
                        count += 1
                        if self.settings.fault == KILL_DURING_PUBLISH and count == 1:
                            os.kill(os.getpid(), signal.SIGKILL)  # the fault-injection tests' hard stop
                    for statement in self.dialect.finish_publish(published, staging):
                        session.execute(statement)
        except WarehouseError as error:
            raise type(error)(f"publish failed: {error}") from None

    def snapshot(self, location: Location = PUBLISHED) -> dict[str, list[tuple[Any, ...]]]:
        schemas = [self.audit, self.raw] if location == AUDIT else [self.name]
        found: dict[str, list[tuple[Any, ...]]] = {}
        with self._session() as session:
            for schema in schemas:
                if not self._exists(session, schema):
                    continue
                for (name,) in session.query(*self.dialect.base_tables(schema)):
                    rows = session.query(f"select * from {self.dialect.relation(schema, str(name))}")
                    found[f"{schema}.{name}"] = sorted(rows, key=lambda row: [repr(v) for v in row])
        return found


def list_instances(dialect: Dialect) -> list[Instance]:
    """Every instance whose published schema has an OWNER_TABLE row naming it, sorted by env and name."""
    connection = dialect.connect()
    found = []
    try:
        session = Session(dialect, connection)
        for (schema,) in session.query(*dialect.owner_schemas()):
            for instance, env, owner in session.query(
                f"select instance, env, owner from {dialect.relation(str(schema), OWNER_TABLE)}"
            ):
                if instance == schema:
                    kind = str(env or env_of(str(schema)))
                    found.append(Instance(str(schema), kind, Path(f"schema {schema}"), 0, str(owner or "?")))
    finally:
        with contextlib.suppress(*dialect.driver_error()):
            connection.close()
    return sorted(found, key=lambda instance: (instance.env, instance.name))


def environment() -> Mapping[str, str]:
    """The process environment, where the drivers' settings are (the variables profiles.yml reads)."""
    return os.environ


def missing_settings(environ: Mapping[str, str], names: Sequence[str], what: str) -> WarehouseError | None:
    """A WarehouseError naming the unset variables among `names` (to reach `what`), or None when all are set."""
    unset = [name for name in names if not environ.get(name)]
    if not unset:
        return None
    verb = "is" if len(unset) == 1 else "are"
    listed = ", ".join(unset)
    return WarehouseError(
        f"{what} needs {listed}, which {verb} not set: set {listed} (profiles.yml reads the same variables)."
    )


def unreachable(what: str, error: BaseException, dialect: Dialect | None = None) -> WarehouseError:
    """The one sentence for a connection the driver refused.

    When one of `dialect.faults` matches the driver's message, its sentence names the variable to change
    (formatted with `dialect.environ`, whose secrets no sentence names); else the variables in general.
    """
    text = _one_line(error)
    if dialect is not None:
        for pattern, fix in dialect.faults:
            if pattern.search(text):
                return WarehouseError(fix.format_map(_Shown(dialect.environ)) + f" ({what} said: {text})")
    return WarehouseError(f"cannot connect to {what} ({text}); check the variables profiles.yml reads.")


class _Shown(dict[str, str]):
    """The settings a fault's sentence may name; an unset one shows as `(unset)`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)

    def __missing__(self, key: str) -> str:
        return "(unset)"


if TYPE_CHECKING:  # mypy checks that each class here has every method of the seam's interface
    from .. import warehouses as interface

    def _conforms(
        settings: Settings, dialect: Dialect, connection: Connection, engine: duckdb.DuckDBPyConnection
    ) -> tuple[interface.Session, interface.RawLoader]:
        session = Session(dialect, connection)
        return session, RawLoader(engine, session)
