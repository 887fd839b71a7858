"""Raw files -> raw schema: each file is checked against the schema declared in the dbt sources.

The dbt sources, as dbt parses them (the manifest), are the one declaration of the raw data:
a table's file comes from `meta.raw_file`, a column's type from `data_type`, and a column is
required when it has a `not_null` test. A field that is empty or spells a null token (`NULL_VALUES`, or the
table's own `meta.null_values`) is missing. Rows that break a rule go to `<schema>._quarantine`
with the reason; no row is dropped silently and no value is changed silently: a value that
the declared type cannot hold exactly (a fraction in an integer column, a third decimal in
`numeric(12,2)`, a time of day in a date column, nanoseconds in a timestamp) is quarantined,
never rounded. Timestamps with an offset are converted to UTC. All tables load in one
transaction, so a failure leaves the warehouse as it was.

Row numbers (`<schema>._quarantine.row_number`) follow one scheme: the 1-based line in the file as
an editor shows it, header included (CSV data row 1 is line 2; JSON line N is line N). Parquet
has no lines: its row number is the row's index in the file + 1. For every file, loaded rows +
quarantined rows = data rows in the file, where a data row is a CSV record (a quoted field may
span lines) or a JSON line, blank lines excepted, or a Parquet row.

Cost: Python splits CSV and JSON lines into a staging CSV (what makes line numbers and the quarantine
of unreadable records exact); DuckDB reads that file, or the Parquet file, once, into one temp table
of checked rows from which both the table and the quarantine are written. A Parquet column whose
type already holds the declared type's values exactly (`exact_type`) is loaded as is; only the
others go through the text rules. A file whose bytes and spec did not change since this database
last loaded it is not loaded again (`ingest`, `<schema>._ingest_state`).

DuckDB is the local validation engine here, on every warehouse: the checks above run in-process, and the
warehouse only loads the checked rows and the quarantine rows (`warehouses.RawLoader.load_raw`; on DuckDB the
engine is the audit database itself, so the rows are written where they were checked, with no copy).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import duckdb

from . import pii, sql, warehouses
from .errors import PipelineError
from .warehouses import QUARANTINE, STATE

__all__ = [
    "QUARANTINE", "STATE", "IngestResult", "Reason", "TableResult", "TableSpec", "ingest", "load_specs", "quarantined",
]  # fmt: skip

# DuckDB's memory for one ingest (its buffer pool; Python's own objects come on top).
MEMORY_LIMIT = "256MB"
FORMATS = (".csv", ".parquet", ".jsonl")
# Spellings of a missing value in raw files (besides an empty field, which is always missing).
# A source table replaces this list with its own `meta.null_values` (like pandas' `na_values`),
# e.g. to load "NA" as Namibia's country code.
NULL_VALUES = ("NULL", "null", "NA", "N/A", "None")
# A declared type is a plain SQL type name with an optional (precision[, scale]): it is spliced
# into SQL as a type, so nothing else may pass.
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?")
_INTEGERS = {"tinyint", "smallint", "integer", "int", "bigint", "hugeint", "int1", "int2", "int4", "int8", "long"}
_INTEGERS |= {"u" + name for name in ("tinyint", "smallint", "integer", "bigint", "hugeint")}
_TIMESTAMPS = {"timestamp", "datetime", "timestamp without time zone"}
_TIMESTAMPTZ = {"timestamptz", "timestamp with time zone"}
_TEXT = {"varchar", "text", "string", "char", "bpchar"}
_FLOATS = {"double", "float", "real", "float4", "float8", "double precision"}

Unreadable = list[tuple[int, str, str]]  # (line, reason, original text) of records no column can be read from
REASONS_SHOWN = 10  # per raw table, in the run summary and the reports (TableResult.reasons)
# Exact pairs (exact_type): integer widths in bits, and the decimal digits each width can need.
_SIGNED = {"tinyint": 8, "int1": 8, "smallint": 16, "int2": 16, "integer": 32, "int": 32, "int4": 32}
_SIGNED |= {"bigint": 64, "int8": 64, "long": 64, "hugeint": 128}
_UNSIGNED = {"utinyint": 8, "usmallint": 16, "uinteger": 32, "ubigint": 64, "uhugeint": 128}
_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20, 128: 39}
_FLOAT_BITS = {"float": 32, "real": 32, "float4": 32, "double": 64, "float8": 64, "double precision": 64}
# Parquet timestamps of at most microsecond precision (TIMESTAMP_NS is not: it goes through the text rules).
_MICROSECONDS = {"timestamp", "timestamp_ms", "timestamp_s", "datetime"}


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
    null_values: tuple[str, ...] = NULL_VALUES
    # The relation dbt reads: the source's `identifier:`, else its name.
    identifier: str = ""

    @property
    def table(self) -> str:
        """The raw table's name in the warehouse (dbt's identifier)."""
        return self.identifier or self.name


@dataclass(frozen=True)
class Reason:
    """One reason a load quarantined rows for: how many rows (of one raw file) and the first one's row number."""

    reason: str  # as in `<schema>._quarantine.reason`, a pii value in it masked outside prod
    rows: int
    first_row_number: int  # as in `<schema>._quarantine.row_number` (module docstring)


