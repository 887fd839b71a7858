"""DuckDB behind the seam: a file per location, attached files for production, a file swap to publish.

An instance's audit location is `<stem>__audit.duckdb` (Settings.audit_path) and its published location is
`<stem>.duckdb` (Settings.duckdb_path), beside each other in `warehouse/` for dev and ci, wherever
$DBT_DUCKDB_PATH says for staging and prod. Who owns an instance is `<stem>.owner.json` beside its file.

Publish never writes the consumers' file in place, because a reader (a BI tool, a notebook) would block the
write: it copies the current file to `.<name>.<pid>.publishing` beside it, writes a new file
`.<name>.<pid>.publishing.new` with the new relations and the previous file's other tables inside one
transaction, and `os.replace`s the new file over the old one. Writing a new file rather than replacing tables
in the copy keeps the file its content's size: DuckDB reuses but never returns the blocks a replaced table
freed, so a replaced copy grew by up to the size of its tables per run. Readers that had the old file open keep
reading it until they reconnect; a new connection sees all new tables. A process killed at any point leaves the
old file untouched (the next publish removes its leftover copy).

DuckDB lets one process write a file, and any reader blocks a writer (`IOException: Could not set lock on
file`): `database_in_use` turns that error into one sentence naming the file (InUse).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .. import sql
from ..config import (
    AUDIT_SUFFIX,
    DEFER_DATABASE_VAR,
    DEFER_DUCKDB_PATH_VAR,
    DUCKDB_PATH_VAR,
    THREADS_VAR,
    WAREHOUSE_DIR,
    Settings,
)
from . import (
    AUDIT,
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
)

TYPE = "duckdb"
# DuckDB's message when another process holds the file: `Could not set lock on file "<path>": ...`.
_DUCKDB_LOCKED = re.compile(r'Could not set lock on file "(?P<path>.+?)": (?:.*\(PID (?P<pid>\d+)\))?')


def database_in_use(error: BaseException | None) -> InUse | None:
    """DuckDB's "Could not set lock on file" as one sentence naming the file; None for any other error."""
    if isinstance(error, InUse):
        return error
    match = _DUCKDB_LOCKED.search(str(error))
    if not isinstance(error, duckdb.Error) or match is None:
        return None
    holder = f"pid {match['pid']}, " if match["pid"] else ""
    return InUse(
        f"{match['path']} is open in another process ({holder}e.g. a BI tool or notebook); "
        "close the other connection or wait, then run again."
    )


def _error(error: duckdb.Error) -> WarehouseError:
    """A DuckDB error as the seam's: InUse, MissingRelation (a catalog error), or WarehouseError; same text."""
    refusal = database_in_use(error)
    if refusal is not None:
        return refusal
    if isinstance(error, duckdb.CatalogException):
        return MissingRelation(str(error))
    return WarehouseError(str(error))


def ensure_writable(database: Path) -> None:
    """Open `database` for writing once and close it, so a holder is named (InUse) before any work starts."""
    if not database.is_file():
        return
    try:
        duckdb.connect(str(database)).close()
    except duckdb.Error as error:
        raise _error(error) from None


def owner_path(database: Path) -> Path:
    """The JSON file beside an instance's database that records whose instance it is."""
    return database.with_name(f"{database.stem}.owner.json")


