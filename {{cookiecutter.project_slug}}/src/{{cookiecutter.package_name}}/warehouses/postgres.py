"""PostgreSQL behind the seam: a schema per location, COPY to load, one transaction to publish.

An instance `<name>` (`dev__<branch>`, `ci_pr_<n>`, `staging`, `prod`) is three schemas of the database the `PG*`
variables name (libpq's own: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, read by psycopg2 and dbt alike):
`<name>__raw` (ingest's raw tables, quarantine and load state), `<name>__audit` (dbt builds and checks there)
and `<name>` (published: consumers read it). The audit location is `<name>__audit` with `<name>__raw`; a
schema dbt derives from the audit schema (`<name>__audit_x`) is published as `<name>_x`, which publish claims
(its comment records `{"published_by": "<name>"}`) and `drop` removes; a model built in any other schema is
refused before the run writes anything (`outside`). Who owns an instance is the published schema's comment
(JSON), which `list_instances` reads from the catalog.

The driver is psycopg2, dbt-postgres's own, so the project gains no dependency; dbt's adapter was the other
candidate, but ingest's bulk load needs `COPY ... FROM STDIN`, which psycopg2 gives directly (`copy_expert`).

Ingest validates raw files in an in-process DuckDB (`RawLoader.engine`), then copies the checked rows to the
server with `COPY ... FROM STDIN` (CSV written by DuckDB), all tables, quarantine rows and the `_ingest_state`
records in one server transaction: a failed ingest leaves the raw schema as it was.

Publish copies each audited table into the published schema inside ONE transaction: DDL is transactional in
PostgreSQL, so a consumer sees every old table or every new one, and a process killed mid-publish (its
connection gone) rolls back on the server. A published table whose columns stay the same keeps its identity:
its rows are replaced (`delete` + `insert ... select`), so consumers' views on it, their grants and indexes
keep working, and a reader in the middle of a query neither blocks the publish nor sees half of it (MVCC). A
table whose columns changed is dropped and made again (`create table as`); a consumer's view on it would
break, so publish then refuses with a sentence naming the views (drop them, publish, make them again). Why
not a schema swap: a view follows its table's identity, into the renamed old schema and away with it, so a
swap breaks every consumer view; and `truncate` is not MVCC-safe (an older snapshot would see an empty table).
The cost is the deleted rows' space until autovacuum takes it back. Publish waits at most
$PIPELINE_LOCK_TIMEOUT (config.LOCK_TIMEOUT_VAR, `lock_timeout`, 30 s by default) for a lock another session
holds (a LOCK TABLE, or a reader of a table being dropped), then stops with a sentence naming the table.
The audit schema keeps its tables, so slim CI defers to production's `prod__audit` schema as dbt recorded it,
which holds what was published.

mask_pii() reads its key from the session setting `<package>.pii_key`: `dbt_env` passes it to dbt's connections
as PGOPTIONS (`-c <package>.pii_key=...`), so it is never in SQL text, a log or the catalog.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import psycopg2
import psycopg2.errors
import psycopg2.extensions

from .. import sql
from ..config import (
    AUDIT_SUFFIX,
    DUCKDB_PATH_VAR,
    LOCK_TIMEOUT_VAR,
    RAW_SCHEMA_VAR,
    RAW_SUFFIX,
    SCHEMA_VAR,
    THREADS_VAR,
    WAREHOUSE_DIR,
    Settings,
)
from ..errors import listed
from . import (
    AUDIT,
    HISTORY_SCHEMA,
    KILL_DURING_PUBLISH,
    PUBLISHED,
    QUARANTINE,
    STATE,
    IngestRecord,
    Instance,
    InUse,
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
from .postgres_server import pgoptions

TYPE = "postgres"
OPTIONS_VAR = "PGOPTIONS"
# How many of the objects that stop `env drop` its message names (then: "and <n> more").
LISTED = 10
# The published schema of production: slim CI compares with it, and defers to its audit schema.
PRODUCTION = "prod"
# mask_pii() reads the key from this session setting (macros/privacy/mask_pii_postgres.sql: `<project>.pii_key`).
# This project's package: owner records name it, so two projects on one database never share an instance.
PROJECT = __name__.split(".")[0]
PII_SETTING = f"{PROJECT}.pii_key"
# DuckDB's type names (of the engine's checked rows) as PostgreSQL spells them; DECIMAL(p,s) keeps its arguments.
_TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "HUGEINT": "numeric(38,0)", "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)", "FLOAT": "real", "DOUBLE": "double precision", "VARCHAR": "varchar",
    "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BLOB": "bytea", "UUID": "uuid", "INTERVAL": "interval",
}  # fmt: skip
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
# How the catalog's format_type() spells the short names above, to tell whether a raw table's columns changed.
_CATALOG_NAMES = {
    "varchar": "character varying", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "time": "time without time zone",
}  # fmt: skip
# psycopg2's error classes (SQLSTATE) that mean "no such relation or schema", and "someone else holds it".
_MISSING = (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName, psycopg2.errors.UndefinedColumn)
_HELD = (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected)


# insufficient_privilege (42501) as the server words it in English: what the role lacks, on what.
_OWNER = re.compile(r"must be owner of (\w+(?: \w+)?) (\S+)")
_DENIED = re.compile(r"permission denied for (\w+(?: \w+)?) (\S+)")
# The privileges `grant` gives for each kind of object the pipeline makes, reads or writes.
_PRIVILEGES = {"database": "create", "schema": "usage, create", "sequence": "usage", "function": "execute"}


def _denied(text: str, user: str) -> str:
    """The sentence for a refused statement (insufficient_privilege): which role (PGUSER) lacks what, and the fix.

    `text` is the server's message in one line, `user` the role the connection runs as. A message the patterns
    do not know (another lc_messages) keeps the server's text and names the role and the ways out.
    """
    role = sql.shown(user)
    owner = _OWNER.search(text)
    if owner:
        kind, name = owner.groups()
        kind = "table" if kind == "relation" else kind
        return (
            f"role {role} (PGUSER) is not the owner of {kind} {name}, which another role made, and only its owner "
            f"may change or drop it: as that owner or a superuser run `alter {kind} {name} owner to {role}`, "
            "or set PGUSER to the role that owns it."
        )
    denied = _DENIED.search(text)
    if denied:
        kind, name = denied.groups()
        kind = "table" if kind == "relation" else kind
        privileges = _PRIVILEGES.get(kind, "select, insert, update, delete, truncate")
        return (
            f"role {role} (PGUSER) lacks the {privileges.replace(', ', '/').upper()} privilege on {kind} {name}: as "
            f"its owner or a superuser run `grant {privileges} on {kind} {name} to {role}`, or set PGUSER to a role "
            "that has it."
        )
    return (
        f"role {role} (PGUSER) lacks a privilege ({text}): as the object's owner or a superuser grant it to {role}, "
        "or set PGUSER to a role that has it."
    )


def _error(error: psycopg2.Error, doing: str = "", user: str | None = None) -> WarehouseError:
    """A psycopg2 error as the seam's (MissingRelation, InUse or WarehouseError), in one line.

    `user` is the role the connection runs as (PGUSER): a refused statement (insufficient_privilege) names it,
    the privilege and the grant that fixes it (`_denied`).
    """
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, psycopg2.errors.InsufficientPrivilege) and user is not None:
        text = _denied(text, user)
    message = f"{doing}: {text}" if doing else text
    if isinstance(error, _MISSING):
        return MissingRelation(message)
    if isinstance(error, _HELD):
        return InUse(f"{message}; another session holds it: wait, or end that session, then run again.")
    if isinstance(error, psycopg2.OperationalError) and error.pgcode is None:  # no SQLSTATE: the connection went
        return WarehouseError(
            f"{doing + ': ' if doing else ''}the connection to PostgreSQL was lost ({text}); "
            "check that the server is up, then run again."
        )
    return WarehouseError(message)


# What libpq says when a connection fails, and the one setting to change. psycopg2 gives these errors no
# SQLSTATE (pgcode is None), so the text is all there is: libpq's own messages and the server's FATAL ones,
# in English unless the server's lc_messages says otherwise (then the last, general sentence is given).
# Each fix is formatted with the settings the connection used (`host`, `port`, `user`, `dbname`).
_CONNECTION_FAULTS = (
    # The server says the same when the role does not exist (it does not tell a client which): both are named.
    (re.compile(r"password authentication failed"),
     "PostgreSQL at {host}:{port} refused the password of user {user}; set PGPASSWORD to that user's password "
     "(or put it in ~/.pgpass), or PGUSER to the role you meant if {user} is not one of that server."),
    (re.compile(r"no password supplied"),
     "PostgreSQL at {host}:{port} asks user {user} for a password and none was given; set PGPASSWORD "
     "(or put it in ~/.pgpass)."),
    (re.compile(r'role ".*" does not exist'),
     "PostgreSQL at {host}:{port} has no role {user}; set PGUSER to a role of that server."),
    (re.compile(r'database ".*" does not exist'),
     "PostgreSQL at {host}:{port} has no database {dbname}; set PGDATABASE to one of its databases "
     "(or make it: createdb {dbname})."),
    (re.compile(r"no pg_hba\.conf entry"),
     "PostgreSQL at {host}:{port} does not let user {user} into database {dbname} from this machine (pg_hba.conf); "
     "set PGUSER to a user it admits, or ask its administrator to admit this one."),
    (re.compile(r"could not translate host name|Name or service not known|nodename nor servname"),
     "host {host} is not known to this machine; set PGHOST to your server's name or address."),
    (re.compile(r"Connection refused|No such file or directory"),
     "nothing accepts connections at {host}:{port}; start the server, or set PGPORT to the port it listens on."),
    (re.compile(r"timeout expired|No route to host|Network is unreachable|timed out"),
     "{host}:{port} did not answer; set PGHOST to a server this machine can reach (PGCONNECT_TIMEOUT, now "
     "{timeout} s, bounds the wait)."),
)  # fmt: skip
# libpq waits for ever by default; dbt-postgres waits 10 s (its `connect_timeout`): the pipeline does the same.
CONNECT_TIMEOUT = "10"


def connection_error(error: psycopg2.Error, given: Mapping[str, str]) -> WarehouseError:
    """One sentence for a connection that failed: what is wrong and the one PG* variable to change.

    `given` are the settings libpq used (`host port user dbname connect_timeout`); the password never
    appears. A failure it does not recognise names every PG* variable, with libpq's own text.
    """
    text = " ".join(str(error).split()) or type(error).__name__
    for pattern, fix in _CONNECTION_FAULTS:
        if pattern.search(text):
            return WarehouseError(fix.format(timeout=given.get("connect_timeout", CONNECT_TIMEOUT), **given))
    return WarehouseError(
        f"cannot connect to PostgreSQL at {given['host']}:{given['port']} as {given['user']} ({text}); "
        "check PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE."
    )


def placeholders(statement: str) -> str:
    """The seam's `?` placeholders as psycopg2's `%s` (and a literal `%` doubled), outside quotes and identifiers."""
    out, quote = [], ""
    for char in statement:
        if quote:
            quote = "" if char == quote else quote
            out.append("%%" if char == "%" else char)
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        else:
            out.append("%s" if char == "?" else "%%" if char == "%" else char)
    return "".join(out)


# profiles.yml's defaults for dev and ci, given to libpq for each PG* variable that is unset, so the pipeline and
# dbt reach the same server (libpq's own default would be the local unix socket, dbt's is localhost:5432).
DEFAULTS = {"PGHOST": ("host", "localhost"), "PGPORT": ("port", "5432"), "PGUSER": ("user", "postgres"),
            "PGDATABASE": ("dbname", "postgres")}  # fmt: skip


def connect(options: Mapping[str, str] | None = None) -> psycopg2.extensions.connection:
    """A connection to the server the PG* variables name (libpq reads them), in autocommit mode; WarehouseError.

    An unset PGHOST, PGPORT, PGUSER or PGDATABASE takes profiles.yml's default (DEFAULTS), as dbt does, and an
    unset PGCONNECT_TIMEOUT dbt's 10 s. PGPASSWORD may be unset: libpq then reads ~/.pgpass (PGPASSFILE), or
    the server asks for none. A failure is one sentence naming the variable to change (`connection_error`).
    """
    unset = {key: value for var, (key, value) in DEFAULTS.items() if not os.environ.get(var, "").strip()}
    if not os.environ.get("PGCONNECT_TIMEOUT", "").strip():
        unset["connect_timeout"] = CONNECT_TIMEOUT
    try:
        connection = psycopg2.connect("", options=pgoptions(options) if options else None, **unset)
    except psycopg2.Error as error:
        given = {key: os.environ.get(var, "").strip() or value for var, (key, value) in DEFAULTS.items()}
        given["connect_timeout"] = os.environ.get("PGCONNECT_TIMEOUT", "").strip() or CONNECT_TIMEOUT
        raise connection_error(error, given) from None
    connection.autocommit = True
    return connection


class Session:
    """A Session (see the package) on one psycopg2 connection, naming schemas as the location has them.

    `schemas` maps a schema dbt recorded (the audit one) to the one this location holds (the published one);
    `production_schemas` does the same for production.
    """

    def __init__(
        self, connection: psycopg2.extensions.connection, schemas: Mapping[str, str] | None = None,
        production_schemas: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.connection = connection
        self.schemas = dict(schemas or {})
        self.production_schemas = production_schemas

    def _run(self, statement: str, params: Params) -> psycopg2.extensions.cursor:
        cursor = self.connection.cursor()
        try:
            if params:
                cursor.execute(placeholders(statement), list(params))
            else:  # without parameters psycopg2 sends the text as it is: no `%` to double
                cursor.execute(statement)
        except psycopg2.Error as error:
            cursor.close()
            raise _error(error, user=self.connection.info.user) from None
        return cursor

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        with contextlib.closing(self._run(sql, params)) as cursor:
            return [tuple(row) for row in cursor.fetchall()]

    def query_with_names(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with contextlib.closing(self._run(sql, params)) as cursor:
            names = [column.name for column in cursor.description or []]
            return names, [tuple(row) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Params = ()) -> None:
        self._run(sql, params).close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("begin")
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                self.connection.cursor().execute("rollback")
            raise
        self.execute("commit")

    def schema(self, name: str) -> str:
        """The schema of this location that holds what dbt recorded in `name`."""
        return self.schemas.get(name, name)

    def tables(self, schema: str) -> list[str]:
        rows = self.query(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [self.schema(schema)]
        )
        return [str(name) for (name,) in rows]

    def describe(self, schema: str, table: str) -> list[tuple[str, str]]:
        rows = self.query(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
            "where a.attrelid = to_regclass(?) and a.attnum > 0 and not a.attisdropped order by a.attnum",
            [self.relation(schema, table)],
        )
        if not rows:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} does not exist.")
        return [(str(name), str(kind)) for name, kind in rows]

    def digest(self, schema: str, table: str, skip: Sequence[str] = ()) -> str:
        columns = [sql.identifier(name) for name, _ in self.describe(schema, table) if name not in skip]
        if not columns:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} has no column to digest.")
        # A sum of 64-bit row hashes (as numeric, so it cannot overflow): order-free, and a repeated row counts twice.
        ((rows, digest),) = self.query(
            "select count(*), coalesce(sum(('x' || substr(md5(cast(t as text)), 1, 16))::bit(64)::bigint::numeric), 0) "
            f"from (select {', '.join(columns)} from {self.relation(schema, table)}) as t"
        )
        return f"{rows}:{digest}"

    def relation(self, *parts: str) -> str:
        if parts:  # (schema[, table]): the schema as this location names it
            parts = (self.schema(parts[0]), *parts[1:])
        return sql.relation(*parts)

    def production(self) -> bool:
        return self.production_schemas is not None

    def production_relation(self, schema: str, name: str, database: str | None = None) -> str:
        """`schema.name` in production: a schema of the same database (dbt's own for a deferred relation)."""
        if self.production_schemas is None:
            raise WarehouseError(f"no production to read from: schema {PRODUCTION} does not exist on this server.")
        if database is not None:  # dbt deferred to it: its schema is production's as dbt recorded it
            return sql.relation(schema, name)
        return sql.relation(self.production_schemas.get(schema, schema), name)


def _pg_type(duckdb_type: str) -> str:
    """The PostgreSQL type for a DuckDB column type of the engine's rows; WarehouseError for one without."""
    kind = duckdb_type.upper()
    decimal = _DECIMAL.fullmatch(kind)
    if decimal:
        return f"numeric({decimal[1]},{decimal[2]})"
    if kind not in _TYPES:
        raise WarehouseError(f"a raw column of DuckDB type {duckdb_type} has no PostgreSQL type here; declare another.")
    return _TYPES[kind]


class RawLoader:
    """Ingest's loader: rows checked in the local DuckDB `engine`, copied to the server in one transaction."""

    def __init__(self, engine: duckdb.DuckDBPyConnection, connection: psycopg2.extensions.connection, scratch: Path):
        self.engine = engine
        self.server = Session(connection)  # its statements run in the transaction raw_loader opened
        self.scratch = scratch

    def _count(self, statement: str, params: Params = ()) -> int:
        rows = self.server.query(statement, params)
        return int(rows[0][0]) if rows else 0

    def reusable(self, record: IngestRecord) -> Kept | None:
        rows = self.server.query(
            f"select run_id, loaded_rows, quarantined_rows from {sql.relation(record.schema, STATE)} "
            "where source_table = ? and sha256 = ? and spec_digest = ?",
            [record.source_table, record.sha256, record.spec_digest],
        )
        target = sql.relation(record.schema, record.relation)
        if not rows or self.server.query("select to_regclass(?) is null", [target]) == [(True,)]:
            return None
        run_id, loaded_rows, quarantined_rows = rows[0]
        loaded = self._count(f"select count(*) from {target}")
        quarantined = self._count(
            f"select count(*) from {sql.relation(record.schema, QUARANTINE)} where source_table = ?",
            [record.source_table],
        )
        if loaded != loaded_rows or quarantined != quarantined_rows:
            return None
        return Kept(str(run_id), int(loaded_rows), int(quarantined_rows))

    def _copy(
        self, rows: LocalRows, target: str, *, create: bool, instance: Sequence[str] = (), shown: str = ""
    ) -> None:
        """COPY the engine's `rows` into `target`; with `create`, replace the table first.

        A table whose columns stay the same is emptied (`truncate`, transactional here) rather than dropped, so the
        dbt views over it (staging) stay; one whose columns changed is dropped with its dependent views, which the
        build that follows ingest makes again. Those must be in the `instance`'s schemas: an object of another
        schema depending on the table (a consumer's view) is WarehouseError naming it and the table (`shown`).
        """
        params = dict(rows.params) if isinstance(rows.params, Mapping) else list(rows.params)
        self.engine.execute("create or replace temp table _outgoing as " + rows.query, params)
        if create:
            columns = self.engine.execute("describe _outgoing").fetchall()
            wanted = [(str(c[0]), _pg_type(str(c[1]))) for c in columns]
            current = self.server.query(
                "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
                "where a.attrelid = to_regclass(?) and a.attnum > 0 and not a.attisdropped order by a.attnum",
                [target],
            )
            spelled = [(name, _CATALOG_NAMES.get(kind, kind)) for name, kind in wanted]
            if current and [(str(n), str(t).replace(", ", ",")) for n, t in current] == spelled:
                self.server.execute(f"truncate {target}")
            else:
                definition = ", ".join(f"{sql.identifier(name)} {kind}" for name, kind in wanted)
                outside = _outside(self.server, _TABLE_REFERENCED, [target, target], instance) if current else []
                if outside:
                    raise WarehouseError(
                        f"the columns of raw table {shown} changed and {', '.join(outside)} outside the instance's "
                        f"schemas depend{'s' if len(outside) == 1 else ''} on it, which dropping it would drop too; "
                        "drop or change those first, then run again; nothing was loaded."
                    )
                self.server.execute(f"drop table if exists {target} cascade")
                self.server.execute(f"create table {target} ({definition})")
        path = self.scratch / "outgoing.csv"
        # DuckDB writes NULL as an empty field and an empty string as "": PostgreSQL's CSV reads them so.
        # The relation API takes the file as an argument: no path is written into SQL text.
        self.engine.table("_outgoing").write_csv(str(path), header=False)
        try:
            with path.open("rb") as handle, self.server.connection.cursor() as cursor:
                cursor.copy_expert(f"copy {target} from stdin with (format csv)", handle)
        except psycopg2.Error as error:
            raise _error(error, user=self.server.connection.info.user) from None
        path.unlink()
        self.engine.execute("drop table _outgoing")

    def load_raw(
        self, record: IngestRecord, rows: LocalRows, quarantine: LocalRows, unreadable: Sequence[Sequence[object]] = ()
    ) -> tuple[int, int]:
        target = sql.relation(record.schema, record.relation)
        relation = sql.relation(record.schema, QUARANTINE)
        name = record.schema.removesuffix(RAW_SUFFIX)  # the instance: <name>__raw
        instance = (name, f"{name}{AUDIT_SUFFIX}", f"{name}{RAW_SUFFIX}")
        self._copy(rows, target, create=True, instance=instance, shown=sql.shown(record.schema, record.relation))
        self.server.execute(f"delete from {relation} where source_table = ?", [record.source_table])
        self._copy(quarantine, relation, create=False)
        for row in unreadable:
            self.server.execute(f"insert into {relation} values (?, ?, ?, ?, ?, ?, ?)", list(row))
        loaded = self._count(f"select count(*) from {target}")
        quarantined = self._count(f"select count(*) from {relation} where source_table = ?", [record.source_table])
        state = sql.relation(record.schema, STATE)
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
        self.server.execute(f"update {sql.relation(schema, table)} set _loaded_at = ?", [loaded_at])


@contextmanager
def raw_loader(schemas: Sequence[str], *, memory_limit: str) -> Iterator[RawLoader]:
    """Ingest's transaction on the server (see `RawLoader`): each schema made with its quarantine and state tables."""
    connection = connect()
    connection.autocommit = False
    engine = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="ingest-pg-") as scratch, engine:
            engine.execute("set TimeZone = 'UTC'")
            engine.execute("set preserve_insertion_order = true")
            engine.execute("set memory_limit = ?", [memory_limit])
            with connection.cursor() as cursor:
                for schema in sorted(set(schemas)):
                    cursor.execute(f"create schema if not exists {sql.identifier(schema)}")
                    cursor.execute(
                        f"create table if not exists {sql.relation(schema, QUARANTINE)} ("
                        "run_id varchar, source_table varchar, raw_file varchar, row_number bigint, "
                        "reason varchar, record varchar, quarantined_at timestamp)"
                    )
                    cursor.execute(
                        f"create table if not exists {sql.relation(schema, STATE)} ("
                        "source_table varchar, raw_file varchar, relation varchar, sha256 varchar, "
                        "spec_digest varchar, loaded_rows bigint, quarantined_rows bigint, run_id varchar, "
                        "loaded_at timestamp)"
                    )
            yield RawLoader(engine, connection, Path(scratch))
            connection.commit()
    except psycopg2.Error as error:
        with contextlib.suppress(psycopg2.Error):
            connection.rollback()
        raise _error(error, "ingest failed, nothing was loaded", connection.info.user) from None
    except BaseException:
        with contextlib.suppress(psycopg2.Error):
            connection.rollback()
        raise
    finally:
        connection.close()