@dataclass(frozen=True)
class TableResult:
    table: str
    raw_file: str
    loaded_rows: int
    quarantined_rows: int
    schema: str  # where the table and its schema's quarantine (`<schema>._quarantine`) were written
    # The run whose load of the same file (same sha256, same spec, same masking key) was kept; '' when loaded now.
    reused_from: str = ""
    # The quarantine's reasons, most rows first, at most REASONS_SHOWN; the rest is in the quarantine. Empty for
    # a reused load, and for a table with pii columns in prod (`withheld`): its reasons may quote clear values,
    # which the quarantine holds there but reports (CI artifacts, logs) must not.
    reasons: tuple[Reason, ...] = ()
    withheld: bool = False

    @property
    def quarantine(self) -> str:
        """The quarantine relation of this table's schema, as a user types it in SQL (`raw._quarantine`)."""
        return sql.shown(self.schema, QUARANTINE)


@dataclass(frozen=True)
class IngestResult:
    tables: tuple[TableResult, ...]

    @property
    def loaded_rows(self) -> int:
        return sum(t.loaded_rows for t in self.tables)

    @property
    def quarantined_rows(self) -> int:
        return sum(t.quarantined_rows for t in self.tables)

    @property
    def reused(self) -> list[str]:
        """The tables kept from an earlier run because their raw file and spec did not change."""
        return [t.table for t in self.tables if t.reused_from]

    @property
    def quarantines(self) -> list[str]:
        """The quarantine relations holding this run's bad rows (every ingested schema's when there are none)."""
        holding = [t for t in self.tables if t.quarantined_rows] or list(self.tables)
        return sorted({t.quarantine for t in holding})


@dataclass(frozen=True)
class Source:
    """What a reader hands to the checks: a relation and the records it could not read.

    `relation` is parenthesised SQL with `_line` (the row number, module docstring) and one column per
    declared column, its values bound as parameters of the statement that reads it (nothing is
    materialised until then). A column named in `typed` already has a type that holds its declared
    type's values exactly (`exact_type`) and loads as is; every other column is text and goes through
    the text rules.
    """

    relation: str
    unreadable: Unreadable = field(default_factory=list)
    typed: frozenset[str] = frozenset()


def exact_type(physical: str, declared: str) -> bool:
    """Whether every value of DuckDB type `physical` (a Parquet column's) is exactly a value of `declared`.

    Exact pairs, loaded without a text round trip: a signed integer into an integer at least as wide
    (int32 -> bigint), an unsigned one into a wider signed or an as-wide unsigned integer; an integer into
    a decimal(p,s) with p - s at least its digits (int32 needs 10: decimal(12,2) is exact, (11,2) is not); a
    decimal(p1,s1) into a decimal(p2,s2) with s2 >= s1 and p2 - s2 >= p1 - s1; float into float, double
    into double; date into date; boolean into boolean; a timestamp of second, milli- or
    microsecond precision into timestamp or timestamptz, and timestamptz into either (the session time
    zone is UTC: the instant is kept). Anything else is not exact and is checked as text: a double into
    a decimal (a third decimal must be quarantined, not rounded), a bigint into an integer (range), a
    double into an integer (fraction), a float into a double (the text rules load float 0.1 as double
    0.1, as before, not as 0.10000000149011612), nanosecond timestamps, and any text column.
    """
    kind, args = _type_parts(physical)
    target, target_args = _type_parts(declared)
    bits = _SIGNED.get(kind) or _UNSIGNED.get(kind)
    if bits:
        return _integer_fits(kind in _UNSIGNED, bits, target, target_args)
    if kind == "decimal" and target in {"decimal", "numeric"}:
        (precision, scale), (to_precision, to_scale) = _decimal(args), _decimal(target_args)
        return to_scale >= scale and to_precision - to_scale >= precision - scale
    if kind in _FLOAT_BITS:
        return target in _FLOAT_BITS and _FLOAT_BITS[kind] == _FLOAT_BITS[target]
    if kind in _MICROSECONDS | _TIMESTAMPTZ:
        return target in _TIMESTAMPS | _TIMESTAMPTZ
    return kind in {"date", "boolean"} and kind == target


def _integer_fits(unsigned: bool, bits: int, target: str, args: list[int]) -> bool:
    """Whether every integer of `bits` bits (unsigned or not) is a value of the declared type `target`(`args`)."""
    if target in {"decimal", "numeric"}:
        precision, scale = _decimal(args)
        return precision - scale >= _DIGITS[bits]
    if target in _SIGNED:
        return bits < _SIGNED[target] or (not unsigned and bits == _SIGNED[target])
    return unsigned and bits <= _UNSIGNED.get(target, 0)


def _decimal(args: list[int]) -> tuple[int, int]:
    """(precision, scale) of a decimal type's arguments, with DuckDB's defaults (18,3), and scale 0 for (p)."""
    return (args[0] if args else 18), (args[1] if len(args) > 1 else (0 if args else 3))


def _meta(node: Mapping[str, Any]) -> dict[str, Any]:
    config = node.get("config") or {}
    return {**(node.get("meta") or {}), **(config.get("meta") or {})}


