"""Databricks behind the seam (shared machinery in cloud.py): a schema per location, publish by Delta deep clone.

Not run against a live workspace in this project's CI: the statements are checked as rendered SQL in
tests/test_cloud_warehouse.py. The driver is databricks-sql-connector, dbt-databricks' own, with native `?`
parameters, configured from the variables profiles.yml reads: DATABRICKS_HOST, DATABRICKS_HTTP_PATH (the SQL
warehouse or cluster), DATABRICKS_TOKEN and DATABRICKS_CATALOG (Unity Catalog, default `main`).

Publish, per table: `create or replace table <name>.t deep clone <name>__audit.t` writes a new version of each
published Delta table in one commit of its transaction log, so a consumer sees the old version or the new one
(and time travel keeps the old). Across tables it is not all or none: Databricks has no multi-table transaction,
so a publish that fails between two tables leaves the earlier ones new; the run reports the failure and the next
publish finishes the set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from databricks import sql as databricks_sql

from ..config import Settings
from . import Instance, Params, cloud

TYPE = "databricks"
SETTINGS = ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN")
CATALOG_VAR = "DATABRICKS_CATALOG"
DEFAULT_CATALOG = "main"


class Dialect(cloud.Dialect):
    """Databricks SQL: backtick identifiers, native `?` parameters, Unity Catalog's information_schema."""

    adapter = TYPE
    quote = "`"
    marker = "?"
    types: ClassVar[Mapping[str, str]] = {
        "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "int", "BIGINT": "bigint",
        "HUGEINT": "decimal(38,0)", "FLOAT": "float", "DOUBLE": "double", "VARCHAR": "string", "DATE": "date",
        "TIMESTAMP": "timestamp_ntz", "TIMESTAMP WITH TIME ZONE": "timestamp", "BLOB": "binary",
    }  # fmt: skip
    decimal = "decimal({0},{1})"
    missing = re.compile(r"TABLE_OR_VIEW_NOT_FOUND|SCHEMA_NOT_FOUND|does not exist", re.IGNORECASE)

    # The driver's messages (databricks-sql-connector's HTTP errors), and the variable to change.
    faults = (
        (re.compile(r"Invalid access token|\b401\b|\b403\b|Unauthorized|Forbidden", re.IGNORECASE),
         "Databricks at {DATABRICKS_HOST} refused the access token; set DATABRICKS_TOKEN to a valid personal "
         "access token (User settings > Developer > Access tokens)."),
        (re.compile(r"\b404\b|Not Found", re.IGNORECASE),
         "Databricks at {DATABRICKS_HOST} has no SQL warehouse or cluster at {DATABRICKS_HTTP_PATH}; set "
         "DATABRICKS_HTTP_PATH to its HTTP path (its Connection details tab)."),
        (re.compile(r"Name or service not known|nodename nor servname|Failed to resolve|Max retries exceeded|"
                    r"Connection refused|timed out", re.IGNORECASE),
         "no Databricks workspace answers at {DATABRICKS_HOST}; set DATABRICKS_HOST to your workspace's host "
         "(`<workspace>.cloud.databricks.com`)."),
    )  # fmt: skip

    def connect(self) -> cloud.Connection:
        problem = cloud.missing_settings(self.environ, SETTINGS, "Databricks")
        if problem is not None:
            raise problem
        host = self.environ["DATABRICKS_HOST"].removeprefix("https://").rstrip("/")
        try:
            connection: cloud.Connection = databricks_sql.connect(
                server_hostname=host,
                http_path=self.environ["DATABRICKS_HTTP_PATH"],
                access_token=self.environ["DATABRICKS_TOKEN"],
                catalog=self.environ.get(CATALOG_VAR) or DEFAULT_CATALOG,
                session_configuration={"timezone": "UTC"},
            )
        except databricks_sql.Error as error:
            raise cloud.unreachable("Databricks", error, self) from None
        return connection

    def driver_error(self) -> tuple[type[BaseException], ...]:
        return (databricks_sql.Error,)

    def base_tables(self, schema: str) -> tuple[str, Params]:
        return (
            f"select table_name from {self.catalog('tables')} where table_schema = ? "
            "and table_type <> 'VIEW' order by table_name",
            [schema],
        )

    def digest(self, relation: str, columns: Sequence[str]) -> str:
        hashes = f"xxhash64({', '.join(columns)})"
        return f"select count(*), coalesce(sum(cast({hashes} as decimal(38,0))), 0) from {relation}"

    def publish_statements(self, source: tuple[str, str], target: tuple[str, str], staging: str) -> list[str]:
        del staging
        return [f"create or replace table {self.relation(*target)} deep clone {self.relation(*source)}"]


class Warehouse(cloud.Warehouse):
    """A Databricks instance (see the module docstring)."""

    type = TYPE
    dialect_class = Dialect


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance in the catalog (`cloud.list_instances`); the arguments are the seam's, unused here."""
    del project_dir, shared
    return cloud.list_instances(Dialect(cloud.environment()))
