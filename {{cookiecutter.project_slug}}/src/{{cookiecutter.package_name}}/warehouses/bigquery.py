"""BigQuery behind the seam (shared machinery in cloud.py): a dataset per location, publish by table copy.

Not run against a live project in this project's CI: the statements are checked as rendered SQL in
tests/test_cloud_warehouse.py. The client is google-cloud-bigquery's DB-API (dbt-bigquery's own library), on
the project GOOGLE_CLOUD_PROJECT with Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS names a key
file, or workload identity, or `gcloud auth application-default login`), jobs and datasets in BIGQUERY_LOCATION
(default US): the settings profiles.yml reads. Parameters go as query parameters (`%s` in the DB-API).

Publish, per table: `create or replace table <name>.t copy <name>__audit.t` replaces each published table in one
job, so a consumer sees the old table or the new one. Across tables it is not all or none: BigQuery has no
multi-statement transaction for DDL, so a publish that fails between two tables leaves the earlier ones new; the
run reports the failure and the next publish finishes the set.

Datasets and tables are named with backticks; a name holding a backtick or a backslash is refused (BigQuery reads
backslash escapes there, not a doubled quote). Inserting the raw rows runs DML jobs in batches: fine at sample
scale, slow and quota-bound at volume, where a load job (`load_table_from_arrow`, or dlt) belongs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import google.api_core.exceptions
import google.auth.exceptions
from google.cloud import bigquery
from google.cloud.bigquery import dbapi

from ..config import Settings
from . import Instance, cloud

TYPE = "bigquery"
PROJECT_VAR = "GOOGLE_CLOUD_PROJECT"
LOCATION_VAR = "BIGQUERY_LOCATION"
DEFAULT_LOCATION = "US"


class Dialect(cloud.Dialect):
    """BigQuery's SQL: backtick identifiers, `%s` query parameters, the region's INFORMATION_SCHEMA views."""

    adapter = TYPE
    quote = "`"
    marker = "%s"
    types: ClassVar[Mapping[str, str]] = {
        "BOOLEAN": "bool", "TINYINT": "int64", "SMALLINT": "int64", "INTEGER": "int64", "BIGINT": "int64",
        "HUGEINT": "bignumeric", "FLOAT": "float64", "DOUBLE": "float64", "VARCHAR": "string", "DATE": "date",
        "TIME": "time", "TIMESTAMP": "datetime", "TIMESTAMP WITH TIME ZONE": "timestamp", "BLOB": "bytes",
    }  # fmt: skip
    decimal = "bignumeric({0},{1})"
    missing = re.compile(r"Not found", re.IGNORECASE)

    @property
    def location(self) -> str:
        """Where datasets and jobs live (BIGQUERY_LOCATION, default US)."""
        return self.environ.get(LOCATION_VAR) or DEFAULT_LOCATION

    def identifier(self, name: str) -> str:
        if "`" in name or "\\" in name:
            raise ValueError(f"{name!r} cannot be a BigQuery name: it holds a backtick or a backslash.")
        return super().identifier(name)

    def catalog(self, view: str) -> str:
        return f"{self.identifier('region-' + self.location.lower())}.INFORMATION_SCHEMA.{view.upper()}"

    # google-auth's and the API's messages, and what to change. Credentials are Google's defaults, not a variable.
    faults = (
        (re.compile(r"default credentials were not found|Could not automatically determine credentials",
                    re.IGNORECASE),
         "no Google credentials on this machine; run `gcloud auth application-default login`, or set "
         "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file."),
        (re.compile(r"Not found: Project|project .* (not found|does not exist)", re.IGNORECASE),
         "Google Cloud has no project {GOOGLE_CLOUD_PROJECT}; set GOOGLE_CLOUD_PROJECT to your project's ID."),
        (re.compile(r"\b403\b|Access Denied|permission", re.IGNORECASE),
         "Google's default credentials may not use BigQuery in project {GOOGLE_CLOUD_PROJECT}; set "
         "GOOGLE_CLOUD_PROJECT to a project they may use, or grant them the BigQuery User role there."),
    )  # fmt: skip

    def connect(self) -> cloud.Connection:
        problem = cloud.missing_settings(self.environ, (PROJECT_VAR,), "BigQuery")
        if problem is not None:
            raise problem
        try:
            client = bigquery.Client(project=self.environ[PROJECT_VAR], location=self.location)
        except google.api_core.exceptions.GoogleAPIError as error:
            raise cloud.unreachable("BigQuery", error, self) from None
        except google.auth.exceptions.DefaultCredentialsError as error:
            raise cloud.unreachable("BigQuery", error, self) from None
        connection: cloud.Connection = dbapi.connect(client)  # type: ignore[no-untyped-call]
        return connection

    def driver_error(self) -> tuple[type[BaseException], ...]:
        return (dbapi.Error, google.api_core.exceptions.GoogleAPIError)

    def digest(self, relation: str, columns: Sequence[str]) -> str:
        return (
            "select count(*), coalesce(sum(cast(farm_fingerprint(to_json_string(struct("
            f"{', '.join(columns)}))) as bignumeric)), 0) from {relation}"
        )

    def publish_statements(self, source: tuple[str, str], target: tuple[str, str], staging: str) -> list[str]:
        del staging
        return [f"create or replace table {self.relation(*target)} copy {self.relation(*source)}"]


class Warehouse(cloud.Warehouse):
    """A BigQuery instance (see the module docstring)."""

    type = TYPE
    dialect_class = Dialect


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance in the project's location (`cloud.list_instances`); the arguments are the seam's, unused."""
    del project_dir, shared
    return cloud.list_instances(Dialect(cloud.environment()))
