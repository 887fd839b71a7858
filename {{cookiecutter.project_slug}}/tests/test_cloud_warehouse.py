"""The {{ cookiecutter.warehouse }} warehouse behind the seam, without an account: the SQL it sends, and dbt's parse.

No test here reaches {{ cookiecutter.warehouse }}: the driver's connection is replaced by a recorder, so these tests
check the exact statements (publish, create/drop, owner, load, history queries), that identifiers are quoted by
the one helper and that every value travels as a bound parameter. What {{ cookiecutter.warehouse }} does with them is
checked only on a live account, which this project's CI does not have.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dbt.cli.main import dbtRunner

from {{ cookiecutter.package_name }}.config import Settings, profile_variables
from {{ cookiecutter.package_name }}.warehouses import (
    AUDIT,
    IngestRecord,
    LocalRows,
    MissingRelation,
    Relation,
    WarehouseError,
    cloud,
)
from {{ cookiecutter.package_name }}.warehouses import {{ cookiecutter.warehouse }} as implementation

PROJECT_DIR = Path(__file__).resolve().parents[1]
NAME = "ci_pr_7"
{%- if cookiecutter.warehouse == "snowflake" %}
ODD = 'o"dd sch%ema ?'  # a quote, a space, a percent sign and a question mark: quoting and placeholders at once
SCHEMA_EXISTS = "select schema_name from information_schema.schemata where schema_name = ?"
PUBLISH = [
    'create schema if not exists "ci_pr_7"',
    'create or replace schema "ci_pr_7__publishing" clone "ci_pr_7"',
    'create or replace table "ci_pr_7__publishing"."fct_orders" clone "ci_pr_7__audit"."fct_orders"',
    'create or replace table "ci_pr_7__publishing"."o""dd sch%ema ?" clone "ci_pr_7__audit"."o""dd sch%ema ?"',
    'alter schema "ci_pr_7__publishing" swap with "ci_pr_7"',
    'drop schema "ci_pr_7__publishing"',
]
CREATE_RAW = (
    'create or replace table "ci_pr_7__raw"."orders" ("order_id" number(10,0), "note" varchar, '
    '"amount" number(12,2), "ordered_at" timestamp_ntz, "is_paid" boolean)'
)
INSERT_RAW = (
    'insert into "ci_pr_7__raw"."orders" ("order_id", "note", "amount", "ordered_at", "is_paid") values (?, ?, ?, ?, ?)'
)
OWNER = 'insert into "ci_pr_7"."_instance" values (?, ?, ?)'
HISTORY = (
    "select run_id from runs where note = ? and pct like '5%'",
    "select run_id from runs where note = ? and pct like '5%'",
)
DROP = 'drop schema if exists "ci_pr_7" cascade'
MISSING_MESSAGE = "SQL compilation error: Object 'X' does not exist or not authorized."
UNSET = "SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD, SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE"
# The connector's messages for a refused connection, and the one variable its sentence must name.
REFUSED = [
    ("250001 (08001): Failed to connect to DB: x.snowflakecomputing.com:443. Incorrect username or password was "
     "specified.", "SNOWFLAKE_PASSWORD"),
    ("250001 (08001): Failed to connect to DB: x.snowflakecomputing.com:443. Role 'ANALYST' specified in the "
     "connect string does not exist or not authorized.", "SNOWFLAKE_ROLE"),
    ("250003: Failed to get the response. Hanging? method: post, url: https://nope.snowflakecomputing.com:443/"
     "session/v1/login-request, 404 Not Found", "SNOWFLAKE_ACCOUNT"),
]  # fmt: skip
{%- elif cookiecutter.warehouse == "bigquery" %}
ODD = 'o"dd sch%ema ?'  # a quote, a space, a percent sign and a question mark: quoting and placeholders at once
SCHEMA_EXISTS = "select schema_name from `region-us`.INFORMATION_SCHEMA.SCHEMATA where schema_name = %s"
PUBLISH = [
    "create schema if not exists `ci_pr_7`",
    "create or replace table `ci_pr_7`.`fct_orders` copy `ci_pr_7__audit`.`fct_orders`",
    'create or replace table `ci_pr_7`.`o"dd sch%ema ?` copy `ci_pr_7__audit`.`o"dd sch%ema ?`',
]
CREATE_RAW = (
    "create or replace table `ci_pr_7__raw`.`orders` (`order_id` int64, `note` string, "
    "`amount` bignumeric(12,2), `ordered_at` datetime, `is_paid` bool)"
)
INSERT_RAW = (
    "insert into `ci_pr_7__raw`.`orders` (`order_id`, `note`, `amount`, `ordered_at`, `is_paid`) "
    "values (%s, %s, %s, %s, %s)"
)
OWNER = "insert into `ci_pr_7`.`_instance` values (%s, %s, %s)"
HISTORY = (
    "select run_id from runs where note = ? and pct like '5%'",
    "select run_id from runs where note = %s and pct like '5%%'",
)
DROP = "drop schema if exists `ci_pr_7` cascade"
MISSING_MESSAGE = "404 Not found: Table p:ci_pr_7.x was not found in location US"
UNSET = "GOOGLE_CLOUD_PROJECT"
REFUSED = [
    ("Your default credentials were not found. To set up Application Default Credentials, see "
     "https://cloud.google.com/docs/authentication/external/set-up-adc", "GOOGLE_APPLICATION_CREDENTIALS"),
    ("404 Not found: Project nope-123", "GOOGLE_CLOUD_PROJECT"),
]  # fmt: skip
{%- else %}
ODD = "o`dd sch%ema ?"  # a backtick, a space, a percent sign and a question mark: quoting and placeholders at once
SCHEMA_EXISTS = "select schema_name from information_schema.schemata where schema_name = ?"
PUBLISH = [
    "create schema if not exists `ci_pr_7`",
    "create or replace table `ci_pr_7`.`fct_orders` deep clone `ci_pr_7__audit`.`fct_orders`",
    "create or replace table `ci_pr_7`.`o``dd sch%ema ?` deep clone `ci_pr_7__audit`.`o``dd sch%ema ?`",
]
CREATE_RAW = (
    "create or replace table `ci_pr_7__raw`.`orders` (`order_id` int, `note` string, "
    "`amount` decimal(12,2), `ordered_at` timestamp_ntz, `is_paid` boolean)"
)
INSERT_RAW = (
    "insert into `ci_pr_7__raw`.`orders` (`order_id`, `note`, `amount`, `ordered_at`, `is_paid`) values (?, ?, ?, ?, ?)"
)
OWNER = "insert into `ci_pr_7`.`_instance` values (?, ?, ?)"
HISTORY = (
    "select run_id from runs where note = ? and pct like '5%'",
    "select run_id from runs where note = ? and pct like '5%'",
)
DROP = "drop schema if exists `ci_pr_7` cascade"
MISSING_MESSAGE = "[TABLE_OR_VIEW_NOT_FOUND] The table or view `ci_pr_7`.`x` cannot be found."
UNSET = "DATABRICKS_HOST, DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN"
REFUSED = [
    ("Error during request to server: : Invalid access token. 403 Forbidden", "DATABRICKS_TOKEN"),
    ("Error during request to server: 404 Not Found", "DATABRICKS_HTTP_PATH"),
    ("Error during request to server: Max retries exceeded with url: /sql/1.0/warehouses/abc (Caused by "
     "NameResolutionError: Failed to resolve 'nope.cloud.databricks.com')", "DATABRICKS_HOST"),
]  # fmt: skip
{%- endif %}

Answer = Callable[[str], Sequence[Sequence[Any]]]


class Recorder:
    """A stand-in for the driver's connection: records (statement, parameters) and answers queries by `answer`."""

    def __init__(self, answer: Answer | None = None, error: BaseException | None = None) -> None:
        self.log: list[tuple[str, Any]] = []
        self.answer = answer or (lambda statement: [])
        self.error = error
        self.closed = False

    def cursor(self) -> Recorder.Cursor:
        return Recorder.Cursor(self)

    def close(self) -> None:
        self.closed = True

    class Cursor:
        description: Any = None

        def __init__(self, connection: Recorder) -> None:
            self.connection = connection
            self.rows: Sequence[Sequence[Any]] = []

        def execute(self, operation: str, parameters: Any = None) -> None:
            self.connection.log.append((operation, parameters))
            if self.connection.error is not None:
                raise self.connection.error
            self.rows = self.connection.answer(operation)

        def executemany(self, operation: str, seq_of_parameters: Any) -> None:
            self.connection.log.append((operation, [list(row) for row in seq_of_parameters]))

        def fetchall(self) -> Sequence[Sequence[Any]]:
            return self.rows

        def close(self) -> None:
            pass