def _owner(database: Path) -> str:
    try:
        document = json.loads(owner_path(database).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "?"  # made before owners were recorded, or by hand
    return str(document.get("owner") or "?") if isinstance(document, dict) else "?"


class Session:
    """A Session (see the package) on one DuckDB connection; `production` is the file deferred to, if any."""

    def __init__(self, con: duckdb.DuckDBPyConnection, production: Path | None = None) -> None:
        self.con = con
        self.production_path = production

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as error:
            raise _error(error) from error

    def query_with_names(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            result = self.con.execute(sql, list(params))
            return [column[0] for column in result.description or []], result.fetchall()
        except duckdb.Error as error:
            raise _error(error) from error

    def execute(self, sql: str, params: Params = ()) -> None:
        try:
            self.con.execute(sql, list(params))
        except duckdb.Error as error:
            raise _error(error) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("begin transaction")
        try:
            yield
        except BaseException:
            with suppress(duckdb.Error):  # a failed commit has rolled back already
                self.con.execute("rollback")
            raise
        self.execute("commit")

    def tables(self, schema: str) -> list[str]:
        rows = self.query(
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? order by 1",
            [schema],
        )
        return [str(name) for (name,) in rows]

    def describe(self, schema: str, table: str) -> list[tuple[str, str]]:
        rows = self.query(f"describe {self.relation(schema, table)}")
        return [(str(row[0]), str(row[1])) for row in rows]

    def digest(self, schema: str, table: str, skip: Sequence[str] = ()) -> str:
        columns = [
            sql.identifier(str(row[0]))
            for row in self.query(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, table],
            )
            if row[0] not in skip
        ]
        if not columns:
            raise MissingRelation(f"{sql.shown(schema, table)} does not exist or has no column to digest.")
        (rows, digest), *_ = self.query(
            f"select count(*), coalesce(sum(cast(hash(t) as hugeint)), 0) from "
            f"(select {', '.join(columns)} from {sql.relation(schema, table)}) as t"
        )
        return f"{rows}:{digest}"

    def relation(self, *parts: str) -> str:
        return sql.relation(*parts)

    def production(self) -> bool:
        return self.production_path is not None and self.production_path.is_file()

    def production_relation(self, schema: str, name: str, database: str | None = None) -> str:
        """A relation of the production file, attached read-only under a name of its own.

        For a deferred relation that name is dbt's (`database`, else the file's stem, as the ci target attaches
        it); otherwise the stem if attached so already, else `production_<stem>`.
        """
        if self.production_path is None or not self.production_path.is_file():
            raise WarehouseError("no production database to read from; set DBT_DEFER_DUCKDB_PATH to the prod file.")
        stem = self.production_path.stem
        if database is None:
            database = stem if stem in self._attached() else "production_" + stem
        database = database or stem
        return sql.relation(attach_read_only(self.con, self.production_path, database), schema, name)

    def _attached(self) -> set[str]:
        return {str(row[0]) for row in self.query("select database_name from duckdb_databases()")}


def attach_read_only(con: duckdb.DuckDBPyConnection, database: Path, name: str) -> str:
    """Attach `database` read-only as `name` unless a database of that name is attached already; its name.

    The path is a bound parameter and the name a quoted identifier: neither is ever spliced as text.
    """
    attached = {row[0] for row in con.execute("select database_name from duckdb_databases()").fetchall()}
    if name not in attached:
        con.execute(f"attach ? as {sql.identifier(name)} (read_only)", [str(database)])
    return name


@contextmanager
def session_at(database: Path, *, read_only: bool = False, production: Path | None = None) -> Iterator[Session]:
    """A Session on one DuckDB file (made when missing unless `read_only`); tests and tools use it directly."""
    try:
        if not read_only:
            database.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(database), read_only=read_only)
    except duckdb.Error as error:
        raise _error(error) from error
    with con:
        yield Session(con, production)


def _bound(rows: LocalRows) -> list[object] | dict[str, object]:
    """The parameters of engine SQL as DuckDB takes them: a dict of named ones, or a list of `?` ones."""
    return dict(rows.params) if isinstance(rows.params, Mapping) else list(rows.params)


