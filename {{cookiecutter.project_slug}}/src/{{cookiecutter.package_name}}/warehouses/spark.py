"""Spark behind the seam, in local mode: a database per location, parquet loads, publish table by table.

An instance `<name>` (`dev__<branch>`, `ci_pr_<n>`, `staging`, `prod`) is three Spark databases: `<name>__raw`
(ingest's raw tables, quarantine and load state), `<name>__audit` (dbt builds and checks there) and `<name>`
(published: consumers read it). Everything Spark keeps for the instance is in its folder `warehouse/<name>/`
(git-ignored): the Derby metastore (`metastore_db/`, `derby.log`) and the tables' parquet files
(`spark-warehouse/<database>.db/`). The owner record is `warehouse/<name>/owner.json`.

One JVM per process: `spark_session` starts the process's SparkSession once, before dbt, with the instance's
folder, UTC and pii_mask()'s key; dbt-spark's `session` method calls `SparkSession.builder.getOrCreate()`,
which returns that same session, so dbt and this module share one JVM, one metastore and one set of session
variables. A JVM's metastore and warehouse folder are fixed when it starts: a process that opens a second
instance (tests do) registers that instance's databases in the first one's metastore, with their files still
in the second one's folder; the pipeline CLI opens one instance per process.

With SPARK_REMOTE set (`sc://host:port`, e.g. by `python -m <package>.warehouses.spark_server COMMAND`, the nox
sessions and the tests), `spark_session` and dbt get a Spark Connect session to that server instead: no JVM in
the process, one metastore for every process that uses the server. There the databases of an instance are named
`<SPARK_DATABASE_PREFIX><name>...`, so processes with different prefixes (the tests) never see each other's.

Spark without Delta has no transactions: a statement is applied when it runs. What that means per operation:
- ingest validates everything in the local DuckDB engine and stages the checked rows as parquet files first;
  only when every raw file has been checked does it replace the raw tables, one table at a time (so a failed
  validation writes nothing, while a process killed during the final replace can leave some tables new).
- publish copies each audited table to `<name>.<table>__publishing` (a full copy), then drops `<name>.<table>`
  and renames the copy in its place. Per table, a consumer reads all old rows or all new rows, never a mix; in
  the instant between the drop and the rename the table does not exist (a query fails with TABLE_OR_VIEW_NOT_FOUND
  rather than return partial rows), and across tables a consumer mid-publish can see some tables new and the
  others old. A publish that fails or is killed leaves the tables it had not reached old, and a killed one at most
  one table missing, which the next publish restores.
Delta's `create or replace table` would make each table's swap atomic; it is not used, to keep local mode free
of extra jars.

mask_pii() on Spark is HMAC-SHA-256 in SQL (macros/privacy/mask_pii_spark.sql): `sha2` over the key's inner and
outer pads, which `spark_session` stores in two session variables bound as parameters, so the key is never in
SQL text, dbt's logs or the catalog. Without them (a dbt run outside the pipeline) the build stops with
UNRESOLVED_VARIABLE instead of masking with a wrong key.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .. import pii, sql
from ..config import (
    AUDIT_SUFFIX,
    DUCKDB_PATH_VAR,
    RAW_SCHEMA_VAR,
    RAW_SUFFIX,
    SCHEMA_VAR,
    THREADS_VAR,
    WAREHOUSE_DIR,
    Settings,
    shown,
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

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TYPE = "spark"
# The published database of production: slim CI on a Spark Connect server compares with it and defers to its audit one.
PRODUCTION = "prod"
PUBLISHING_SUFFIX = "__publishing"
OWNER_FILE = "owner.json"
# The session variables mask_pii_spark.sql reads (HMAC's padded keys, as binary).
PAD_VARIABLES = ("pii_inner_pad", "pii_outer_pad")
QUARANTINE_COLUMNS = (
    "run_id string, source_table string, raw_file string, row_number bigint, reason string, record string, "
    "quarantined_at timestamp"
)
QUARANTINE_NAMES = tuple(column.split()[0] for column in QUARANTINE_COLUMNS.split(", "))
STATE_COLUMNS = (
    "source_table string, raw_file string, relation string, sha256 string, spec_digest string, loaded_rows bigint, "
    "quarantined_rows bigint, run_id string, loaded_at timestamp"
)

# Set to a Spark Connect URL, the pipeline and dbt use that server (spark_server.py) instead of a JVM of their own.
REMOTE_VAR = "SPARK_REMOTE"
# Put before every database name of every instance: keeps apart processes that share one Connect server.
PREFIX_VAR = "SPARK_DATABASE_PREFIX"

_started: dict[str, Path] = {}
# The PII key whose pads the process's session holds (spark_session sets them once per key, not per call).
_pads_of: dict[str, object] = {}


# A Spark Connect URL: sc://host[:port][/;param=value...] (Spark's docs, "Spark Connect Overview"); 15002 by default.
_CONNECT_URL = re.compile(r"sc://(?P<host>\[[0-9a-fA-F:]+\]|[^:/;\s\[\]]+)(?::(?P<port>\d{1,5}))?(?P<rest>[/;]\S*)?")
CONNECT_PORT = 15002
LAST_PORT = 65535
# Seconds `spark_session` waits for a Spark Connect server's TCP port before it says the server does not answer.
CONNECT_TIMEOUT = 10.0


def remote() -> str | None:
    """The Spark Connect URL this process uses (SPARK_REMOTE), or None for Spark in the process (local mode)."""
    return os.environ.get(REMOTE_VAR, "").strip() or None


def connect_address(url: str) -> tuple[str, int]:
    """(host, port) of a Spark Connect URL `sc://host[:port][/;params]`; WarehouseError with a sentence otherwise."""
    match = _CONNECT_URL.fullmatch(url)
    port = int(match["port"] or CONNECT_PORT) if match else 0
    if match is None or not 0 < port <= LAST_PORT:
        raise WarehouseError(
            f"{REMOTE_VAR}={shown(url)} is not a Spark Connect URL; set it to sc://host:port "
            f"(e.g. sc://spark.internal:{CONNECT_PORT}), or unset it to run Spark in this process."
        )
    return match["host"].strip("[]"), port


def _refuse_unreachable(url: str) -> None:
    """WarehouseError with a sentence when nothing accepts a TCP connection at `url`'s address in CONNECT_TIMEOUT.

    Spark Connect's client retries a refused or silent address for minutes before it gives up: a run would
    hang with no word.
    """
    host, port = connect_address(url)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as error:
        raise WarehouseError(
            f"Spark Connect at {url} does not answer ({error.strerror or error}); start the server or correct "
            f"{REMOTE_VAR} (a throwaway one: `python -m {__name__}_server COMMAND`), or unset it for local mode."
        ) from None


def home(settings: Settings) -> Path:
    """The instance's folder, where Spark keeps its metastore and its tables' files: `warehouse/<name>/`."""
    return settings.project_dir / WAREHOUSE_DIR / settings.name


def _spark_error(error: Exception, doing: str = "") -> WarehouseError:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[0].split()) if lines else type(error).__name__
    message = f"{doing}: {text}" if doing else text
    if "TABLE_OR_VIEW_NOT_FOUND" in text or "SCHEMA_NOT_FOUND" in text or "not found" in text.lower():
        return MissingRelation(message)
    return WarehouseError(message)


def spark_session(settings: Settings) -> SparkSession:
    """The process's SparkSession (local mode), started on first use with the instance's folder; pads registered.

    Later calls return the same session (see the module docstring); each call sets the PII pads of `settings`
    (none in prod). Raises WarehouseError with a sentence when Java or pyspark is missing.
    """
    try:
        from pyspark.sql import SparkSession  # noqa: PLC0415 - seconds to import: only when Spark is used
    except ImportError:
        raise WarehouseError("pyspark is not installed; run `uv sync` (dbt-spark[session] brings it).") from None
    if remote() is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise WarehouseError(
            "Spark needs Java 17 and `java` is not on PATH; install a JRE 17 (openjdk-17-jre-headless)."
        )
    folder = home(settings).resolve()
    url = remote()
    if url is not None and "home" not in _started:
        _refuse_unreachable(url)
        try:
            SparkSession.builder.remote(url).getOrCreate()
        except Exception as error:
            raise WarehouseError(
                f"Spark Connect at {url} did not answer ({str(error).splitlines()[0]}); "
                f"start one (`python -m {__name__}_server COMMAND`) or unset {REMOTE_VAR}."
            ) from None
        _started["home"] = folder
        _started["remote"] = folder
    if "home" not in _started:
        folder.mkdir(parents=True, exist_ok=True)
        derby = f"-Dderby.system.home={folder} -Dderby.stream.error.file={folder / 'derby.log'}"
        builder = (
            SparkSession.builder.master(f"local[{max(1, min(settings.threads, os.cpu_count() or 1))}]")
            .appName(__name__.split(".")[0])
            .config("spark.sql.warehouse.dir", str(folder / "spark-warehouse"))
            .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                    f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true")
            .config("spark.driver.extraJavaOptions", derby)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.parquet.inferTimestampNTZ.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
            .enableHiveSupport()
        )  # fmt: skip
        try:
            session = builder.getOrCreate()
        except Exception as error:
            java = os.environ.get("JAVA_HOME") or "unset"
            raise WarehouseError(
                f"Spark did not start ({str(error).splitlines()[0]}); it needs Java 17: `java` on PATH, or "
                f"JAVA_HOME (now {java}) naming a JDK or JRE 17."
            ) from None
        session.sparkContext.setLogLevel("ERROR")
        _started["home"] = folder
    session = SparkSession.builder.getOrCreate()
    key = settings.pii_key
    if key is not None and _pads_of.get("key") != key:  # two statements per pad: once per key and session
        for variable, pad in zip(PAD_VARIABLES, pii._pads(key), strict=True):
            session.sql(f"declare or replace variable {variable} binary")
            session.sql(f"set variable {variable} = unhex(:pad)", args={"pad": pad.hex()})
        _pads_of["key"] = key
    return session


def close() -> None:
    """Stop this process's SparkSession, if it started one (spark_session); the next call starts a new one.

    A Spark Connect client must release its session while its server still runs: a client left open when the
    server has gone retries at interpreter exit for minutes.
    """
    if "home" not in _started:
        return
    from pyspark.sql import SparkSession  # noqa: PLC0415 - imported by spark_session already

    active = SparkSession.getActiveSession()
    with contextlib.suppress(Exception):  # a session whose server is gone has nothing left to release
        if active is not None:
            active.stop()
    _started.clear()
    _pads_of.clear()


_VARCHAR = re.compile(r"\bvarchar\b(?!\s*\()", re.IGNORECASE)
_DOUBLE = re.compile(r"\bdouble\s+precision\b", re.IGNORECASE)
# A statement's pieces: quoted literals and names (kept whole, an unclosed one to the end), and the SQL between them.
_PARTS = re.compile(r"""'(?:[^'\\]|\\.|'')*'?|"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|[^'"`]+""", re.DOTALL)