def _column_tests(manifest: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    """{(source unique_id, column): names of the enabled generic tests on it} from the manifest's test nodes."""
    tests: dict[tuple[str, str], set[str]] = {}
    for node in (manifest.get("nodes") or {}).values():
        metadata = node.get("test_metadata") or {}
        column = node.get("column_name")
        if node.get("resource_type") != "test" or not metadata or not column:
            continue
        if not (node.get("config") or {}).get("enabled", True):
            continue
        for parent in (node.get("depends_on") or {}).get("nodes") or []:
            tests.setdefault((parent, column), set()).add(metadata["name"])
    return tests


def load_specs(manifest: Mapping[str, Any]) -> list[TableSpec]:
    """Every enabled source table with a `meta.raw_file`, as dbt parsed it (manifest.json as a dict).

    The manifest comes from `build.parse` (target/<instance>/manifest.json): dbt has already read
    every sources file (`.yml` or `.yaml`, any folder), applied `enabled`, `schema`, `identifier`,
    `database` and `quoting`, and made each column test a test node; a column is required when an
    enabled `not_null` test depends on it. In dbt's order: by file, then as declared.

    Raises PipelineError for a column without a `data_type` (or one that is not a plain SQL type),
    a raw file of an unknown format, or a `meta.null_values` that is not a list of strings.
    """
    tests = _column_tests(manifest)
    specs = []
    sources = (manifest.get("sources") or {}).values()
    for table in sources:
        meta = _meta(table)
        raw_file = meta.get("raw_file")
        if not raw_file or not (table.get("config") or {}).get("enabled", True):
            continue
        path = table.get("original_file_path") or table.get("path") or "the sources YAML"
        name = table["name"]
        columns = tuple(
            Column(
                name=column["name"],
                data_type=str(column.get("data_type") or "").strip(),
                required="not_null" in tests.get((table["unique_id"], column["name"]), set()),
                pii=bool(_meta(column).get("pii")),
            )
            for column in (table.get("columns") or {}).values()
        )
        untyped = [c.name for c in columns if not c.data_type]
        if untyped or not columns:
            raise PipelineError(
                f"{path}: source table {name} needs a data_type on every column "
                f"(missing on: {', '.join(untyped) or 'all, no columns declared'})."
            )
        for c in columns:
            if not _TYPE.fullmatch(c.data_type):
                raise PipelineError(
                    f"{path}: data_type '{c.data_type}' of {name}.{c.name} is not a plain SQL type; "
                    "write a type name such as integer, varchar or numeric(12,2)."
                )
        typed_pii = [c.name for c in columns if c.pii and c.data_type.lower() not in ("varchar", "text")]
        if typed_pii:
            raise PipelineError(
                f"{path}: pii column(s) {', '.join(typed_pii)} of {name} must be declared "
                "data_type: varchar, because outside prod they hold a masked digest, not the value."
            )
        if Path(raw_file).suffix not in FORMATS:
            raise PipelineError(f"{path}: raw_file '{raw_file}' of {name} must end in one of {', '.join(FORMATS)}.")
        null_values = meta.get("null_values", NULL_VALUES)
        if not isinstance(null_values, list | tuple) or not all(isinstance(v, str) for v in null_values):
            raise PipelineError(
                f"{path}: meta.null_values of {name} must be a list of strings, "
                "e.g. [NULL, 'N/A'] (quote values YAML would read otherwise, like null or no)."
            )
        specs.append(
            TableSpec(
                source=table["source_name"],
                schema=table["schema"],
                name=name,
                raw_file=raw_file,
                columns=columns,
                null_values=tuple(null_values),
                identifier=table.get("identifier") or name,
            )
        )
    return specs


class _Staging:
    """A clean CSV of the records a reader accepted: `_line`, then one text field per declared column.

    Python splits the raw file (so every record keeps its line and bad bytes stay on their own
    record); DuckDB then reads this file back strictly, with no type guessing.
    """

    def __init__(self, path: Path, spec: TableSpec) -> None:
        self.path = path
        self.width = len(spec.columns)
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.handle.write(",".join(["_line", *(f"c{i}" for i in range(self.width))]) + "\n")
        self.rows = 0

    def __enter__(self) -> _Staging:
        return self

    def __exit__(self, *_: object) -> None:
        self.handle.close()

    def add(self, line: int, values: list[str | None]) -> str | None:
        """Stage one record; a reason instead when a value cannot be stored as text."""
        joined = "".join([v for v in values if v is not None])
        if "\x00" in joined:
            return "holds a NUL character"
        if not joined.isascii():
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                return "is not valid UTF-8 text"
        # Quoted text, or nothing at all for a missing value (None). Runs once per record: kept inline.
        if '"' in joined:
            fields = ["" if v is None else '"' + v.replace('"', '""') + '"' for v in values]
        else:
            fields = ["" if v is None else '"' + v + '"' for v in values]
        self.handle.write(f"{line},{','.join(fields)}\n")
        self.rows += 1
        return None

    def source(self, spec: TableSpec, p: _Params) -> Source:
        """The staged records as a relation (`_line`, then the declared columns as text), read when queried."""
        self.handle.close()
        # A struct literal of the generated column names (c0, c1, ...), never of a declared name.
        types = "{" + ", ".join(["'_line': 'BIGINT'", *(f"'c{i}': 'VARCHAR'" for i in range(self.width))]) + "}"
        renames = ", ".join(f"c{i} as {sql.identifier(c.name)}" for i, c in enumerate(spec.columns))
        relation = (
            f"(select _line, {renames} "
            f"from read_csv({p(str(self.path))}, header = true, columns = {types}, delim = ',', quote = '\"', "
            "escape = '\"', allow_quoted_nulls = false, auto_detect = false, strict_mode = true))"
        )
        return Source(relation)


def _text(raw: str) -> str:
    r"""A raw record as storable text: undecodable bytes shown as \xNN, line ends dropped."""
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").rstrip("\r\n")


class _Lines:
    """The lines of a file as text, undecodable bytes kept as surrogates; lines can be pushed back."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.pending: deque[str] = deque()
        self.taken: list[str] = []
        self.first = True

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            line = self.pending.popleft()
        else:
            data = self.handle.readline()
            if not data:
                raise StopIteration
            line = data.decode("utf-8", "surrogateescape")
            if self.first:
                # Spreadsheet exports start with a byte order mark: it is not part of the header.
                line, self.first = line.removeprefix("\ufeff"), False
        self.taken.append(line)
        return line


def _csv_records(handle: IO[bytes]) -> Iterator[tuple[int, list[str] | None, str, str]]:
    """(first line, fields or None, reason, original text) of every non-blank record of a CSV file.

    The first record is the header; a later record with another number of fields is broken.
    A broken record that spans lines (a quote that does not close on its own line) is taken
    as one broken line, and reading resumes on the next line: a stray quote costs one line,
    not the rest of the file.
    """
    lines = _Lines(handle)
    consumed, width = 0, -1
    reader = csv.reader(lines, strict=True)
    while True:
        lines.taken = []
        fields: list[str] | None
        try:
            fields, reason = next(reader), ""
        except StopIteration:
            if not lines.taken:
                return
            fields, reason = None, "unbalanced quote"
        except csv.Error as error:
            fields, reason = None, str(error)
        taken = lines.taken
        if fields is not None and not (len(taken) == 1 and not taken[0].strip()):
            if width < 0:
                width = len(fields)
            elif len(fields) != width:
                reason = f"expected {width} fields, found {len(fields)}"
                fields = None
        if fields is None:
            if len(taken) > 1:
                lines.pending.extendleft(reversed(taken[1:]))
                taken = taken[:1]
            reader = csv.reader(lines, strict=True)
        consumed += len(taken)
        raw = "".join(taken)
        if fields is not None and len(taken) == 1 and not raw.strip():
            continue
        yield consumed - len(taken) + 1, fields, reason, raw


def _read_csv(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, staging: Path, p: _Params) -> Source:
    """Split a CSV with Python's csv module; records it cannot use come back as (line, reason, text)."""
    unreadable: Unreadable = []
    with path.open("rb") as handle, _Staging(staging, spec) as stage:
        records = _csv_records(handle)
        header = next(records, None)
        if header is None or header[1] is None:
            raise _no_data_rows(path, spec)
        names = header[1]
        _check_columns(spec, names)
        positions = [names.index(c.name) for c in spec.columns]
        for line, fields, broken, raw in records:
            if fields is None:
                reason: str | None = broken
            elif _has_surrogates(fields):
                reason = "not UTF-8 text"
            else:
                reason = stage.add(line, [fields[i] for i in positions])
            if reason is not None:
                unreadable.append((line, f"unreadable CSV line ({reason})", _text(raw)))
    if not stage.rows and not unreadable:
        raise _no_data_rows(path, spec)
    return replace(stage.source(spec, p), unreadable=unreadable)


def _no_data_rows(path: Path, spec: TableSpec) -> PipelineError:
    """An empty raw file stops the run: loading it would replace the table with nothing and publish that."""
    return PipelineError(
        f"{path.name} has no data rows; export it again, or remove the meta.raw_file of {spec.source}.{spec.name}."
    )


_SURROGATE = re.compile("[\udc80-\udcff]")  # an undecodable byte, as `surrogateescape` keeps it


def _has_surrogates(fields: list[str]) -> bool:
    text = "".join(fields)
    return not text.isascii() and _SURROGATE.search(text) is not None


def _json_text(value: object) -> str | None:
    """A JSON value as the text a CSV would hold; numbers keep their exact spelling."""
    if value is None or isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _json_nested(value)


class _Fraction(str):
    """A JSON number with a fraction or an exponent, as its text in the file (a float would round it)."""

    __slots__ = ()


def _json_nested(value: object) -> str:
    """An array or object as JSON text (json.dumps' layout) whose numbers keep the file's spelling."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_json_nested(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_nested(item) for item in value) + "]"
    return str(value) if isinstance(value, _Fraction) else json.dumps(value)


def _json_kind(value: object, text: str) -> str:
    """What a JSON line holds instead of an object (numbers were parsed as their text)."""
    if isinstance(value, list):
        return "an array"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "a boolean"
    return "a string" if text.lstrip().startswith('"') else "a number"


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_TEXTS = (str, _Fraction)  # JSON values _json_text returns unchanged
# Numbers keep their exact spelling (a float would round 0.1000000000000000001), also inside an array or
# object (_json_nested); NaN is not JSON.
_JSON = json.JSONDecoder(parse_float=_Fraction, parse_constant=_no_constants)


def _json_line(text: str) -> object:
    """The JSON value a line holds, as `_JSON.decode` reads it (ValueError when it is not one JSON value).

    JSON's own whitespace around the value is allowed, anything else after it is not. raw_decode skips
    the two whitespace regular expressions `decode` runs per line (ingest reads millions of lines).
    """
    body = text.strip(" \t\n\r")
    value, end = _JSON.raw_decode(body)
    if end != len(body):
        raise ValueError("extra data after the JSON value")
    return value


def _read_jsonl(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, staging: Path, p: _Params) -> Source:
    """Read line by line so that one broken line is quarantined, not fatal."""
    unreadable: Unreadable = []
    names = [c.name for c in spec.columns]
    with path.open("rb") as handle, _Staging(staging, spec) as stage:
        for line, data in enumerate(handle, start=1):
            if not data.strip():
                continue
            text = data.decode("utf-8", "surrogateescape")
            if line == 1:
                text = text.removeprefix("\ufeff")
            try:
                record = _json_line(text)
            except ValueError:
                unreadable.append((line, "malformed JSON", _text(text)))
                continue
            if not isinstance(record, dict):
                kind = _json_kind(record, text)
                unreadable.append((line, f"JSON line is {kind}, not an object", _text(text)))
                continue
            # Strings, nulls and integers (most values) inline; _json_text for the rest.
            values = [
                v if v is None or v.__class__ in _TEXTS else str(v) if v.__class__ is int else _json_text(v)
                for v in map(record.get, names)
            ]
            problem = stage.add(line, values)
            if problem is not None:
                unreadable.append((line, f"unreadable JSON line ({problem})", _text(text)))
    if not stage.rows and not unreadable:
        raise _no_data_rows(path, spec)
    return replace(stage.source(spec, p), unreadable=unreadable)


def _read_parquet(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, staging: Path, p: _Params) -> Source:
    """Read a Parquet file's declared columns, typed ones as they are.

    A column whose type holds its declared type's values exactly (`exact_type`) is read as is; any other
    is checked as its text, so `1.5` in a double column declared integer is seen.
    """
    try:
        present = dict(
            con.execute(
                "select column_name, column_type from (describe select * from read_parquet(?))", [str(path)]
            ).fetchall()
        )
        rows = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()
    except duckdb.Error as error:
        raise _unreadable_parquet(path, error) from error
    _check_columns(spec, list(present))
    if not rows or not rows[0]:
        raise _no_data_rows(path, spec)
    typed = frozenset(c.name for c in spec.columns if exact_type(str(present[c.name]), c.data_type))
    names = [sql.identifier(c.name) for c in spec.columns]
    columns = ", ".join(
        name if c.name in typed else f"cast({name} as varchar) as {name}"
        for c, name in zip(spec.columns, names, strict=True)
    )
    read = f"read_parquet({p(str(path))}, file_row_number = true)"
    relation = f"(select file_row_number + 1 as _line, {columns} from {read})"
    return Source(relation, typed=typed)


def _unreadable_parquet(path: Path, error: duckdb.Error) -> PipelineError:
    return PipelineError(
        f"{path.name} cannot be read as Parquet ({str(error).splitlines()[0]}); replace it with a valid file."
    )


READERS: dict[str, Callable[[duckdb.DuckDBPyConnection, TableSpec, Path, Path, _Params], Source]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
    ".jsonl": _read_jsonl,
}


def _check_columns(spec: TableSpec, present: list[str]) -> None:
    missing = [c.name for c in spec.columns if c.name not in present]
    if missing:
        raise PipelineError(
            f"{spec.raw_file} lacks the declared column(s) {', '.join(missing)}; "
            f"fix the file or the source declaration of {spec.source}.{spec.name}."
        )


class _Params:
    """Named parameters for one statement: every value in the SQL goes through here."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "$" + name

    def bound(self, statement: str) -> dict[str, object]:
        """The parameters `statement` names (DuckDB refuses unused ones)."""
        return {k: v for k, v in self.values.items() if re.search(rf"\${k}\b", statement)}

    def execute(self, con: duckdb.DuckDBPyConnection, statement: str) -> None:
        """Run `statement` with the parameters it names."""
        con.execute(statement, self.bound(statement))


def _type_parts(data_type: str) -> tuple[str, list[int]]:
    base, _, args = data_type.lower().partition("(")
    return " ".join(base.split()), [int(a) for a in args.rstrip(")").split(",") if a.strip()]


# Exact shapes of text a type holds without rounding (bound as parameters, never spliced).
_WHOLE = r"[+-]?[0-9]+([.][0-9]*)?"
_WHOLE_EXACT = r"[+-]?[0-9]+([.]0*)?"
_DECIMAL = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)"
_STARTS_WITH_DIGIT = "^[0-9]"
_SUB_MICROSECOND = "[.][0-9]{6}[0-9]*[1-9]"
# The common spelling of a naive timestamp: it needs neither the offset nor the nanosecond rules.
_PLAIN_TIMESTAMP = "[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?)?"