def settings(tmp_path: Path, name: str = NAME, env: str = "ci") -> Settings:
    return Settings(
        env=env, name=name, project_dir=tmp_path, duckdb_path=tmp_path / f"{name}.duckdb", raw_dir=tmp_path, threads=1,
        owner="pull request #7",
    )  # fmt: skip


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every connection the warehouse opens is this recorder (counts answer 0, other queries nothing)."""
    connection = Recorder(lambda statement: [(0,)] if statement.startswith("select count(*)") else [])
    monkeypatch.setattr(implementation.Dialect, "connect", lambda self: connection)
    return connection


def statements(recorder: Recorder) -> list[str]:
    return [statement for statement, _ in recorder.log]


def test_publish_sends_the_warehouses_atomic_primitive(recorder: Recorder, tmp_path: Path) -> None:
    """Publishing two audited tables sends exactly these statements, odd names quoted by the one helper."""
    warehouse = implementation.Warehouse(settings(tmp_path))
    warehouse.publish([Relation(f"{NAME}__audit", "fct_orders"), Relation(f"{NAME}__audit", ODD)])
    assert statements(recorder) == PUBLISH
    assert all(parameters is None for _, parameters in recorder.log)


def test_create_and_drop_are_three_schemas_named_by_bound_parameters(recorder: Recorder, tmp_path: Path) -> None:
    """create() asks for each schema by a bound name, then makes it; drop() drops all three with cascade."""
    warehouse = implementation.Warehouse(settings(tmp_path))
    assert warehouse.create() is True
    asked = [parameters for statement, parameters in recorder.log if statement == SCHEMA_EXISTS]
    assert asked == [[f"{NAME}__raw"], [f"{NAME}__audit"], [NAME]]
    recorder.log.clear()
    assert warehouse.drop() is False  # the recorder has no schema: nothing existed
    assert DROP in statements(recorder)
    assert len([s for s in statements(recorder) if s.startswith("drop schema")]) == 3  # three schemas


def test_only_the_audit_schema_and_the_schemas_dbt_derives_from_it_are_inside_the_instance(tmp_path: Path) -> None:
    """A model built in `reporting` (a generate_schema_name that ignores the target) is outside: every branch would
    write it; `<name>__audit_reporting` and the raw schema are inside, `<name>__auditx` (a name that merely starts
    alike) is not."""
    warehouse = implementation.Warehouse(settings(tmp_path))
    inside = [Relation(f"{NAME}__audit", "a"), Relation(f"{NAME}__audit_reporting", "b"), Relation(f"{NAME}__raw", "f")]
    outside = [Relation("reporting", "c"), Relation(f"{NAME}__auditx", "d"), Relation(NAME, "e")]
    assert warehouse.outside([*inside, *outside]) == outside


def test_the_owner_is_a_row_of_bound_values(recorder: Recorder, tmp_path: Path) -> None:
    """record_owner() writes instance, env and owner as parameters, never into the SQL text."""
    implementation.Warehouse(settings(tmp_path)).record_owner()
    assert (OWNER, [NAME, "ci", "pull request #7"]) in recorder.log
    assert not any("pull request" in statement for statement in statements(recorder))


ROWS = LocalRows(
    "select * from (values (1, 'a', 2.50::decimal(12,2), timestamp '2025-01-02 03:04:05', true), "
    "(2, 'it''s; drop table x', null, null, false)) as t(order_id, note, amount, ordered_at, is_paid)"
)
QUARANTINE = LocalRows("select 'r1', 'orders', 'orders.csv', 7::bigint, 'bad', '{}', timestamp '2025-01-01 00:00:00'")


def test_the_load_creates_typed_tables_and_inserts_bound_rows(recorder: Recorder, tmp_path: Path) -> None:
    """Checked rows become a table typed for the warehouse and batches of bound rows; no value is in any SQL."""
    warehouse = implementation.Warehouse(settings(tmp_path))
    record = IngestRecord(f"{NAME}__raw", "orders", "orders", "orders.csv", "sha-1", "spec-1", "r1")
    with warehouse.raw_loader([f"{NAME}__raw"], memory_limit="256MB") as loader:
        assert loader.load_raw(record, ROWS, QUARANTINE) == (0, 0)  # the recorder counts 0
    assert CREATE_RAW in statements(recorder)
    inserted = [parameters for statement, parameters in recorder.log if statement == INSERT_RAW]
    assert inserted == [
        [
            [1, "a", Decimal("2.50"), datetime(2025, 1, 2, 3, 4, 5), True],
            [2, "it's; drop table x", None, None, False],
        ]
    ]
    for value in ("it's", "sha-1", "spec-1", "orders.csv"):
        assert not any(value in statement for statement in statements(recorder)), value


def test_history_queries_bind_values_in_the_drivers_style(recorder: Recorder, tmp_path: Path) -> None:
    """The seam's `?` reaches the driver as its own placeholder; a `%` in the text survives the driver's format."""
    seam, sent = HISTORY
    with implementation.Warehouse(settings(tmp_path)).session(AUDIT) as session:
        session.query(seam, ["it's"])
    assert (sent, ["it's"]) in recorder.log


def test_a_driver_error_about_a_missing_table_is_missing_relation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's exception never leaves the seam: "not found" becomes MissingRelation, in one line."""
    error_class = implementation.Dialect({}).driver_error()[0]
    connection = Recorder(error=error_class(MISSING_MESSAGE))
    session = cloud.Session(implementation.Dialect({}), connection)
    with pytest.raises(MissingRelation) as raised:
        session.query("select * from x")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("message", "variable"), REFUSED)