def spark_sql(statement: str) -> str:
    """The seam's plain SQL as Spark reads it: `"name"` backquoted, `varchar` as string, `double precision` as double.

    Spark without ANSI identifiers reads double quotes as a string literal, and refuses `varchar` without a length
    (DATATYPE_MISSING_SIZE); single-quoted literals and backquoted names are kept as they are.
    """
    out = []
    for part in _PARTS.finditer(statement):
        text = part.group()
        if text.startswith('"'):
            out.append("`" + text[1:-1].replace('""', '"').replace("`", "``") + "`")
        elif text.startswith(("'", "`")):
            out.append(text)
        else:
            out.append(_DOUBLE.sub("double", _VARCHAR.sub("string", text)))
    return "".join(out)


def _quote(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"{name!r} cannot be a Spark identifier: it is empty or holds a NUL character.")
    return "`" + name.replace("`", "``") + "`"


def relation(*parts: str) -> str:
    """A backquoted, dotted Spark relation name: `raw`.`orders` for ("raw", "orders")."""
    return ".".join(_quote(part) for part in parts)


def _literal(text: str) -> str:
    """A Spark string literal (for statements that take no parameters, such as LOCATION)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Session:
    """A Session (see the package) on the shared SparkSession; `schemas` maps dbt's audit database to this one's."""

    def __init__(
        self, spark: SparkSession, schemas: Mapping[str, str] | None = None, production: Mapping[str, str] | None = None
    ) -> None:
        self.spark = spark
        self.schemas = dict(schemas or {})
        # This instance's audit database -> production's published one, when slim CI has production to compare.
        self.production_schemas = dict(production) if production is not None else None

    def _sql(self, statement: str, params: Params = ()) -> DataFrame:
        try:
            return self.spark.sql(spark_sql(statement), args=list(params) if params else None)
        except Exception as error:
            raise _spark_error(error) from None

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self.query_with_names(sql, params)[1]

    def query_with_names(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        frame = self._sql(sql, params)
        try:
            rows = frame.collect()
        except Exception as error:
            raise _spark_error(error) from None
        return list(frame.columns), [tuple(row) for row in rows]

    def execute(self, sql: str, params: Params = ()) -> None:
        self._sql(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Spark without Delta has none: each statement applies when it runs (see the module docstring)."""
        yield

    def schema(self, name: str) -> str:
        return self.schemas.get(name, name)

    def tables(self, schema: str) -> list[str]:
        if not self.spark.catalog.databaseExists(self.schema(schema)):
            return []
        rows = self._sql(f"show tables in {_quote(self.schema(schema))}").collect()
        return sorted(str(row["tableName"]) for row in rows if not row["isTemporary"])

    def describe(self, schema: str, table: str) -> list[tuple[str, str]]:
        try:
            fields = self.spark.table(self.relation(schema, table)).schema.fields
        except Exception:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} does not exist.") from None
        return [(field.name, field.dataType.simpleString()) for field in fields]

    def digest(self, schema: str, table: str, skip: Sequence[str] = ()) -> str:
        columns = [_quote(name) for name, _ in self.describe(schema, table) if name not in skip]
        if not columns:
            raise MissingRelation(f"{sql.shown(self.schema(schema), table)} has no column to digest.")
        ((rows, digest),) = self.query(
            f"select count(*), coalesce(sum(cast(xxhash64({', '.join(columns)}) as decimal(38, 0))), 0) "
            f"from {self.relation(schema, table)}"
        )
        return f"{rows}:{digest}"

    def relation(self, *parts: str) -> str:
        if parts:  # (schema[, table]): the schema as this location names it
            parts = (self.schema(parts[0]), *parts[1:])
        return relation(*parts)

    def production(self) -> bool:
        return self.production_schemas is not None

    def production_relation(self, schema: str, name: str, database: str | None = None) -> str:
        """`database.name` in production: a database of the same Spark Connect server (dbt's own when deferred)."""
        if self.production_schemas is None:
            raise WarehouseError(
                "no production to read from: Spark in local mode keeps each instance in its own metastore; slim "
                f"CI reads production through {REMOTE_VAR}'s server, with DBT_STATE_DIR set."
            )
        if database is not None:  # dbt deferred to it: its database is production's as dbt recorded it
            return relation(schema, name)
        return relation(self.production_schemas.get(schema, schema), name)