class RawLoader:
    """Ingest's loader on the audit file: the engine is the file's own connection, inside one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.engine = con

    def _count(self, statement: str, params: Params = ()) -> int:
        row = self.engine.execute(statement, list(params)).fetchone()
        return int(row[0]) if row else 0

    def reusable(self, record: IngestRecord) -> Kept | None:
        con = self.engine
        row = con.execute(
            f"select run_id, loaded_rows, quarantined_rows from {sql.relation(record.schema, STATE)} "
            "where source_table = ? and sha256 = ? and spec_digest = ?",
            [record.source_table, record.sha256, record.spec_digest],
        ).fetchone()
        exists = self._count(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [record.schema, record.relation],
        )
        if row is None or not exists:
            return None
        run_id, loaded_rows, quarantined_rows = row
        loaded = self._count(f"select count(*) from {sql.relation(record.schema, record.relation)}")
        quarantined = self._count(
            f"select count(*) from {sql.relation(record.schema, QUARANTINE)} where source_table = ?",
            [record.source_table],
        )
        if loaded != loaded_rows or quarantined != quarantined_rows:
            return None
        return Kept(str(run_id), int(loaded_rows), int(quarantined_rows))

    def load_raw(
        self, record: IngestRecord, rows: LocalRows, quarantine: LocalRows, unreadable: Sequence[Sequence[object]] = ()
    ) -> tuple[int, int]:
        con = self.engine
        target = sql.relation(record.schema, record.relation)
        # The checked rows are in this very file already (the engine is the audit database): no copy.
        con.execute(f"create or replace table {target} as {rows.query}", _bound(rows))
        relation = sql.relation(record.schema, QUARANTINE)
        con.execute(f"delete from {relation} where source_table = ?", [record.source_table])
        con.execute(f"insert into {relation} {quarantine.query}", _bound(quarantine))
        if unreadable:
            con.executemany(f"insert into {relation} values (?, ?, ?, ?, ?, ?, ?)", [list(r) for r in unreadable])
        loaded = self._count(f"select count(*) from {target}")
        quarantined = self._count(f"select count(*) from {relation} where source_table = ?", [record.source_table])
        state = sql.relation(record.schema, STATE)
        con.execute(f"delete from {state} where source_table = ?", [record.source_table])
        con.execute(
            f"insert into {state} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.source_table, record.raw_file, record.relation, record.sha256, record.spec_digest,
                loaded, quarantined, record.run_id, datetime.now(timezone.utc).replace(tzinfo=None),
            ],
        )  # fmt: skip
        return loaded, quarantined

    def touch(self, schema: str, table: str, loaded_at: datetime) -> None:
        self.engine.execute(f"update {sql.relation(schema, table)} set _loaded_at = cast(? as timestamp)", [loaded_at])


def _staging_copy(target: Path) -> Path:
    """A copy of the consumers' file (and its write-ahead log, if any) beside it, on the same filesystem."""
    # A killed run's copy: safe to remove, since this process holds the instance's run lock.
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.publishing*"):
        leftover.unlink(missing_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.publishing")
    if target.is_file():
        shutil.copy2(target, staged)
        wal = target.with_name(target.name + ".wal")
        if wal.is_file():
            shutil.copy2(wal, staged.with_name(staged.name + ".wal"))
    return staged


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[Relation]:
    """The base tables of an attached database, sorted."""
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ? and not internal order by 1, 2",
        [database],
    ).fetchall()
    return [Relation(schema, name) for schema, name in rows]


def _remove(database: Path) -> None:
    """Remove a staging file and its write-ahead log, if any."""
    database.unlink(missing_ok=True)
    database.with_name(database.name + ".wal").unlink(missing_ok=True)


def _drop_database(path: Path) -> bool:
    existed = path.exists()
    # The file, its write-ahead log, and a copy a killed publish left behind.
    copies = path.parent.glob(f".{glob.escape(path.name)}.*.publishing*")
    for leftover in (path, path.with_name(path.name + ".wal"), owner_path(path), *copies):
        leftover.unlink(missing_ok=True)
    return existed


def snapshot(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table in a database file with its rows, sorted: what a consumer would read; {} without the file."""
    if not database.is_file():
        return {}
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(f"select * from {sql.relation(schema, name)} order by all").fetchall()
            for schema, name in tables
        }


@contextmanager
def raw_loader(database: Path, schemas: Sequence[str], *, memory_limit: str) -> Iterator[RawLoader]:
    """Ingest's transaction on one database file (see `RawLoader`); the file is made when missing."""
    database.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(database))
    except duckdb.Error as error:
        raise _error(error) from error
    with con:
        # Offsets are converted to UTC, the unit of every timestamp the marts document.
        con.execute("set TimeZone = 'UTC'")
        # Rows are written in file order without sorting them: the staging CSV and `_checked` are in
        # that order, and DuckDB keeps it through scans and filters while this is on (its default).
        con.execute("set preserve_insertion_order = true")
        # Ingest streams: what does not fit spills to `<database>.tmp` beside the file instead of growing the
        # process (at scale 10, peak RSS 0.52 GiB without a limit, 0.41 GiB with it, in the same time).
        con.execute("set memory_limit = ?", [memory_limit])
        con.execute("begin transaction")
        try:
            for schema in sorted(set(schemas)):
                con.execute(f"create schema if not exists {sql.identifier(schema)}")
                con.execute(
                    f"create table if not exists {sql.relation(schema, QUARANTINE)} ("
                    "run_id varchar, source_table varchar, raw_file varchar, row_number bigint, "
                    "reason varchar, record varchar, quarantined_at timestamp)"
                )
                con.execute(
                    f"create table if not exists {sql.relation(schema, STATE)} ("
                    "source_table varchar, raw_file varchar, relation varchar, sha256 varchar, "
                    "spec_digest varchar, loaded_rows bigint, quarantined_rows bigint, run_id varchar, "
                    "loaded_at timestamp)"
                )
            yield RawLoader(con)
            con.execute("commit")
        except BaseException:
            with suppress(duckdb.Error):
                con.execute("rollback")
            raise


