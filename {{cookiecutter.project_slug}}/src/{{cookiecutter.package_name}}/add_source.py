"""Declare a raw file as a dbt source and scaffold its staging model: `add-source FILE...`.

For each raw file (CSV, Parquet or JSON lines, inside the raw folder) DuckDB's sniffer gives the
columns and their types. This module then writes, under `models/staging/<source>/`:
- `_<source>__sources.yml`: the table, with `meta.raw_file` (the file's path inside the raw folder),
  a `data_type` per column, `not_null` on each column the file never leaves empty, and `unique`
  on the table's key (the first column whose values are all present and distinct, a column named
  `id` or `<something>_id` first);
- `stg_<source>__<table>s.sql`: rename and cast only (snake_case names), in the house SQL style;
- `_<source>__models.yml`: the staging model, its key tested `unique` + `not_null`.

Files that exist are extended with a round trip (`properties`): their comments, quoting, key order and
indentation are kept, and only the new entries are added. A table,
model or file that is already declared is refused, naming it, before anything is written.
Staging names add an `s` to the table name unless it already ends in one (`invoice` ->
`stg_erp__invoices`, `invoices` -> `stg_erp__invoices`); rename the model if English needs more.

DuckDB reads the files here as a local, in-process engine (the same one ingest validates with), not as
the warehouse: this command touches no warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from . import config, properties, sql
from .errors import PipelineError
from .ingest import _TYPE, FORMATS, NULL_VALUES, _csv_records

_READERS = {
    ".csv": "read_csv(?)",
    ".parquet": "read_parquet(?)",
    ".jsonl": "read_json(?, format = 'newline_delimited')",
}
# dbt's Jinja delimiters, spelled apart so that no template engine reading this file takes them for its own.
_OPEN, _CLOSE = "{" + "{", "}" + "}"


@dataclass(frozen=True)
class SniffedColumn:
    """One column of a raw file: its name in the file, its snake_case name, its type as ingest declares it."""

    name: str
    model_name: str
    data_type: str
    required: bool
    unique: bool


def _declared_type(duckdb_type: str) -> str:
    """DuckDB's type name as a source data_type; nested or unusual types are loaded as text."""
    lowered = duckdb_type.lower()
    return lowered if _TYPE.fullmatch(lowered) and not lowered.startswith(("struct", "map", "union")) else "varchar"


def sniff(path: Path) -> list[SniffedColumn]:
    """The columns of a raw file (name, type, whether always present, whether all distinct).

    A value counts as missing as ingest counts it: no value, blank, or one of ingest's null tokens.
    Raises PipelineError with one sentence when the file is missing, of an unknown format or unreadable.
    """
    shown = config.shown(str(path))
    if path.suffix not in _READERS:
        raise PipelineError(f"{shown} is not a raw file ingest can read; give a file ending in {', '.join(FORMATS)}.")
    if not path.is_file():
        raise PipelineError(f"{shown} does not exist; copy the raw file there first, or give its path.")
    reader = _READERS[path.suffix]
    try:
        with duckdb.connect() as con:
            if path.suffix == ".csv":
                _check_csv_header(con, path, shown)
            described = con.execute(f"describe select * from {reader}", [str(path)]).fetchall()
            if not described:
                raise PipelineError(f"{shown} has no columns; export it again with a header row.")
            names = [str(row[0]) for row in described]
            stats = ", ".join(
                f"count(*) filter (where {sql.identifier(n)} is null or trim(cast({sql.identifier(n)} as varchar)) "
                f"= '' or list_contains(?, trim(cast({sql.identifier(n)} as varchar)))), "
                f"count(distinct {sql.identifier(n)})"
                for n in names
            )
            row = con.execute(
                f"select count(*), {stats} from {reader}", [*([list(NULL_VALUES)] * len(names)), str(path)]
            ).fetchone()
    except duckdb.Error as error:
        raise PipelineError(
            f"{shown} cannot be read as {path.suffix[1:]} ({str(error).splitlines()[0]}); fix or export the file again."
        ) from None
    assert row is not None  # noqa: S101 - an aggregate always returns one row
    rows = int(row[0])
    if not rows:
        raise PipelineError(f"{shown} has no data rows; add-source needs rows to tell the types and keys.")
    columns = []
    for index, (name, duckdb_type, *_) in enumerate(described):
        missing, distinct = int(row[1 + 2 * index]), int(row[2 + 2 * index])
        model_name = config.readable(str(name), 60) or f"column_{index + 1}"
        columns.append(
            SniffedColumn(str(name), model_name, _declared_type(str(duckdb_type)), missing == 0, distinct == rows)
        )
    return columns


