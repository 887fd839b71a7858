"""Raw files -> raw schema: each file is checked against the schema declared in the dbt sources.

The dbt sources YAML is the one declaration of the raw data: a table's file comes from
`meta.raw_file`, a column's type from `data_type`, and a column is required when it has
a `not_null` test. Rows that break a rule go to `raw._quarantine` with the reason; no
row is dropped silently. All tables load in one transaction, so a failure leaves the
warehouse as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import yaml

from . import pii
from .errors import PipelineError

QUARANTINE = "_quarantine"
FORMATS = (".csv", ".parquet", ".jsonl")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    required: bool
    # `meta: {pii: true}`: personal data, masked outside prod (pii.py).
    pii: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One raw table as the dbt sources declare it."""

    source: str
    schema: str
    name: str
    raw_file: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class TableResult:
    table: str
    raw_file: str
    loaded_rows: int
    quarantined_rows: int


@dataclass(frozen=True)
class IngestResult:
    tables: tuple[TableResult, ...]

    @property
    def loaded_rows(self) -> int:
        return sum(t.loaded_rows for t in self.tables)

    @property
    def quarantined_rows(self) -> int:
        return sum(t.quarantined_rows for t in self.tables)


def _meta(node: dict[str, Any]) -> dict[str, Any]:
    config = node.get("config") or {}
    return {**(node.get("meta") or {}), **(config.get("meta") or {})}


def _test_names(column: dict[str, Any]) -> set[str]:
    tests = [*(column.get("data_tests") or []), *(column.get("tests") or [])]
    return {test if isinstance(test, str) else next(iter(test)) for test in tests}