def _schema_exists(session: Session, schema: str) -> bool:
    return bool(session.query("select 1 from pg_namespace where nspname = ?", [schema]))


class Warehouse:
    """A PostgreSQL instance: the schemas `<name>__raw`, `<name>__audit` and `<name>` (see the module docstring)."""

    type = TYPE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.name
        self.audit, self.raw = f"{self.name}{AUDIT_SUFFIX}", f"{self.name}{RAW_SUFFIX}"

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
        key = self.settings.pii_key
        if key is not None:
            values[OPTIONS_VAR] = pgoptions({PII_SETTING: key.decode("utf-8")})
        return values | self.defer_env()

    def defer_env(self) -> dict[str, str]:
        return {}  # dbt defers to production's schemas of the same database as they are

    def prepare(self) -> None:
        """Nothing: dbt makes its schemas itself, and `create` made the raw one and pgcrypto."""

    def sibling_env(self, name: str) -> dict[str, str]:
        if self.settings.is_shared:
            return {DUCKDB_PATH_VAR: str(self.settings.duckdb_path.with_name(f"{name}.duckdb"))}
        return {DUCKDB_PATH_VAR: ""}

    def _production_schemas(self, session: Session) -> dict[str, str] | None:
        wanted = self.settings.state_dir is not None and self.name != PRODUCTION
        if not wanted or not _schema_exists(session, PRODUCTION):
            return None
        return {self.audit: PRODUCTION}

    def production(self) -> str | None:
        """`schema prod__audit` when slim CI has production to defer to, else None.

        That is where production's dbt built its models, which its manifest names: what dbt defers to (the checks
        compare with the published `prod`). Raises WarehouseError when the role (PGUSER) cannot read production's
        schemas or tables: dbt would fail on the first deferred parent with a bare `permission denied`.
        """
        with contextlib.closing(connect()) as connection:
            session = Session(connection)
            found = self._production_schemas(session) is not None
            if found:
                _refuse_unreadable(session, [PRODUCTION, f"{PRODUCTION}{AUDIT_SUFFIX}"])
        return f"schema {PRODUCTION}{AUDIT_SUFFIX}" if found else None

    def exists(self, location: Location = PUBLISHED) -> bool:
        with contextlib.closing(connect()) as connection:
            return _schema_exists(Session(connection), self.schema(location))

    def _claim(self, session: Session) -> None:
        """Refuse an instance whose schemas exist on the server without this pipeline's owner record for it.

        The record is the JSON comment `record_owner` writes on `<name>`. Without this check a branch or
        PIPELINE_INSTANCE named like someone's schema (`public`, another instance's `<x>__raw`) would be written
        over and dropped. Raises WarehouseError naming the schema.
        """
        rows = session.query(
            "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = ?", [self.name]
        )
        document = _record(rows[0][0]) if rows else {}
        if document.get("instance") == self.name:
            project = document.get("project", PROJECT)  # a record written before records named their project: ours
            if project != PROJECT:
                raise WarehouseError(
                    f"instance {self.name} in this database belongs to the project {project} (its owner record on "
                    f"schema {self.name}), which names its instances as this project does; give each project a "
                    "database of its own (PGDATABASE), then run again; nothing was changed."
                )
            return
        publisher = document.get(PUBLISHED_BY)
        for schema in (self.name, self.audit, self.raw):
            if _schema_exists(session, schema):
                made = (
                    f"instance {publisher} publishes a custom schema there"
                    if publisher
                    else f"was not made by this pipeline for instance {self.name} (no owner record on {self.name})"
                )
                raise WarehouseError(
                    f"schema {schema} exists on this server but {made}; choose another instance name (branch or "
                    "PIPELINE_INSTANCE), or rename that schema yourself."
                )

    def _make(self, session: Session) -> bool:
        """In one transaction: claim the name, make pgcrypto and the three schemas, write the owner record."""
        with session.transaction():
            self._claim(session)
            # Instances made at once would race on pgcrypto: one at a time (a transaction-scoped lock).
            session.execute("select pg_advisory_xact_lock(hashtext('pgcrypto'))")
            session.execute("create extension if not exists pgcrypto")
            made = False
            for schema in (self.raw, self.audit, self.name):
                made |= not _schema_exists(session, schema)
                session.execute(f"create schema if not exists {sql.identifier(schema)}")
            document = {
                "instance": self.name,
                "env": self.settings.env,
                "owner": self.settings.owner,
                "project": PROJECT,
            }
            # The server takes no parameter in COMMENT; psycopg2 binds it on the client, quoting it as a literal.
            text = json.dumps(document, ensure_ascii=True)
            session.execute(f"comment on schema {sql.identifier(self.name)} is ?", [text])
        return made

    def create(self) -> bool:
        with contextlib.closing(connect()) as connection:
            return self._make(Session(connection))

    def drop(self) -> bool:
        """Drop the instance's schemas and everything in them, in one transaction; True when any existed.

        Its schemas: `<name>`, `<name>__audit`, `<name>__raw`, and the custom ones (`_custom_schemas`).

        Never anything outside them: when an object of another schema depends on one of theirs (a consumer's view
        or materialized view, a foreign key, a function, a column default or type, a trigger), which
        `drop schema ... cascade` would drop too, WarehouseError naming those objects and nothing dropped. The
        check and the drop share the transaction, so only an object made in between (milliseconds) could slip by.
        """
        with contextlib.closing(connect()) as connection:
            session = Session(connection)
            schemas = [self.name, self.audit, self.raw, *self._custom_schemas(session)]
            existed = any(_schema_exists(session, schema) for schema in schemas)
            with session.transaction():
                if existed:
                    self._claim(session)  # never a schema this pipeline did not make
                    outside = _outside(session, _SCHEMAS_REFERENCED, [schemas], schemas)
                    if outside:
                        shown = listed(outside, LISTED)
                        one = len(outside) == 1
                        raise WarehouseError(
                            f"refusing to drop instance {self.name}: {shown} outside its schemas depend"
                            f"{'s' if one else ''} on its tables and would be dropped with them; drop "
                            f"{'it' if one else 'them'} (or point {'it' if one else 'them'} elsewhere) first, then "
                            "run again; nothing was dropped."
                        )
                for schema in schemas:
                    session.execute(f"drop schema if exists {sql.identifier(schema)} cascade")
        return existed

    def _custom_schemas(self, session: Session) -> list[str]:
        """The instance's custom schemas: dbt's `<name>__audit_<custom>`, and where publish put them (their record)."""
        rows = session.query(
            "select nspname from pg_namespace where starts_with(nspname, ?) "
            "or obj_description(oid, 'pg_namespace') = ? order by 1",
            [f"{self.audit}_", _published_record(self.name)],
        )
        return [str(name) for (name,) in rows]

    def _claim_published(self, session: Session, schema: str) -> None:
        """Make the custom published schema `schema` this instance's, or find it is; in publish's transaction.

        A custom schema of `<name>` is published as `<name>_<custom>`, which may be another instance's name (branch
        `main_marketing` -> `dev__main_marketing`) or a schema of someone else: WarehouseError naming it rather than
        writing over it. A schema this makes carries the record `{"published_by": "<name>"}` as its comment.
        """
        rows = session.query(
            "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = ?", [schema]
        )
        if not rows:
            session.execute(f"create schema {sql.identifier(schema)}")
            # The server takes no parameter in COMMENT; psycopg2 binds it on the client, quoting it as a literal.
            session.execute(f"comment on schema {sql.identifier(schema)} is ?", [_published_record(self.name)])
            return
        document = _record(rows[0][0])
        if document.get(PUBLISHED_BY) == self.name:
            return
        whose = f"instance {document['instance']}'s" if "instance" in document else "not made by this pipeline"
        raise WarehouseError(
            f"a custom schema of instance {self.name} is published as schema {schema}, which is {whose}; rename the "
            "custom schema (dbt's `schema` config) or the branch, then run again."
        )

    def record_owner(self) -> None:
        """Make the instance if needed (as `create`: its schemas, pgcrypto) and record whose it is."""
        with contextlib.closing(connect()) as connection:
            self._make(Session(connection))

    @property
    def lock_path(self) -> Path:
        return self.settings.project_dir / WAREHOUSE_DIR / f"{self.name}.lock"

    def ensure_writable(self) -> None:
        connect().close()

    @contextlib.contextmanager
    def server_lock(self) -> Iterator[None]:
        """A session-level advisory lock on the instance's name in this database, on a connection held for the block.

        Another checkout or machine running the same instance of this server holds it: InUse at once, never a
        wait. The server drops it when that connection ends, however the run ends.
        """
        with contextlib.closing(connect()) as connection:
            session = Session(connection)
            # Advisory locks are per database already: the instance's name is the key.
            (taken,) = session.query("select pg_try_advisory_lock(hashtextextended(?, 0))", [self.name])[0]
            if not taken:
                raise InUse(
                    f"instance {self.name} is in use by a run from another checkout or machine on this server "
                    "(its PostgreSQL advisory lock is held); wait for it to finish, then run again."
                )
            yield

    @contextmanager
    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> Iterator[Session]:
        with contextlib.closing(connect()) as connection:
            # The run history lives in the instance's audit schema: one history per instance, dropped with it.
            schemas = {self.audit: self.name} if location == PUBLISHED else {HISTORY_SCHEMA: self.audit}
            session = Session(connection, schemas)
            schema = self.schema(location)
            if not _schema_exists(session, schema):
                if read_only:
                    raise MissingRelation(f"schema {schema} does not exist yet; `run` or `env create` makes it.")
                session.execute(f"create schema if not exists {sql.identifier(schema)}")
            if read_only:
                session.execute("set session characteristics as transaction read only")
            session.production_schemas = self._production_schemas(session)
            yield session

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        return raw_loader(schemas, memory_limit=memory_limit)

    def publish(self, relations: Sequence[Relation]) -> None:
        """Every relation into the published schema, in one transaction (see the module docstring).

        Raises InUse when a lock held by another session outlasts $PIPELINE_LOCK_TIMEOUT, WarehouseError when a
        consumer's view depends on a table whose columns changed, MissingRelation for an absent audit table;
        each names the table, and the published schema is left as it was.
        """
        timeout = self.settings.lock_timeout_ms
        shown = ""
        try:
            with contextlib.closing(connect()) as connection:
                session = Session(connection)
                with session.transaction():
                    session.query("select set_config('lock_timeout', ?, true)", [f"{timeout}ms"])
                    for count, relation in enumerate(relations, start=1):
                        schema = self.published_schema(relation.schema)
                        shown = sql.shown(schema, relation.name)
                        source = sql.relation(relation.schema, relation.name)
                        target = sql.relation(schema, relation.name)
                        if schema == self.name:
                            session.execute(f"create schema if not exists {sql.identifier(schema)}")
                        else:
                            self._claim_published(session, schema)
                        _replace(session, source, target, shown)
                        if self.settings.fault == KILL_DURING_PUBLISH and count == 1:
                            os.kill(os.getpid(), signal.SIGKILL)  # the fault-injection tests' hard stop
        except InUse:
            raise InUse(
                f"publish waited {timeout / 1000:g} s for a lock on {shown} that another session holds (a consumer's "
                f"open transaction or LOCK TABLE; pg_locks and pg_stat_activity show which), and published nothing: "
                f"end that session, or set {LOCK_TIMEOUT_VAR} longer (e.g. {LOCK_TIMEOUT_VAR}=5min), then run again."
            ) from None
        except WarehouseError as error:
            raise type(error)(f"publish failed, consumers still see the previous tables: {error}") from None

    def snapshot(self, location: Location = PUBLISHED) -> dict[str, list[tuple[Any, ...]]]:
        schemas = [self.audit, self.raw] if location == AUDIT else [self.name]
        with contextlib.closing(connect()) as connection:
            session = Session(connection)
            tables = session.query(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_schema = any(?) order by 1, 2",
                [schemas],
            )
            return {
                f"{schema}.{name}": sorted(
                    session.query(f"select * from {sql.relation(schema, name)}"), key=lambda row: [repr(v) for v in row]
                )
                for schema, name in tables
            }


