"""Write-audit-publish: copy the audited marts to where consumers read them, all or nothing.

The pipeline builds and checks everything in the audit database; only when no error-level
check failed does `publish` copy the published relations (the marts) to the consumers'
database. It never writes that file in place, because a reader (a BI tool, a notebook) would
block the write: it copies the current file to `.<name>.<pid>.publishing` beside it, writes a new
file `.<name>.<pid>.publishing.new` with the new relations and the previous file's other tables
inside one transaction, and `os.replace`s the new file over the old one. Writing a new file rather
than replacing tables in the copy keeps the file its content's size: DuckDB reuses but never returns
the blocks a replaced table freed, so a replaced copy grew by up to the size of its tables per run.
Readers that had the old file open keep reading it until they reconnect; a new connection sees
all new tables. A process killed at any point leaves the old file untouched (the next publish
removes its leftover copy). Each warehouse gets its own `_publish_<type>` function; DuckDB's is below.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import sql
from .config import Settings
from .errors import PipelineError
from .locking import database_in_use

KILL_DURING_PUBLISH = "kill-during-publish"


@dataclass(frozen=True)
class Relation:
    """A published relation: its schema and table name as dbt built them (manifest `schema`, `alias`)."""

    schema: str
    name: str


def published_relations(manifest_path: Path, built: Iterable[str]) -> list[Relation]:
    """The models consumers read (table-like models in a `marts` folder) that this run built."""
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    nodes = manifest.get("nodes", {})
    return sorted(
        (
            Relation(node["schema"], node["alias"])
            for unique_id in set(built)
            if (node := nodes.get(unique_id, {})).get("resource_type") == "model"
            and "marts" in node.get("fqn", [])
            and node.get("config", {}).get("materialized") in ("table", "incremental")
        ),
        key=lambda relation: (relation.schema, relation.name),
    )


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


def _publish_duckdb(settings: Settings, relations: list[Relation]) -> None:
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
        raise database_in_use(error) or PipelineError(
            f"publish failed, consumers still see the previous tables: {error}"
        ) from error
    _remove(previous)
    staged.replace(target)  # atomic on one filesystem: readers see the old file or the new one
    # The old file's log was replayed into the copy; left beside the new file it would be replayed again.
    target.with_name(target.name + ".wal").unlink(missing_ok=True)


def _remove(database: Path) -> None:
    """Remove a staging file and its write-ahead log, if any."""
    database.unlink(missing_ok=True)
    database.with_name(database.name + ".wal").unlink(missing_ok=True)


def publish(settings: Settings, relations: list[Relation]) -> list[Relation]:
    """Copy the audited relations (from the audit database) into the consumers' database, all or none.

    Returns the relations published. Raises PipelineError when the audit database is held by
    another process or the copy fails; the consumers' file is then unchanged. A reader holding
    the consumers' file does not block this: it keeps the old file until it reconnects.
    """
    if not relations:
        return []
    _publish_duckdb(settings, relations)
    return relations


def snapshot(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table in a database with its rows, sorted: what a consumer would read."""
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