def load_specs(project_dir: Path) -> list[TableSpec]:
    """Every source table with a `meta.raw_file`, from the YAML under models/."""
    specs = []
    for path in sorted((project_dir / "models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source in document.get("sources") or []:
            for table in source.get("tables") or []:
                raw_file = _meta(table).get("raw_file")
                if not raw_file:
                    continue
                columns = tuple(
                    Column(
                        name=column["name"],
                        data_type=str(column.get("data_type") or ""),
                        required="not_null" in _test_names(column),
                        pii=bool(_meta(column).get("pii")),
                    )
                    for column in table.get("columns") or []
                )
                untyped = [c.name for c in columns if not c.data_type]
                if untyped or not columns:
                    raise PipelineError(
                        f"{path}: source table {table['name']} needs a data_type on every column "
                        f"(missing on: {', '.join(untyped) or 'all, no columns declared'})."
                    )
                typed_pii = [c.name for c in columns if c.pii and c.data_type.lower() not in ("varchar", "text")]
                if typed_pii:
                    raise PipelineError(
                        f"{path}: pii column(s) {', '.join(typed_pii)} of {table['name']} must be declared "
                        "data_type: varchar, because outside prod they hold a masked digest, not the value."
                    )
                if Path(raw_file).suffix not in FORMATS:
                    raise PipelineError(
                        f"{path}: raw_file '{raw_file}' of {table['name']} must end in one of {', '.join(FORMATS)}."
                    )
                specs.append(
                    TableSpec(
                        source=source["name"],
                        schema=source.get("schema", source["name"]),
                        name=table["name"],
                        raw_file=raw_file,
                        columns=columns,
                    )
                )
    return specs


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_csv(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path) -> list[tuple[int, str, str]]:
    """Stage a CSV as text; lines the parser cannot split come back as (line, reason, text)."""
    # DuckDB appends to the rejects tables across reads: start each file clean.
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    con.execute(
        "create or replace temp table _incoming as "
        "select row_number() over () as _row_number, * "
        "from read_csv(?, all_varchar = true, header = true, store_rejects = true, "
        "rejects_table = '_rejects', rejects_scan = '_rejects_scan')",
        [str(path)],
    )
    rejects = con.execute(
        "select line, error_type || ': ' || error_message, csv_line from _rejects order by line"
    ).fetchall()
    return [(int(line), f"unreadable CSV line ({reason})", text) for line, reason, text in rejects]


def _read_parquet(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path) -> list[tuple[int, str, str]]:
    con.execute(
        "create or replace temp table _incoming as select row_number() over () as _row_number, * from read_parquet(?)",
        [str(path)],
    )
    return []


def _read_jsonl(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path) -> list[tuple[int, str, str]]:
    """Read line by line so that one broken line is quarantined, not fatal."""
    con.execute(
        "create or replace temp table _lines as "
        "select row_number() over () as _row_number, line "
        "from read_csv(?, columns = {'line': 'varchar'}, header = false, delim = '\x1f', "
        "quote = '', escape = '', auto_detect = false) where trim(line) <> ''",
        [str(path)],
    )
    fields = ", ".join(
        f"json_extract_string(line, {_sql_literal('$.' + c.name)}) as {_quote(c.name)}" for c in spec.columns
    )
    con.execute(
        f"create or replace temp table _incoming as select _row_number, {fields} from _lines where json_valid(line)"
    )
    broken = con.execute("select _row_number, line from _lines where not json_valid(line) order by 1").fetchall()
    return [(int(row), "malformed JSON", text) for row, text in broken]


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


READERS: dict[str, Callable[[duckdb.DuckDBPyConnection, TableSpec, Path], list[tuple[int, str, str]]]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
    ".jsonl": _read_jsonl,
}


def _reason_sql(spec: TableSpec) -> str:
    """One SQL expression naming every rule a row breaks, or null when it breaks none."""
    checks = []
    for column in spec.columns:
        ref = f"cast({_quote(column.name)} as varchar)"
        if column.required:
            checks.append(
                f"case when {ref} is null or trim({ref}) = '' then {_sql_literal(column.name + ' is missing')} end"
            )
        prefix = _sql_literal(f"{column.name} '")
        suffix = _sql_literal(f"' is not a valid {column.data_type}")
        checks.append(
            f"case when {ref} is not null and trim({ref}) <> '' "
            f"and try_cast({ref} as {column.data_type}) is null "
            f"then {prefix} || {ref} || {suffix} end"
        )
    return f"nullif(concat_ws('; ', {', '.join(checks)}), '')"


def _check_columns(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    present = {row[0] for row in con.execute("select column_name from (describe _incoming)").fetchall()}
    missing = [c.name for c in spec.columns if c.name not in present]
    if missing:
        raise PipelineError(
            f"{spec.raw_file} lacks the declared column(s) {', '.join(missing)}; "
            f"fix the file or the source declaration of {spec.source}.{spec.name}."
        )


def _load_table(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    path: Path,
    loaded_at: datetime,
    run_id: str,
    *,
    masker: pii.Masker,
) -> TableResult:
    unreadable = READERS[path.suffix](con, spec, path)
    # Outside prod, pii columns are masked in the very queries that write (never updated afterwards:
    # a clear value once written could stay in the file's free blocks).
    pii_columns = [c.name for c in spec.columns if c.pii]
    _check_columns(con, spec)
    names = [_quote(c.name) for c in spec.columns]
    con.execute(
        f"create or replace temp table _checked as select _row_number, {', '.join(names)}, "
        f"{_reason_sql(spec)} as _reason from _incoming"
    )
    casts = ", ".join(
        f"cast(nullif(trim(cast({_quote(c.name)} as varchar)), '') as {c.data_type}) as {_quote(c.name)}"
        for c in spec.columns
    )
    target = f"{_quote(spec.schema)}.{_quote(spec.name)}"
    con.execute(f"create schema if not exists {_quote(spec.schema)}")
    valid = (
        f"(select {casts}, cast(? as timestamp) as _loaded_at from _checked where _reason is null order by _row_number)"
    )
    con.execute(f"create or replace table {target} as select * from {masker.select(valid, pii_columns)}", [loaded_at])
    quarantine = f"{_quote(spec.schema)}.{QUARANTINE}"
    con.execute(f"delete from {quarantine} where source_table = ?", [spec.name])
    # A bad row's other text fields and its reason may hold a pii value too (shifted fields): scrub them.
    texts = con.execute("select column_name from (describe _checked) where column_type = 'VARCHAR'").fetchall()
    scrub = [name for (name,) in texts if name not in pii_columns]
    record = "to_json(struct_pack(" + ", ".join(f"{n} := {n}" for n in names) + "))"
    con.execute(
        f"insert into {quarantine} select ?, ?, ?, _row_number, _reason, cast({record} as varchar), ? "
        f"from {masker.select('_checked', pii_columns, scrub)} where _reason is not null",
        [run_id, spec.name, spec.raw_file, loaded_at],
    )
    for row_number, reason, text in unreadable:
        con.execute(
            f"insert into {quarantine} values (?, ?, ?, ?, ?, ?, ?)",
            [run_id, spec.name, spec.raw_file, row_number, reason, masker.line(text, bool(pii_columns)), loaded_at],
        )
    loaded = con.execute(f"select count(*) from {target}").fetchone()
    quarantined = con.execute(f"select count(*) from {quarantine} where source_table = ?", [spec.name]).fetchone()
    return TableResult(
        spec.name, spec.raw_file, int(loaded[0]) if loaded else 0, int(quarantined[0]) if quarantined else 0
    )


def ingest(
    duckdb_path: Path,
    specs: list[TableSpec],
    raw_dir: Path,
    run_id: str,
    progress: Callable[[str], None] = print,
    *,
    pii_key: bytes | None = pii.DEV_KEY.encode(),
) -> IngestResult:
    """Load every declared raw file into the warehouse, quarantining bad rows, all or nothing.

    `pii_key` masks the `pii` columns (raw tables and quarantine, see pii.py); None stores them clear (prod).
    """
    masker = pii.Masker(pii_key)
    missing = [spec.raw_file for spec in specs if not (raw_dir / spec.raw_file).is_file()]
    if missing:
        raise PipelineError(
            f"raw file(s) {', '.join(missing)} not found in {raw_dir}; "
            "generate them with the `generate` command or point RAW_DATA_DIR (or --raw-dir) at them."
        )
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    results = []
    with duckdb.connect(str(duckdb_path)) as con:
        masker.register(con)
        con.execute("begin transaction")
        try:
            for schema in sorted({spec.schema for spec in specs}):
                con.execute(f"create schema if not exists {_quote(schema)}")
                con.execute(
                    f"create table if not exists {_quote(schema)}.{QUARANTINE} ("
                    "run_id varchar, source_table varchar, raw_file varchar, row_number bigint, "
                    "reason varchar, record varchar, quarantined_at timestamp)"
                )
            for spec in specs:
                result = _load_table(con, spec, raw_dir / spec.raw_file, loaded_at, run_id, masker=masker)
                progress(
                    f"  {spec.raw_file:<24} -> {spec.schema}.{spec.name:<14} "
                    f"{result.loaded_rows:>9,} rows  {result.quarantined_rows:>6,} quarantined"
                )
                results.append(result)
            con.execute("commit")
        except duckdb.Error as error:
            con.execute("rollback")
            raise PipelineError(f"ingest failed, nothing was loaded: {error}") from error
        except BaseException:
            con.execute("rollback")
            raise
    return IngestResult(tuple(results))


def quarantined(duckdb_path: Path, schema: str = "raw") -> Iterator[tuple[str, str, int]]:
    """(table, reason, rows) of what the last ingest quarantined, largest first."""
    with duckdb.connect(str(duckdb_path)) as con:
        yield from con.execute(
            f"select source_table, reason, count(*) from {_quote(schema)}.{QUARANTINE} "
            "group by all order by 3 desc, 1, 2"
        ).fetchall()