def _check_csv_header(con: duckdb.DuckDBPyConnection, path: Path, shown: str) -> None:
    """Refuse a CSV that ingest would not read as DuckDB's sniffer does: another delimiter, or repeated names.

    Ingest reads comma-separated CSV (RFC 4180) with its own reader (`ingest._csv_records`); column names
    are matched case-insensitively by dbt and DuckDB, so `Label` and `label` are one name twice.
    """
    found = con.execute("select Delimiter from sniff_csv(?)", [str(path)]).fetchone()
    if found is not None and found[0] != ",":
        raise PipelineError(
            f"{shown} separates its fields with {found[0]!r}; ingest reads comma-separated CSV, "
            "so export it again with commas."
        )
    with path.open("rb") as handle:
        header = next(_csv_records(handle), None)
    names = [name.lower() for name in (header[1] or [])] if header else []
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PipelineError(
            f"{shown} names column(s) {', '.join(repeated)} more than once (names ignore case); "
            "rename them in the header row."
        )


def key_column(columns: Sequence[SniffedColumn]) -> SniffedColumn | None:
    """The table's key: a present, distinct column, preferring `id` and `<x>_id`; None when there is none."""
    candidates = [c for c in columns if c.required and c.unique]
    named = [c for c in candidates if c.model_name == "id" or c.model_name.endswith("_id")]
    return next(iter(named or candidates), None)


def staging_name(source: str, table: str) -> str:
    """`stg_<source>__<table>s`: the table name pluralised by adding `s` unless it ends in one."""
    return f"stg_{source}__{table if table.endswith('s') else table + 's'}"


def _column_tests(column: SniffedColumn, key: SniffedColumn | None) -> list[str]:
    return (["unique"] if column is key else []) + (["not_null"] if column.required else [])


def source_table(raw_file: str, columns: Sequence[SniffedColumn], table: str) -> dict[str, Any]:
    """The sources YAML entry of one table (as data)."""
    key = key_column(columns)
    entries = []
    for column in columns:
        entry: dict[str, Any] = {"name": column.name, "data_type": column.data_type}
        if sql.needs_quotes(column.name):
            entry["quote"] = True  # dbt's column tests then quote the name as the file spells it (or a keyword)
        tests = _column_tests(column, key)
        if tests:
            entry["data_tests"] = tests
        entries.append(entry)
    return {"name": table, "config": {"meta": {"raw_file": raw_file}}, "columns": entries}


def staging_sql(source: str, table: str, columns: Sequence[SniffedColumn]) -> str:
    """The staging model: every column of the source, renamed to snake_case (ingest already typed them)."""
    lines = []
    for column in columns:
        # A keyword stays quoted (`"order"`): renaming a user's column is theirs to choose.
        target = sql.identifier(column.model_name) if sql.needs_quotes(column.model_name) else column.model_name
        if column.name == column.model_name:
            lines.append(target)
        else:
            lines.append(f"{sql.identifier(column.name)} as {target}")
    selected = ",\n".join(f"        {line}" for line in lines)
    return (
        "with\n\n"
        f"source as (select * from {_OPEN} source('{source}', '{table}') {_CLOSE}),\n\n"
        "final as (\n"
        "    select\n"
        f"{selected}\n"
        "    from source\n"
        ")\n\n"
        "select * from final\n"
    )


def staging_model(name: str, raw_file: str, columns: Sequence[SniffedColumn]) -> dict[str, Any]:
    """The models YAML entry of the staging model (as data)."""
    key = key_column(columns)
    description = f"Staging of {raw_file}: one row per row of the raw file, columns renamed to snake_case."
    entries: list[dict[str, Any]] = []
    for column in columns:
        entry: dict[str, Any] = {"name": column.model_name}
        if sql.needs_quotes(column.model_name):
            entry["quote"] = True
        if column is key:
            entry["description"] = "Primary key."
            entry["data_tests"] = ["unique", "not_null"]
        entries.append(entry)
    return {"name": name, "description": description, "columns": entries}


# The schema of every source add-source declares: the instance's raw schema (`<instance>__raw` on a server, `raw`
# in a DuckDB file), where ingest loads it, as the example's sources do. Without one, dbt takes the source's name
# as its schema: a fixed schema, which every branch's and prod's runs would share on a server warehouse.
RAW_SCHEMA = f"{_OPEN} env_var('{config.RAW_SCHEMA_VAR}', 'raw') {_CLOSE}"