def _rules(column: Column, text: str, p: _Params) -> tuple[list[tuple[str, str]], str]:
    """(condition, reason) pairs that make a present value unloadable, first match wins; and its load expression.

    A rule with an empty reason is a fast path: a value meeting its condition is good (no other rule runs).

    `text` is the trimmed text of the value. Each rule is an exact test, not a cast that might round:
    DuckDB's casts round `2.4` to 2 and `1.005` to 1.01, cut a date's time of day and a timestamp's
    nanoseconds, and drop a timestamp's offset.
    """
    kind, args = _type_parts(column.data_type)
    declared = column.data_type
    invalid = f"is not a valid {declared}"
    value = f"cast({text} as {declared})"
    rules: list[tuple[str, str]]
    if kind in _TEXT:
        rules, value = [], sql.identifier(column.name)
    elif kind in _INTEGERS:
        rules = [
            (f"regexp_full_match({text}, {p(_WHOLE_EXACT)}) and try_cast({text} as {declared}) is not null", ""),
            (f"not regexp_full_match({text}, {p(_WHOLE)})", invalid),
            (f"not regexp_full_match({text}, {p(_WHOLE_EXACT)})", f"has a fraction; {declared} would round it"),
            (f"try_cast({text} as {declared}) is null", f"is out of range for {declared}"),
        ]
    elif kind in {"decimal", "numeric"}:
        scale = args[1] if len(args) > 1 else (0 if args else 3)
        exact = "[+-]?[0-9]*([.][0-9]{0," + str(scale) + "}0*)?"
        rules = [
            (f"not regexp_full_match({text}, {p(_DECIMAL)})", invalid),
            (
                f"not regexp_full_match({text}, {p(exact)})",
                f"has more than {scale} decimals; {declared} would round it",
            ),
            (f"try_cast({text} as {declared}) is null", f"is out of range for {declared}"),
        ]
    elif kind in _TIMESTAMPS | _TIMESTAMPTZ:
        utc = f"try_cast({text} as timestamptz)"
        plain = f"regexp_full_match({text}, {p(_PLAIN_TIMESTAMP)})"
        rules = [
            (f"{plain} and try_cast({text} as timestamp) is not null", ""),
            (f"not regexp_matches({text}, {p(_STARTS_WITH_DIGIT)}) or {utc} is null", invalid),
            (
                f"regexp_matches({text}, {p(_SUB_MICROSECOND)})",
                f"has more than 6 fractional second digits; {declared} would cut them",
            ),
        ]
        value = f"cast({text} as timestamptz)"
        if kind in _TIMESTAMPS:
            # A naive timestamp is UTC: an offset is applied, then dropped (the session time zone is UTC).
            rules.append((f"try_cast({utc} as timestamp) is null", f"is out of range for {declared} in UTC"))
            value = f"case when {plain} then cast({text} as timestamp) else cast({value} as timestamp) end"
    elif kind == "date":
        day = f"try_cast({text} as date)"
        rules = [
            (f"not regexp_matches({text}, {p(_STARTS_WITH_DIGIT)}) or {day} is null", invalid),
            (f"try_cast({text} as timestamptz) is null", f"is out of range for {declared}"),
            (
                f"try_cast({text} as timestamptz) != cast({day} as timestamptz)",
                f"has a time of day; {declared} would drop it",
            ),
        ]
    elif kind in _FLOATS:
        # Exact as written when the float's shortest spelling (DuckDB's cast to text) has the same significant
        # digits as the text: `0.30000000000000004` and `1.50` are, `0.1234567890123456789` is not.
        def significant(expression: str) -> str:
            mantissa = f"regexp_replace(regexp_replace({expression}, {p('[eE].*$')}, ''), {p('[^0-9]')}, '', 'g')"
            return f"rtrim(ltrim({mantissa}, '0'), '0')"

        rules = [
            (f"try_cast({text} as {declared}) is null", invalid),
            (
                f"{significant(text)} != {significant(f'cast(cast({text} as {declared}) as varchar)')}",
                f"has more precision than {declared} holds and would be rounded "
                "(declare a decimal(p,s) to keep every digit)",
            ),
        ]
    elif kind == "boolean":
        rules = [(f"try_cast({text} as {declared}) is null", invalid)]
    else:
        # Any other type: the value must survive the cast and come back as the same text.
        rules = [
            (f"try_cast({text} as {declared}) is null", invalid),
            (f"cast(try_cast({text} as {declared}) as varchar) != {text}", f"would change when cast to {declared}"),
        ]
    return rules, value