def test_a_refused_connection_names_the_one_variable_to_change(message: str, variable: str) -> None:
    """The driver's refusal becomes one sentence naming the variable to change, not "cannot reach" and all of them."""
    error_class = implementation.Dialect({}).driver_error()[0]
    dialect = implementation.Dialect({"SNOWFLAKE_USER": "ann", "DATABRICKS_HOST": "x.cloud.databricks.com"})
    sentence = str(cloud.unreachable("the warehouse", error_class(message), dialect))
    assert f"set {variable} " in sentence and "\n" not in sentence
    assert not [name for name in re.findall(r"set ([A-Z_]+)", sentence) if name != variable]


def test_unset_settings_are_named_in_one_sentence(tmp_path: Path) -> None:
    """Without its variables the warehouse says which to set (the ones profiles.yml reads), before any driver call."""
    with pytest.raises(WarehouseError, match=re.escape(f"set {UNSET} (profiles.yml")):
        implementation.Warehouse(settings(tmp_path), environ={}).exists()


@pytest.mark.parametrize("target", ["dev", "ci", "staging", "prod"])
def test_dbt_parses_every_target_without_an_account(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt parses the project for each target with placeholder settings: parsing needs no connection."""
    for name in profile_variables(PROJECT_DIR, target):
        monkeypatch.setenv(name, os.environ.get(name) or "placeholder")
    monkeypatch.setenv("DBT_SCHEMA", "parse_check")
    outcome = dbtRunner().invoke(
        [
            "parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR), "--target", target,
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--no-partial-parse",
            "--quiet",
        ]
    )  # fmt: skip
    assert outcome.success, outcome.exception