def _create_database(spark: SparkSession, folder: Path, name: str) -> bool:
    """Create database `name` with its files under the instance's folder; True when it was made."""
    if spark.catalog.databaseExists(name):
        return False
    location = folder / "spark-warehouse" / f"{name}.db"
    spark.sql(f"create database if not exists {_quote(name)} location {_literal(location.as_uri())}")
    return True


def _replace(spark: SparkSession, frame: DataFrame, target: str) -> None:
    """Overwrite table `target` with `frame`, which may read `target` itself (checkpointed first)."""
    frame.localCheckpoint(eager=True).write.mode("overwrite").format("parquet").saveAsTable(target)


class RawLoader:
    """Ingest's loader: rows checked in the local DuckDB `engine`, staged as parquet, applied on success.

    `load_raw` and `touch` stage; `apply` (called by `raw_loader` after the last one) replaces each loaded raw table,
    then rewrites each schema's quarantine and load state once (a non-Delta table has no DELETE).
    """

    def __init__(self, engine: duckdb.DuckDBPyConnection, spark: SparkSession, scratch: Path) -> None:
        self.engine = engine
        self.spark = spark
        self.scratch = scratch
        self._files = 0
        self.tables: list[tuple[str, str, str]] = []  # (schema, relation, parquet URI of its rows)
        self.touched: list[tuple[str, str, datetime]] = []
        # Per schema: the source tables whose quarantine and state rows are replaced, and what replaces them.
        self.replaced: dict[str, list[str]] = {}
        self.quarantine: dict[str, list[str]] = {}
        self.unreadable: dict[str, list[tuple[object, ...]]] = {}
        self.states: dict[str, list[tuple[object, ...]]] = {}
        self._recorded_by_schema: dict[str, dict[tuple[str, str, str], tuple[Any, ...]]] = {}

    def _stage(self, rows: LocalRows, names: Sequence[str] = ()) -> tuple[str, int]:
        """Write the engine's `rows` to a parquet file of the scratch folder; (its file URI, its row count).

        `names` renames the columns by position (the quarantine's: ingest's query has `$1`, `_line` and an
        expression's text as names, which Spark's parquet reader does not read back, giving NULL).
        """
        params = dict(rows.params) if isinstance(rows.params, Mapping) else list(rows.params)
        self._files += 1
        path = self.scratch / f"rows_{self._files}.parquet"
        self.engine.execute("create or replace temp table _outgoing as " + rows.query, params)
        columns = "*"
        if names:
            described = self.engine.execute("select column_name from (describe _outgoing)").fetchall()
            given = [str(name) for (name,) in described]
            columns = ", ".join(
                f"{sql.identifier(old)} as {sql.identifier(new)}" for old, new in zip(given, names, strict=True)
            )
        quoted = str(path).replace("'", "''")
        self.engine.execute(f"copy (select {columns} from _outgoing) to '{quoted}' (format parquet)")
        ((count,),) = self.engine.execute("select count(*) from _outgoing").fetchall()
        self.engine.execute("drop table _outgoing")
        return path.as_uri(), int(count)

    def _recorded(self, schema: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
        """Per (source table, sha256, spec digest) of `schema`'s load state: the state row, its quarantined count.

        Read once per schema, not three statements per table: Spark runs each statement as a job (~0.5 s).
        """
        if schema not in self._recorded_by_schema:
            rows = self.spark.sql(
                f"select s.source_table, s.sha256, s.spec_digest, s.run_id, s.loaded_rows, s.quarantined_rows, "
                f"coalesce(q.rows, 0) from {relation(schema, STATE)} s left join (select source_table, count(*) rows "
                f"from {relation(schema, QUARANTINE)} group by source_table) q on q.source_table = s.source_table"
            ).collect()
            self._recorded_by_schema[schema] = {(str(row[0]), str(row[1]), str(row[2])): tuple(row) for row in rows}
        return self._recorded_by_schema[schema]

    def reusable(self, record: IngestRecord) -> Kept | None:
        found = self._recorded(record.schema).get((record.source_table, record.sha256, record.spec_digest))
        if found is None:
            return None
        _, _, _, run_id, loaded_rows, quarantined_rows, quarantined = found
        try:
            loaded = self.spark.table(relation(record.schema, record.relation)).count()
        except Exception:  # the raw table is gone: load it again
            return None
        if loaded != loaded_rows or quarantined != quarantined_rows:
            return None
        return Kept(str(run_id), int(loaded_rows), int(quarantined_rows))

    def load_raw(
        self, record: IngestRecord, rows: LocalRows, quarantine: LocalRows, unreadable: Sequence[Sequence[object]] = ()
    ) -> tuple[int, int]:
        rows_file, loaded = self._stage(rows)
        quarantine_file, quarantined = self._stage(quarantine, QUARANTINE_NAMES)
        quarantined += len(unreadable)
        schema = record.schema
        self.tables.append((schema, record.relation, rows_file))
        self.replaced.setdefault(schema, []).append(record.source_table)
        self.quarantine.setdefault(schema, []).append(quarantine_file)
        self.unreadable.setdefault(schema, []).extend(tuple(row) for row in unreadable)
        self.states.setdefault(schema, []).append((
            record.source_table, record.raw_file, record.relation, record.sha256, record.spec_digest,
            loaded, quarantined, record.run_id, datetime.now(timezone.utc).replace(tzinfo=None),
        ))  # fmt: skip
        return loaded, quarantined

    def touch(self, schema: str, table: str, loaded_at: datetime) -> None:
        self.touched.append((schema, table, loaded_at))

    def apply(self) -> None:
        """Replace what `load_raw` and `touch` staged: each table, then each schema's quarantine and state once."""
        from pyspark.sql import functions  # noqa: PLC0415 - pyspark loads with the session

        spark = self.spark
        for schema, table, rows_file in self.tables:
            target = relation(schema, table)
            spark.sql(f"drop table if exists {target}")
            spark.sql(f"create table {target} using parquet as select * from parquet.`{rows_file}`")
        for schema, table, loaded_at in self.touched:
            target = relation(schema, table)
            stamp = functions.lit(loaded_at).cast("timestamp")
            _replace(spark, spark.table(target).withColumn("_loaded_at", stamp), target)
        for schema, sources in self.replaced.items():
            table = relation(schema, QUARANTINE)
            kept = spark.table(table).where(~functions.col("source_table").isin(sources))
            # Staged under the quarantine's own names (`_stage`), typed as the table's.
            staged = spark.read.parquet(*self.quarantine[schema])
            new = staged.select(*(functions.col(field.name).cast(field.dataType) for field in kept.schema.fields))
            if self.unreadable[schema]:
                new = new.unionByName(spark.createDataFrame(self.unreadable[schema], kept.schema))
            _replace(spark, kept.unionByName(new), table)
            states = relation(schema, STATE)
            others = spark.table(states).where(~functions.col("source_table").isin(sources))
            _replace(spark, others.unionByName(spark.createDataFrame(self.states[schema], others.schema)), states)


@contextmanager
def raw_loader(settings: Settings, schemas: Sequence[str], *, memory_limit: str) -> Iterator[RawLoader]:
    """Ingest's load (see `RawLoader`): each schema made with its quarantine and state tables; applied on success."""
    spark = spark_session(settings)
    engine = duckdb.connect()
    folder = home(settings).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="ingest-spark-", dir=folder) as scratch, engine:
            engine.execute("set TimeZone = 'UTC'")
            engine.execute("set preserve_insertion_order = true")
            engine.execute("set memory_limit = ?", [memory_limit])
            for schema in sorted(set(schemas)):
                _create_database(spark, folder, schema)
                for table, columns in ((QUARANTINE, QUARANTINE_COLUMNS), (STATE, STATE_COLUMNS)):
                    spark.sql(f"create table if not exists {relation(schema, table)} ({columns}) using parquet")
            loader = RawLoader(engine, spark, Path(scratch))
            yield loader
            loader.apply()
    except WarehouseError:
        raise
    except duckdb.Error:
        raise
    except Exception as error:
        if type(error).__module__.startswith(("pyspark", "py4j")):
            raise _spark_error(error, "ingest failed") from None
        raise