def _column_sql(
    column: Column, nulls: str, p: _Params, *, typed: bool = False, shown: Callable[[str], str] = lambda value: value
) -> tuple[str, str]:
    """(reason expression or null, load expression) of one column of a reader's relation (`Source`).

    A text column goes through the text rules (`_rules`); a `typed` one (`exact_type`) can only be
    missing (SQL null): its value loads as is, cast to the declared type, which keeps it exactly.
    A reason quotes the offending value as `shown` makes it (the pii scrub: `Masker.scrubbed`).
    """
    ref = sql.identifier(column.name)
    if typed:
        reason = f"case when {ref} is null then {p(column.name + ' is missing')} end" if column.required else "null"
        return reason, f"cast({ref} as {column.data_type})"
    text = f"trim({ref})"
    missing = f"{ref} is null or {text} = '' or list_contains({nulls}, {text})"
    rules, value = _rules(column, text, p)
    quote = "'"
    whens = [f"when {missing} then {p(column.name + ' is missing') if column.required else 'null'}"]
    whens += [
        f"when {condition} then "
        + (f"{p(column.name + ' ' + quote)} || {shown(ref)} || {p(quote + ' ' + reason)}" if reason else "null")
        for condition, reason in rules
    ]
    return f"case {' '.join(whens)} end", f"case when {missing} then null else {value} end"