def _raw_tables(document: dict[str, Any]) -> set[str]:
    """The tables the sources of one YAML document load into the raw schema (their `identifier`, else `name`)."""
    return {
        str(table.get("identifier") or table.get("name"))
        for source in document.get("sources") or []
        if config.RAW_SCHEMA_VAR in str(source.get("schema") or "")
        for table in source.get("tables") or []
    }


def _declared(project_dir: Path) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(source, table) pairs, model names and the raw schema's tables already declared in any YAML under models/."""
    tables, models, raw_tables = set(), set(), set()
    for path in sorted((project_dir / "models").rglob("*")):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise PipelineError(
                f"{path} is not valid YAML ({str(error).splitlines()[0]}); fix it, then run add-source again."
            ) from None
        if not isinstance(document, dict):
            continue
        for source in document.get("sources") or []:
            tables |= {(source.get("name"), t.get("name")) for t in source.get("tables") or []}
        models |= {model.get("name") for model in document.get("models") or []}
        raw_tables |= _raw_tables(document)
    return tables, models, raw_tables


def add_sources(
    project_dir: Path, raw_dir: Path, files: Sequence[Path], source: str | None = None, table: str | None = None
) -> list[Path]:
    """Declare each raw file as a source table and write its staging model; return the files written.

    `files` must lie inside `raw_dir` (the folder ingest reads, e.g. data/raw/sample). `source`
    defaults to the file's folder inside `raw_dir` (or `raw` for a file directly in it), `table`
    to the file's name without its extension, both as snake_case. A new source is declared in the instance's raw
    schema (`RAW_SCHEMA`). Raises PipelineError, with nothing written, for an unreadable file or a table, model or
    file that is already declared, or a table another source already loads into the raw schema.
    """
    if table and len(files) > 1:
        raise PipelineError("--table names one table; give one FILE with it, or drop --table.")
    folder = raw_dir.resolve()
    declared_tables, declared_models, raw_tables = _declared(project_dir)
    documents: dict[Path, properties.Document] = {}
    texts: dict[Path, str] = {}
    for given in files:
        path = given.resolve()
        if path.suffix not in _READERS or not path.is_file():
            sniff(path)  # says which: an unknown format or a missing file
        if not path.is_relative_to(folder):
            raise PipelineError(
                f"{config.shown(str(given))} is outside the raw folder {config.shown(str(raw_dir))}; "
                "move it there (ingest reads only that folder)."
            )
        columns = sniff(path)
        raw_file = path.relative_to(folder).as_posix()
        parent = path.parent.relative_to(folder).as_posix()
        source_name = config.readable(source or (parent if parent != "." else "raw"), 40)
        table_name = config.readable(table or path.stem, 40)
        if not source_name or not table_name:
            raise PipelineError(
                f"no usable name for {config.shown(str(given))}; give --source and --table in letters and digits."
            )
        model = staging_name(source_name, table_name)
        folder_of = project_dir / "models" / "staging" / source_name
        model_sql = folder_of / f"{model}.sql"
        if (source_name, table_name) in declared_tables:
            raise PipelineError(f"source table {source_name}.{table_name} is already declared; give another --table.")
        if model in declared_models or model_sql.exists() or model_sql in texts:
            raise PipelineError(f"model {model} already exists ({model_sql}); give another --table or --source.")
        if table_name in raw_tables:
            raise PipelineError(
                f"another source already loads a table {table_name} into the raw schema, where every source's tables "
                f"land; give this one another --table (e.g. --table {source_name}_{table_name})."
            )
        declared_tables.add((source_name, table_name))
        declared_models.add(model)
        raw_tables.add(table_name)
        sources_yml = folder_of / f"_{source_name}__sources.yml"
        sources = documents.get(sources_yml) or properties.load(sources_yml, "sources", "add-source")
        entry = next((s for s in sources.data["sources"] if s.get("name") == source_name), None)
        if entry is None:
            entry = {"name": source_name, "schema": RAW_SCHEMA, "tables": []}
            sources.data["sources"].append(entry)
        entry.setdefault("tables", []).append(source_table(raw_file, columns, table_name))
        documents[sources_yml] = sources
        models_yml = folder_of / f"_{source_name}__models.yml"
        models = documents.get(models_yml) or properties.load(models_yml, "models", "add-source")
        models.data["models"].append(staging_model(model, raw_file, columns))
        documents[models_yml] = models
        texts[model_sql] = staging_sql(source_name, table_name, columns)
    written = {**{path: document.dump() for path, document in documents.items()}, **texts}
    properties.write(written)
    return sorted(written)


def relative(paths: Sequence[Path], root: Path) -> list[str]:
    """Paths as the user sees them: relative to the project when inside it."""
    return [os.path.relpath(path, root) for path in paths]