class File:
    """One DuckDB file as a LoadTarget, without Settings: tests and benchmarks ingest into it directly."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        return raw_loader(self.path, schemas, memory_limit=memory_limit)

    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> AbstractContextManager[Session]:
        """A Session on the file, whichever location is asked for: it is both (see `session_at`)."""
        del location
        return session_at(self.path, read_only=read_only)


class Warehouse:
    """A DuckDB instance: the audit file and the published file of one Settings (see the module docstring)."""

    type = TYPE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def path(self, location: Location) -> Path:
        """The database file of a location."""
        return self.settings.audit_path if location == AUDIT else self.settings.duckdb_path

    def outside(self, relations: Sequence[Relation]) -> list[Relation]:
        """None: dbt has only the instance's audit file attached, whatever schema a model names."""
        del relations
        return []

    def where(self, location: Location = PUBLISHED) -> str:
        return self.path(location).name

    def dbt_env(self) -> dict[str, str]:
        values = {DUCKDB_PATH_VAR: str(self.settings.audit_path), THREADS_VAR: str(self.settings.threads)}
        return values | self.defer_env()

    def defer_env(self) -> dict[str, str]:
        defer = self.settings.defer_path
        if defer is None:
            return {}
        # DuckDB defers across files only when the production file is attached under its own name.
        return {DEFER_DUCKDB_PATH_VAR: str(defer), DEFER_DATABASE_VAR: defer.stem}

    def prepare(self) -> None:
        # dbt-duckdb creates the database file but not its folder: a first run that ingested nothing
        # (a project whose models read no source) must still find `warehouse/`.
        self.settings.audit_path.parent.mkdir(parents=True, exist_ok=True)

    def sibling_env(self, name: str) -> dict[str, str]:
        if self.settings.is_shared:  # shared environments have no default file: put each set beside the main one
            return {DUCKDB_PATH_VAR: str(self.settings.duckdb_path.with_name(f"{name}.duckdb"))}
        return {DUCKDB_PATH_VAR: ""}

    def production(self) -> str | None:
        defer = self.settings.defer_path
        return defer.name if defer is not None and defer.is_file() else None

    def exists(self, location: Location = PUBLISHED) -> bool:
        return self.path(location).is_file()

    def create(self) -> bool:
        made = not (self.exists(AUDIT) and self.exists(PUBLISHED))
        self.settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with duckdb.connect(str(self.settings.audit_path)) as con:
                con.execute("create schema if not exists raw")
            if not self.settings.duckdb_path.is_file():  # an existing one may be open in a reader: leave it be
                duckdb.connect(str(self.settings.duckdb_path)).close()
        except duckdb.Error as error:
            raise database_in_use(error) or WarehouseError(f"could not create {self.settings.name}: {error}") from error
        return made

    def drop(self) -> bool:
        dropped = _drop_database(self.settings.duckdb_path)
        return _drop_database(self.settings.audit_path) or dropped

    def record_owner(self) -> None:
        target = owner_path(self.settings.duckdb_path)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        document = {"instance": self.settings.name, "env": self.settings.env, "owner": self.settings.owner}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(document, ensure_ascii=True) + "\n", encoding="utf-8")
            partial.replace(target)
        except OSError as error:
            raise WarehouseError(
                f"cannot write in {target.parent} ({error.strerror}); the database's folder must be a writable folder."
            ) from None

    @property
    def lock_path(self) -> Path:
        return self.settings.duckdb_path.with_name(f"{self.settings.duckdb_path.stem}.lock")

    def ensure_writable(self) -> None:
        ensure_writable(self.settings.audit_path)

    @contextmanager
    def server_lock(self) -> Iterator[None]:
        """Nothing beyond the local run lock: the instance is a file on this machine."""
        yield

    @contextmanager
    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> Iterator[Session]:
        database = self.path(location)
        if read_only and not database.is_file():
            raise MissingRelation(f"{database} does not exist yet; `run` or `env create` makes it.")
        with session_at(database, read_only=read_only, production=self.settings.defer_path) as session:
            yield session

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        return raw_loader(self.settings.audit_path, schemas, memory_limit=memory_limit)

    def publish(self, relations: Sequence[Relation]) -> None:
        settings = self.settings
        target = settings.duckdb_path
        target.parent.mkdir(parents=True, exist_ok=True)
        previous = _staging_copy(target)
        staged = previous.with_name(previous.name + ".new")
        # From the audit side: dbt-duckdb may hold the audit file open in this process, and DuckDB
        # lets one process open a file once; the new consumers' file is attached and written to.
        try:
            with duckdb.connect(str(settings.audit_path)) as con:
                con.execute("attach ? as published", [str(staged)])
                kept: list[Relation] = []
                if previous.is_file():
                    con.execute("attach ? as previous (read_only)", [str(previous)])
                    kept = [table for table in _tables(con, "previous") if table not in relations]
                try:
                    con.execute("begin transaction")
                    # The previous file's tables this run does not replace (a slim run or a backfill publishes a few).
                    copies = [("previous", table, False) for table in kept]
                    copies += [("", relation, True) for relation in relations]
                    published = 0
                    for source, relation, built in copies:
                        con.execute(f"create schema if not exists {sql.relation('published', relation.schema)}")
                        origin = (
                            sql.relation(source, relation.schema, relation.name)
                            if source
                            else sql.relation(relation.schema, relation.name)
                        )
                        con.execute(
                            f"create table {sql.relation('published', relation.schema, relation.name)} "
                            f"as select * from {origin}"
                        )
                        published += built
                        if settings.fault == KILL_DURING_PUBLISH and published == 1 and built:
                            os.kill(os.getpid(), signal.SIGKILL)  # the fault-injection tests' hard stop
                    con.execute("commit")
                    con.execute("checkpoint published")  # everything into the file itself: no log to carry over
                except duckdb.Error:
                    with suppress(duckdb.Error):  # a failed commit has rolled back already
                        con.execute("rollback")
                    raise
                finally:
                    con.execute("detach published")
                    if previous.is_file():
                        with suppress(duckdb.Error):
                            con.execute("detach previous")
        except duckdb.Error as error:
            _remove(staged)
            _remove(previous)
            raise database_in_use(error) or WarehouseError(
                f"publish failed, consumers still see the previous tables: {error}"
            ) from error
        _remove(previous)
        staged.replace(target)  # atomic on one filesystem: readers see the old file or the new one
        # The old file's log was replayed into the copy; left beside the new file it would be replayed again.
        target.with_name(target.name + ".wal").unlink(missing_ok=True)

    def snapshot(self, location: Location = PUBLISHED) -> dict[str, list[tuple[Any, ...]]]:
        return snapshot(self.path(location))


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance with a published database file in `warehouse/`, plus the shared ones given that exist."""
    found = {
        path.resolve(): Instance(path.stem, env_of(path.stem), path.resolve(), path.stat().st_size, _owner(path))
        for path in sorted((project_dir / WAREHOUSE_DIR).glob("*.duckdb"))
        if not path.stem.endswith(AUDIT_SUFFIX)  # the audit copy belongs to its instance
    }
    for settings in shared:
        path = settings.duckdb_path
        if path.is_file():
            found[path] = Instance(settings.name, settings.env, path, path.stat().st_size, _owner(path))
    return sorted(found.values(), key=lambda instance: (instance.env, instance.name))


if TYPE_CHECKING:  # mypy checks that each class here has every method of the seam's interface
    from .. import warehouses as interface

    def _conforms(
        settings: Settings, con: duckdb.DuckDBPyConnection
    ) -> tuple[interface.Warehouse, interface.Session, interface.RawLoader, interface.LoadTarget]:
        return Warehouse(settings), Session(con), RawLoader(con), File(Path())