def _load_table(
    loader: warehouses.RawLoader,
    spec: TableSpec,
    path: Path,
    loaded_at: datetime,
    record: warehouses.IngestRecord,
    *,
    scratch: Path,
    masker: pii.Masker,
) -> TableResult:
    """Check one raw file in the local engine and have the warehouse write its table and quarantine rows.

    The reader's relation is read once, into the engine's temp table `_checked` (`_line`, the declared columns
    as read, `_reason`: null for a good row); the table's rows and the quarantine rows are both selected from
    it and handed to `loader.load_raw`, which returns the counts written.
    """
    con = loader.engine
    # Outside prod, pii columns are masked in the very queries that write (never updated afterwards:
    # a clear value once written could stay in the file's free blocks).
    pii_columns = [c.name for c in spec.columns if c.pii]
    p = _Params()
    source = READERS[path.suffix](con, spec, path, scratch / f"{spec.name}.csv", p)
    nulls = p(list(spec.null_values))
    # A reason quotes the offending value, which may be a pii value (its own, or one shifted into another
    # field): it is scrubbed where it is quoted, so the reason's own words stay readable.
    columns = [
        _column_sql(c, nulls, p, typed=c.name in source.typed, shown=lambda v: masker.scrubbed(v, pii_columns))
        for c in spec.columns
    ]
    names = [sql.identifier(c.name) for c in spec.columns]
    reasons = ", ".join(reason for reason, _ in columns)
    try:
        p.execute(
            con,
            f"create or replace temp table _checked as select _line, {', '.join(names)}, "
            f"nullif(concat_ws('; ', {reasons}), '') as _reason from {source.relation}",
        )
    except duckdb.Error as error:
        if path.suffix == ".parquet":  # a page that does not decode shows only when the rows are read
            raise _unreadable_parquet(path, error) from error
        raise
    casts = ", ".join(f"{value} as {name}" for (_, value), name in zip(columns, names, strict=True))
    valid = f"(select {casts}, cast({p(loaded_at)} as timestamp) as _loaded_at from _checked where _reason is null)"
    rows = f"select * from {masker.select(valid, pii_columns)}"
    # A bad row's other text fields may hold a pii value too (shifted fields): scrub them. Its reason was
    # scrubbed where it quotes a value (`shown`).
    texts = con.execute("select column_name from (describe _checked) where column_type = 'VARCHAR'").fetchall()
    scrub = [name for (name,) in texts if name not in pii_columns and name != "_reason"]
    # The record holds the row's fields as text, typed columns included (`{"order_id": "7", ...}`).
    text_record = "to_json(struct_pack(" + ", ".join(f"{n} := cast({n} as varchar)" for n in names) + "))"
    quarantine = warehouses.LocalRows(
        f"select ?, ?, ?, _line, _reason, cast({text_record} as varchar), ? "
        f"from {masker.select('_checked', pii_columns, scrub)} where _reason is not null",
        [record.run_id, spec.name, spec.raw_file, loaded_at],
    )
    unreadable = [
        [record.run_id, spec.name, spec.raw_file, line, reason, masker.line(text, bool(pii_columns)), loaded_at]
        for line, reason, text in source.unreadable
    ]
    loaded, quarantined = loader.load_raw(record, warehouses.LocalRows(rows, p.bound(rows)), quarantine, unreadable)
    withheld = masker.key is None and bool(pii_columns)
    shown = () if withheld else _reasons(con, source.unreadable)
    con.execute("drop table _checked")
    return TableResult(spec.name, spec.raw_file, loaded, quarantined, spec.schema, reasons=shown, withheld=withheld)


