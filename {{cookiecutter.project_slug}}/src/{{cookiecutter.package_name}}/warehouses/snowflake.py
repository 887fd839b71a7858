"""Snowflake behind the seam (shared machinery in cloud.py): a schema per location, publish by one schema swap.

Not run against a live account in this project's CI: the statements are checked as rendered SQL in
tests/test_cloud_warehouse.py. The driver is snowflake-connector-python, dbt-snowflake's own, with server-side
`?` binding (`paramstyle="qmark"`), configured from the variables profiles.yml reads: SNOWFLAKE_ACCOUNT,
SNOWFLAKE_USER, SNOWFLAKE_PASSWORD, SNOWFLAKE_ROLE (optional), SNOWFLAKE_WAREHOUSE and SNOWFLAKE_DATABASE.

Publish, all or none per published schema: `<name>__publishing` is made a zero-copy clone of the published
schema `<name>`, each audited table is cloned into it (`create or replace table ... clone`), then
`alter schema <name>__publishing swap with <name>` exchanges the two in one metadata operation, so a consumer
sees every old table or every new one; the old published schema, now `<name>__publishing`, is dropped. A publish
that dies before the swap leaves `<name>__publishing` behind, which the next publish replaces; consumers never
see it. (`alter table ... swap with` would give the same per table; the schema swap gives it for all at once.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import snowflake.connector

from ..config import Settings
from . import Instance, cloud

TYPE = "snowflake"
SETTINGS = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_DATABASE")


class Dialect(cloud.Dialect):
    """Snowflake's SQL: double-quoted identifiers, `?` bound by the server, information_schema of the database."""

    adapter = TYPE
    quote = '"'
    marker = "?"
    types: ClassVar[Mapping[str, str]] = {
        "BOOLEAN": "boolean", "TINYINT": "number(3,0)", "SMALLINT": "number(5,0)", "INTEGER": "number(10,0)",
        "BIGINT": "number(19,0)", "HUGEINT": "number(38,0)", "FLOAT": "float", "DOUBLE": "float",
        "VARCHAR": "varchar", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp_ntz",
        "TIMESTAMP WITH TIME ZONE": "timestamp_tz", "BLOB": "binary",
    }  # fmt: skip
    decimal = "number({0},{1})"

    # The connector's messages (snowflake-connector-python's errors.py and the server's), and the variable to change.
    faults = (
        (re.compile(r"Incorrect username or password", re.IGNORECASE),
         "Snowflake refused the password of user {SNOWFLAKE_USER}; set SNOWFLAKE_PASSWORD to that user's password."),
        (re.compile(r"Role '.*' specified in the connect string does not exist", re.IGNORECASE),
         "Snowflake has no role {SNOWFLAKE_ROLE} that user {SNOWFLAKE_USER} may use; set SNOWFLAKE_ROLE to one of "
         "its roles (or leave it unset for the user's default)."),
        (re.compile(r"Database '.*' does not exist", re.IGNORECASE),
         "Snowflake has no database {SNOWFLAKE_DATABASE} that this role may use; set SNOWFLAKE_DATABASE to one."),
        (re.compile(r"Could not connect to Snowflake backend|Failed to connect to DB|404 Not Found|"
                    r"Name or service not known|nodename nor servname", re.IGNORECASE),
         "no Snowflake account answers at {SNOWFLAKE_ACCOUNT}; set SNOWFLAKE_ACCOUNT to your account identifier "
         "(`<org>-<account>`, as in your Snowflake URL)."),
    )  # fmt: skip

    def connect(self) -> cloud.Connection:
        problem = cloud.missing_settings(self.environ, SETTINGS, "Snowflake")
        if problem is not None:
            raise problem
        try:
            connection: cloud.Connection = snowflake.connector.connect(
                account=self.environ["SNOWFLAKE_ACCOUNT"],
                user=self.environ["SNOWFLAKE_USER"],
                password=self.environ["SNOWFLAKE_PASSWORD"],
                role=self.environ.get("SNOWFLAKE_ROLE") or None,
                warehouse=self.environ["SNOWFLAKE_WAREHOUSE"],
                database=self.environ["SNOWFLAKE_DATABASE"],
                paramstyle="qmark",
                session_parameters={"TIMEZONE": "UTC"},
            )
        except snowflake.connector.Error as error:
            raise cloud.unreachable("Snowflake", error, self) from None
        return connection

    def driver_error(self) -> tuple[type[BaseException], ...]:
        return (snowflake.connector.Error,)

    def digest(self, relation: str, columns: Sequence[str]) -> str:
        return f"select count(*), coalesce(sum(cast(hash({', '.join(columns)}) as number(38,0))), 0) from {relation}"

    def begin(self) -> str | None:
        return "begin"

    def start_publish(self, published: str, staging: str) -> list[str]:
        return [f"create or replace schema {self.identifier(staging)} clone {self.identifier(published)}"]

    def publish_statements(self, source: tuple[str, str], target: tuple[str, str], staging: str) -> list[str]:
        return [f"create or replace table {self.relation(staging, target[1])} clone {self.relation(*source)}"]

    def finish_publish(self, published: str, staging: str) -> list[str]:
        return [
            f"alter schema {self.identifier(staging)} swap with {self.identifier(published)}",
            f"drop schema {self.identifier(staging)}",
        ]


class Warehouse(cloud.Warehouse):
    """A Snowflake instance (see the module docstring)."""

    type = TYPE
    dialect_class = Dialect


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance in the database (`cloud.list_instances`); the arguments are the seam's, unused here."""
    del project_dir, shared
    return cloud.list_instances(Dialect(cloud.environment()))
