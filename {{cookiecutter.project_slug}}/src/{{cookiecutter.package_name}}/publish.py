"""Write-audit-publish: copy the audited marts to where consumers read them, all or nothing.

The pipeline builds and checks everything in the audit database; only when no error-level
check failed does `publish` copy the published relations (the marts) into the consumers'
database, inside one transaction: a reader sees all old or all new tables, never a mix, and
a process killed halfway leaves the old tables (DuckDB rolls the open transaction back).
Each warehouse gets its own `_publish_<type>` function; DuckDB's is below.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .config import Settings
from .errors import PipelineError

KILL_DURING_PUBLISH = "kill-during-publish"


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    @property
    def sql(self) -> str:
        return f'"{self.schema}"."{self.name}"'


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


def _publish_duckdb(settings: Settings, relations: list[Relation]) -> None:
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    # From the audit side: dbt-duckdb may hold the audit file open in this process, and DuckDB
    # lets one process open a file once; the consumers' file is attached and written to.
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute(f"attach '{settings.duckdb_path}' as published")
        try:
            con.execute("begin transaction")
            for i, relation in enumerate(relations):
                con.execute(f'create schema if not exists published."{relation.schema}"')
                con.execute(f"create or replace table published.{relation.sql} as select * from {relation.sql}")
                if settings.fault == KILL_DURING_PUBLISH and i == 0:
                    os.kill(os.getpid(), signal.SIGKILL)  # the fault-injection tests' hard stop
            con.execute("commit")
        except duckdb.Error as error:
            con.execute("rollback")
            raise PipelineError(f"publish failed, consumers still see the previous tables: {error}") from error
        finally:
            con.execute("detach published")


def publish(settings: Settings, relations: list[Relation]) -> list[Relation]:
    """Copy the audited relations into the consumers' database in one transaction."""
    if not relations:
        return []
    _publish_duckdb(settings, relations)
    return relations


def snapshot(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table in a database with its rows, sorted: what a consumer would read."""
    if not database.is_file():
        return {}
    with duckdb.connect(str(database)) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(f'select * from "{schema}"."{name}" order by all').fetchall()
            for schema, name in tables
        }