def _reasons(con: duckdb.DuckDBPyConnection, unreadable: Unreadable) -> tuple[Reason, ...]:
    """The REASONS_SHOWN reasons with the most rows in `_checked` and the unreadable records, ties by first row."""
    counted = {
        reason: (rows, first)
        for reason, rows, first in con.execute(
            "select _reason, count(*), min(_line) from _checked where _reason is not null group by _reason"
        ).fetchall()
    }
    for line, reason, _ in unreadable:
        rows, first = counted.get(reason, (0, line))
        counted[reason] = (rows + 1, min(first, line))
    ranked = sorted(counted.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))
    return tuple(Reason(reason, rows, first) for reason, (rows, first) in ranked[:REASONS_SHOWN])


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:  # hashlib.file_digest needs Python 3.11; the package supports 3.10
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_digest(spec: TableSpec, pii_key: bytes | None) -> str:
    """sha256 (hex) of everything besides the file's bytes that decides what a raw file loads as.

    The table's spec (source, schema, name, identifier, raw file, each column's name, type, required
    and pii flags, the null values), a fingerprint of the masking key (an HMAC under the key: the key
    itself is never stored, and prod's None gives its own digest), and the code of this module and
    of pii.py (a new rule or a new mask reloads every file).
    """
    fingerprint = "clear" if pii_key is None else pii.digest("ingest state: masking key fingerprint", pii_key)
    code = hashlib.sha256()
    for module in (Path(__file__), Path(pii.__file__)):
        code.update(module.read_bytes())
    described = {
        "source": spec.source,
        "schema": spec.schema,
        "name": spec.name,
        "table": spec.table,
        "raw_file": spec.raw_file,
        "columns": [[c.name, c.data_type, c.required, c.pii] for c in spec.columns],
        "null_values": list(spec.null_values),
        "key": fingerprint,
        "code": code.hexdigest(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()


def _raw_path(raw_dir: Path, spec: TableSpec) -> Path:
    """The raw file of a table; refused when it (or a symlink on its way) leads outside the raw folder."""
    path = raw_dir / spec.raw_file
    real, folder = path.resolve(), raw_dir.resolve()
    if not real.is_relative_to(folder):
        raise PipelineError(
            f"raw file {spec.raw_file} resolves to {real}, outside the raw folder {folder}; "
            "copy the file into the raw folder instead of linking to it."
        )
    return path


def ingest(
    warehouse: warehouses.LoadTarget,
    specs: list[TableSpec],
    raw_dir: Path,
    run_id: str,
    progress: Callable[[str], None] = print,
    *,
    pii_key: bytes | None = pii.DEV_KEY.encode(),
    reload: bool = False,
) -> IngestResult:
    """Load every declared raw file into the warehouse's audit location, quarantining bad rows, all or nothing.

    Writes `<schema>.<table>` (the declared columns, typed, plus `_loaded_at`, UTC) and
    `<schema>._quarantine` (run_id, source_table, raw_file, row_number: the line as described in the
    module docstring, reason, record: the row as JSON of its text fields or the original line,
    quarantined_at, UTC). Raises PipelineError, with nothing written, for a missing file, a file
    outside `raw_dir`, a file without data rows, a file that lacks a declared column or cannot be read.
    `pii_key` masks the `pii` columns (raw tables and quarantine, see pii.py); None stores them clear (prod).
    Every file is checked in the local DuckDB engine (`RawLoader.engine`); the warehouse only loads.

    A raw file this warehouse last loaded byte for byte (sha256) under the same spec and masking key
    (`spec_digest`), whose table and quarantine rows still hold that load's counts, is not loaded
    again: its table keeps its rows (only `_loaded_at` moves to this run, so source freshness measures
    the last ingest, as when it is reloaded), its quarantine rows keep their run_id, and its TableResult
    says `reused_from` that run. `reload` loads every file regardless. Each load is recorded in
    `<schema>._ingest_state` (source_table, raw_file, relation, sha256, spec_digest, loaded_rows,
    quarantined_rows, run_id, loaded_at UTC) in the same transaction, so a rolled-back ingest records nothing.
    Each TableResult carries the quarantine's most frequent `reasons` (REASONS_SHOWN; a reused load's are read
    back from the quarantine), none for a table with pii columns in prod (`withheld`).
    """
    masker = pii.Masker(pii_key)
    paths = [_raw_path(raw_dir, spec) for spec in specs]
    missing = [spec.raw_file for spec, path in zip(specs, paths, strict=True) if not path.is_file()]
    if missing:
        raise PipelineError(
            f"raw file(s) {', '.join(missing)} not found in {raw_dir}; "
            "copy them there, or point RAW_DATA_DIR (or --raw-dir) at the folder that holds them."
        )
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    results = []
    spec = None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ingest-") as scratch,
            warehouse.raw_loader([spec.schema for spec in specs], memory_limit=MEMORY_LIMIT) as loader,
        ):
            masker.register(loader.engine)
            for spec, path in zip(specs, paths, strict=True):
                record = warehouses.IngestRecord(
                    schema=spec.schema, relation=spec.table, source_table=spec.name, raw_file=spec.raw_file,
                    sha256=file_digest(path), spec_digest=spec_digest(spec, pii_key), run_id=run_id,
                )  # fmt: skip
                kept = None if reload else loader.reusable(record)
                if kept is None:
                    result = _load_table(loader, spec, path, loaded_at, record, scratch=Path(scratch), masker=masker)
                    done = f"{result.loaded_rows:>9,} rows  {result.quarantined_rows:>6,} quarantined"
                else:
                    loader.touch(spec.schema, spec.table, loaded_at)
                    result = TableResult(
                        spec.name, spec.raw_file, kept.loaded_rows, kept.quarantined_rows, spec.schema,
                        reused_from=kept.run_id,
                    )  # fmt: skip
                    done = (
                        f"{result.loaded_rows:>9,} rows  {result.quarantined_rows:>6,} quarantined  "
                        f"reused (unchanged since run {result.reused_from})"
                    )
                progress(f"  {spec.raw_file:<24} -> {spec.schema}.{spec.table:<14} {done}")
                results.append(result)
    except warehouses.InUse:
        raise
    except (duckdb.Error, warehouses.WarehouseError) as error:
        where = f" loading {spec.raw_file}" if spec else ""
        raise PipelineError(f"ingest failed{where}, nothing was loaded: {error}") from error
    return IngestResult(tuple(_kept_reasons(warehouse, specs, results, masker)))


def _kept_reasons(
    warehouse: warehouses.LoadTarget, specs: list[TableSpec], results: list[TableResult], masker: pii.Masker
) -> Iterator[TableResult]:
    """`results`, each reused load with its quarantine reasons read back from the quarantine its run wrote.

    The same REASONS_SHOWN, in the same order as `_reasons`; withheld for a table with pii columns in prod.
    """
    reused = [
        (spec, result)
        for spec, result in zip(specs, results, strict=True)
        if result.reused_from and result.quarantined_rows
    ]
    if not reused:
        yield from results
        return
    kept = {}
    with warehouse.session(warehouses.AUDIT) as session:
        for spec, result in reused:
            if masker.key is None and any(c.pii for c in spec.columns):
                kept[spec.name, spec.schema] = replace(result, withheld=True)
                continue
            rows = session.query(
                f"select reason, count(*), min(row_number) from {session.relation(spec.schema, QUARANTINE)} "
                "where source_table = ? group by reason order by 2 desc, 3, 1",
                [spec.name],
            )
            reasons = tuple(Reason(str(r), int(n), int(first)) for r, n, first in rows[:REASONS_SHOWN])
            kept[spec.name, spec.schema] = replace(result, reasons=reasons)
    yield from (kept.get((result.table, result.schema), result) for result in results)


def quarantined(session: warehouses.Session, schema: str = "raw") -> Iterator[tuple[str, str, int]]:
    """(table, reason, rows) of what the last ingest quarantined, largest first; `session` on the audit location."""
    yield from session.query(
        f"select source_table, reason, count(*) from {session.relation(schema, QUARANTINE)} "
        "group by source_table, reason order by 3 desc, 1, 2"
    )