# What the session's role cannot read of the schemas `?` (a text[]): a schema without USAGE, or a relation without
# SELECT, as `schema` or `schema.relation`.
_UNREADABLE = """
select format('%I', nspname) from pg_namespace where nspname = any(?) and not has_schema_privilege(oid, 'USAGE')
union all
select format('%I.%I', n.nspname, c.relname) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = any(?) and c.relkind in ('r', 'v', 'm', 'p') and has_schema_privilege(n.oid, 'USAGE')
and not has_table_privilege(c.oid, 'SELECT')
order by 1"""


def _refuse_unreadable(session: Session, schemas: list[str]) -> None:
    """WarehouseError naming the role, up to LISTED of what it cannot read in `schemas`, and the grants that fix it."""
    unreadable = [str(name) for (name,) in session.query(_UNREADABLE, [schemas, schemas])]
    if not unreadable:
        return
    ((role,),) = session.query("select current_user")
    named = ", ".join(schemas)  # prod and prod__audit: names that need no quotes
    raise WarehouseError(
        f"role {role} (PGUSER) cannot read {listed(unreadable, LISTED)} of production, which slim CI defers to and "
        f"compares with: as their owner or a superuser run `grant usage on schema {named} to {role}; grant select "
        f"on all tables in schema {named} to {role}`, or set PGUSER to a role that can read them; nothing was built."
    )