class Warehouse:
    """A Spark instance: the databases `<name>__raw`, `<name>__audit` and `<name>` (see the module docstring)."""

    type = TYPE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = (os.environ.get(PREFIX_VAR, "") if remote() else "") + settings.name
        self.audit, self.raw = f"{self.name}{AUDIT_SUFFIX}", f"{self.name}{RAW_SUFFIX}"

    def spark(self) -> SparkSession:
        """The process's SparkSession (started here when it is not yet)."""
        return spark_session(self.settings)

    def database(self, location: Location) -> str:
        return self.audit if location == AUDIT else self.name

    def outside(self, relations: Sequence[Relation]) -> list[Relation]:
        """The relations outside the databases `<name>__audit`, `<name>__audit_x` (dbt derives) and `<name>__raw`."""
        return outside_schemas(relations, self.audit, self.raw)

    def published_schema(self, schema: str) -> str:
        """Where a database of the audit location is published (`warehouses.published_schema`)."""
        return published_schema(schema, self.audit, self.name)

    def where(self, location: Location = PUBLISHED) -> str:
        return f"database {self.database(location)}"

    def dbt_env(self) -> dict[str, str]:
        return {SCHEMA_VAR: self.audit, RAW_SCHEMA_VAR: self.raw, THREADS_VAR: str(self.settings.threads)}

    def defer_env(self) -> dict[str, str]:
        return {}

    def prepare(self) -> None:
        """Start the process's SparkSession (with this instance's folder and PII pads) before dbt connects.

        dbt-spark's `session` method then gets this session from `getOrCreate()`: one JVM for the whole run.
        """
        self.spark()

    def sibling_env(self, name: str) -> dict[str, str]:
        if self.settings.is_shared:
            return {DUCKDB_PATH_VAR: str(self.settings.duckdb_path.with_name(f"{name}.duckdb"))}
        return {DUCKDB_PATH_VAR: ""}

    def _production_database(self) -> str | None:
        """Production's published database (`<prefix>prod`) when slim CI has it to defer to and compare with.

        Only on a Spark Connect server (SPARK_REMOTE), whose one catalog holds every instance (local mode keeps
        each instance in a metastore of its own), with DBT_STATE_DIR set (production's manifest), for an
        instance other than prod, and once prod has been published there.
        """
        if remote() is None or self.settings.state_dir is None or self.settings.name == PRODUCTION:
            return None
        name = self.name[: len(self.name) - len(self.settings.name)] + PRODUCTION  # the same prefix
        return name if self.spark().catalog.databaseExists(name) else None

    def production(self) -> str | None:
        """`database <prefix>prod__audit` (what production's dbt built, its manifest names) or None."""
        found = self._production_database()
        return f"database {found}{AUDIT_SUFFIX}" if found else None

    def exists(self, location: Location = PUBLISHED) -> bool:
        if not home(self.settings).is_dir():
            return False
        return bool(self.spark().catalog.databaseExists(self.database(location)))

    def create(self) -> bool:
        spark, folder = self.spark(), home(self.settings).resolve()
        made = False
        for name in (self.raw, self.audit, self.name):
            made |= _create_database(spark, folder, name)
        return made

    def drop(self) -> bool:
        folder = home(self.settings)
        existed = folder.is_dir()
        if "home" in _started or remote():  # this process's metastore or the server lists the databases
            spark = self.spark()
            for name in (self.name, self.audit, self.raw):
                spark.sql(f"drop database if exists {_quote(name)} cascade")
        if remote() or _started.get("home") != folder.resolve():
            shutil.rmtree(folder, ignore_errors=True)
        return existed

    def record_owner(self) -> None:
        document = {"instance": self.settings.name, "env": self.settings.env, "owner": self.settings.owner}
        folder = home(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OWNER_FILE).write_text(json.dumps(document, ensure_ascii=True) + "\n", encoding="utf-8")

    @property
    def lock_path(self) -> Path:
        return self.settings.project_dir / WAREHOUSE_DIR / f"{self.settings.name}.lock"

    def ensure_writable(self) -> None:
        self.spark()

    @contextmanager
    def server_lock(self) -> Iterator[None]:
        """Nothing beyond the local run lock: local mode's metastore is this machine's, and so is a throwaway server."""
        yield

    @contextmanager
    def session(self, location: Location = AUDIT, *, read_only: bool = False) -> Iterator[Session]:
        spark = self.spark()
        database = self.database(location)
        if not spark.catalog.databaseExists(database):
            if read_only:
                raise MissingRelation(f"database {database} does not exist yet; `run` or `env create` makes it.")
            _create_database(spark, home(self.settings).resolve(), database)
        # The run history lives in the instance's audit database: one history per instance, dropped with it.
        production = self._production_database()
        yield Session(
            spark,
            {self.audit: self.name} if location == PUBLISHED else {HISTORY_SCHEMA: self.audit},
            {self.audit: production} if production else None,
        )

    def raw_loader(self, schemas: Sequence[str], *, memory_limit: str) -> AbstractContextManager[RawLoader]:
        return raw_loader(self.settings, schemas, memory_limit=memory_limit)

    def publish(self, relations: Sequence[Relation]) -> None:
        spark, folder = self.spark(), home(self.settings).resolve()
        try:
            for schema in sorted({self.published_schema(item.schema) for item in relations}):
                _create_database(spark, folder, schema)  # once per database, not per table
            for count, item in enumerate(relations, start=1):
                schema = self.published_schema(item.schema)
                target, staged = relation(schema, item.name), relation(schema, item.name + PUBLISHING_SUFFIX)
                spark.sql(f"drop table if exists {staged}")
                spark.sql(f"create table {staged} using parquet as select * from {relation(item.schema, item.name)}")
                if self.settings.fault == KILL_DURING_PUBLISH and count == 1:
                    os.kill(os.getpid(), signal.SIGKILL)  # the fault-injection tests' hard stop
                spark.sql(f"drop table if exists {target}")
                spark.sql(f"alter table {staged} rename to {target}")
        except Exception as error:
            raise WarehouseError(
                f"publish failed, the tables not yet swapped still hold the previous rows: {_spark_error(error)}"
            ) from None

    def snapshot(self, location: Location = PUBLISHED) -> dict[str, list[tuple[Any, ...]]]:
        databases = [self.audit, self.raw] if location == AUDIT else [self.name]
        spark = self.spark()
        found: dict[str, list[tuple[Any, ...]]] = {}
        for database in databases:
            if not spark.catalog.databaseExists(database):
                continue
            for table in spark.catalog.listTables(database):
                if table.tableType == "VIEW" or table.isTemporary:
                    continue
                # Another process (a run) may have replaced the table since this session last read it: Spark keeps
                # each session's file listing of a table until it is refreshed (FAILED_READ_FILE.FILE_NOT_EXIST).
                spark.catalog.refreshTable(relation(database, table.name))
                rows = [tuple(row) for row in spark.table(relation(database, table.name)).collect()]
                found[f"{database}.{table.name}"] = sorted(rows, key=lambda row: [repr(v) for v in row])
        return found


def list_instances(project_dir: Path, shared: Sequence[Settings] = ()) -> list[Instance]:
    """Every instance with an owner record (`warehouse/<name>/owner.json`), by env and name; size is its folder's."""
    del shared
    found = []
    for record in sorted((project_dir / WAREHOUSE_DIR).glob(f"*/{OWNER_FILE}")):
        try:
            document = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict) or document.get("instance") != record.parent.name:
            continue
        name = record.parent.name
        size = sum(path.stat().st_size for path in record.parent.rglob("*") if path.is_file())
        env = str(document.get("env") or env_of(name))
        found.append(Instance(name, env, record.parent, size, str(document.get("owner") or "?")))
    return sorted(found, key=lambda instance: (instance.env, instance.name))


if TYPE_CHECKING:  # mypy checks that each class here has every method of the seam's interface
    from .. import warehouses as interface

    def _conforms(
        settings: Settings, spark: SparkSession, engine: duckdb.DuckDBPyConnection
    ) -> tuple[interface.Warehouse, interface.Session, interface.RawLoader]:
        return Warehouse(settings), Session(spark), RawLoader(engine, spark, Path())