# The key of the record (a schema's comment) of a custom schema that publish made for an instance.
PUBLISHED_BY = "published_by"


def _published_record(name: str) -> str:
    """The comment publish writes on the custom schema it makes for instance `name` (JSON, ASCII)."""
    return json.dumps({PUBLISHED_BY: name}, ensure_ascii=True)


def _record(comment: object) -> dict[str, Any]:
    """A schema's comment as the pipeline's record (`{"instance", ...}`, `{"published_by"}`); {} when not one."""
    try:
        document = json.loads(str(comment))
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


# A relation's columns, in order, as the catalog spells their types.
_COLUMNS = (
    "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
    "where a.attrelid = to_regclass(?) and a.attnum > 0 and not a.attisdropped order by a.attnum"
)
# The views (and materialized views) whose definition reads a relation, as `schema.name`.
_DEPENDENT_VIEWS = (
    "select distinct format('%I.%I', n.nspname, v.relname) from pg_depend as d "
    "join pg_rewrite as r on r.oid = d.objid join pg_class as v on v.oid = r.ev_class "
    "join pg_namespace as n on n.oid = v.relnamespace "
    "where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass "
    "and d.refobjid = to_regclass(?) and v.oid <> d.refobjid order by 1"
)


# The objects outside the schemas `?` (a text[]) that depend on an object in them (or, _TABLE_REFERENCED, on a
# table), which `drop schema ... cascade` (`drop table ... cascade`) would drop too, as (type, identity) from
# pg_identify_object: `view rep.v`, `function rep.f()`. A view depends through its rewrite rule, a foreign key,
# default or trigger through its constraint, default or trigger: each is shown as the relation that holds it.
# Normal and automatic dependencies only (internal ones, as a table's TOAST table or index, go with it).
_SCHEMAS_REFERENCED = """
with ours as (select oid from pg_namespace where nspname = any(?)),
referenced as (
    select 'pg_class'::regclass as classid, c.oid from pg_class as c where c.relnamespace in (select oid from ours)
    union all
    select 'pg_type'::regclass, t.oid from pg_type as t where t.typnamespace in (select oid from ours)
    union all
    select 'pg_proc'::regclass, p.oid from pg_proc as p where p.pronamespace in (select oid from ours)
),"""
# The same for one table (`?`, quoted) and its row type, instead of whole schemas.
_TABLE_REFERENCED = """
with referenced as (
    select 'pg_class'::regclass as classid, c.oid from pg_class as c where c.oid = to_regclass(?)
    union all
    select 'pg_type'::regclass, c.reltype from pg_class as c where c.oid = to_regclass(?)
),"""
_DEPENDENTS_OUTSIDE = """
dependents as (
    select d.classid, d.objid, coalesce(rw.ev_class, co.conrelid, ad.adrelid, tg.tgrelid) as holder
    from pg_depend as d
    join referenced as r on d.refclassid = r.classid and d.refobjid = r.oid
    left join pg_rewrite as rw on d.classid = 'pg_rewrite'::regclass and rw.oid = d.objid
    left join pg_constraint as co on d.classid = 'pg_constraint'::regclass and co.oid = d.objid and co.conrelid <> 0
    left join pg_attrdef as ad on d.classid = 'pg_attrdef'::regclass and ad.oid = d.objid
    left join pg_trigger as tg on d.classid = 'pg_trigger'::regclass and tg.oid = d.objid
    where d.deptype in ('n', 'a')
)
select distinct o.type, o.identity
from dependents as x
cross join lateral pg_identify_object(
    case when x.holder is null then x.classid else 'pg_class'::regclass end, coalesce(x.holder, x.objid), 0
) as o
where not coalesce(o.schema = any(?), false)
order by 1, 2
"""


def _outside(session: Session, referenced: str, params: list[Any], schemas: Sequence[str]) -> list[str]:
    """The objects outside `schemas` that depend on `referenced`, as `<type> <identity>` (`view rep.v`), sorted.

    `referenced` is _SCHEMAS_REFERENCED or _TABLE_REFERENCED, with its `params`.
    """
    rows = session.query(referenced + _DEPENDENTS_OUTSIDE, [*params, list(schemas)])
    return [f"{kind} {name}" for kind, name in rows]


def _replace(session: Session, source: str, target: str, shown: str) -> None:
    """Make the published table `target` hold the audited `source`'s rows, inside the caller's transaction.

    Same columns (names and types, in order): the rows are replaced and the table stays, with the views,
    grants and indexes consumers made on it. Changed columns: dropped and made again, which a consumer's view
    would not survive, so WarehouseError naming those views (`shown` names the table) rather than a cascade.
    """
    current = session.query(_COLUMNS, [target])
    if current and current == session.query(_COLUMNS, [source]):
        session.execute(f"delete from {target}")
        session.execute(f"insert into {target} select * from {source}")
        return
    views = [str(name) for (name,) in session.query(_DEPENDENT_VIEWS, [target])] if current else []
    if views:
        listed = ", ".join(views)
        raise WarehouseError(
            f"the columns of {shown} changed and the view{'s' if len(views) > 1 else ''} {listed} of a consumer "
            f"depend{'' if len(views) > 1 else 's'} on it, which would break; drop {listed}, run again, then make "
            "them again on the new columns."
        )
    session.execute(f"drop table if exists {target}")
    session.execute(f"create table {target} as select * from {source}")


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance of this project on the server, by env and name; another project's are left out.

    An instance is a schema whose comment records its owner and this project (`record_owner`).

    An instance's size is `pg_total_relation_size` (tables with their indexes and TOAST, in bytes) summed over
    its three schemas. `project_dir` and `shared` are the seam's arguments; on a server every instance, shared
    ones too, is a schema.
    """
    del project_dir, shared
    with contextlib.closing(connect()) as connection:
        session = Session(connection)
        rows = session.query(
            "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace "
            "where starts_with(obj_description(oid, 'pg_namespace'), ?) order by 1",
            ['{"instance"'],
        )
        names = [str(name) for name, _ in rows]
        sizes = dict(
            session.query(
                "select n.nspname, sum(pg_total_relation_size(c.oid)) from pg_class as c "
                "join pg_namespace as n on n.oid = c.relnamespace "
                "where c.relkind in ('r', 'm', 'p') and n.nspname = any(?) group by 1",
                [[f"{name}{suffix}" for name in names for suffix in ("", AUDIT_SUFFIX, RAW_SUFFIX)]],
            )
        )
    found = []
    for name, comment in rows:
        document = _record(comment)
        if document.get("instance") == name and document.get("project", PROJECT) == PROJECT:
            env = str(document.get("env") or env_of(name))
            size = sum(int(sizes.get(f"{name}{suffix}") or 0) for suffix in ("", AUDIT_SUFFIX, RAW_SUFFIX))
            found.append(Instance(name, env, Path(f"schema {name}"), size, str(document.get("owner") or "?")))
    return sorted(found, key=lambda instance: (instance.env, instance.name))


if TYPE_CHECKING:  # mypy checks that each class here has every method of the seam's interface
    from .. import warehouses as interface

    def _conforms(
        settings: Settings, connection: psycopg2.extensions.connection, engine: duckdb.DuckDBPyConnection
    ) -> tuple[interface.Warehouse, interface.Session, interface.RawLoader]:
        return Warehouse(settings), Session(connection), RawLoader(engine, connection, Path())
