"""In-process unit tests of ingest.py: each helper and message compared whole, so a changed word or limit fails.

The manifests here are hand-built in the shape dbt writes (manifest.json's `sources` and `nodes`), so one field at a
time can be present, absent or disabled; the loads run on tiny files in tmp_path.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from {{ cookiecutter.package_name }} import ingest, pii
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.ingest import Column, TableResult, TableSpec
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

SOURCES_FILE = "models/staging/crm/_crm__sources.yml"


def _column(name: str, data_type: str = "integer", **extra: Any) -> dict[str, Any]:
    return {"name": name, "data_type": data_type, "meta": {}, "config": {"meta": {}}, **extra}


def _source(
    name: str, columns: list[dict[str, Any]], *, config: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A source table node as manifest.json holds it."""
    node: dict[str, Any] = {
        "unique_id": f"source.p.crm.{name}",
        "resource_type": "source",
        "source_name": "crm",
        "schema": "raw",
        "name": name,
        "identifier": name,
        "original_file_path": SOURCES_FILE,
        "path": SOURCES_FILE,
        "meta": {},
        "config": {"enabled": True, "meta": {"raw_file": f"{name}.csv"}} if config is None else config,
        "columns": {c["name"]: c for c in columns},
    }
    node.update(extra)
    return node


def _test(name: str, column: str | None, parent: str, **extra: Any) -> dict[str, Any]:
    """A generic test node on a column (or on the whole table when `column` is None)."""
    node: dict[str, Any] = {
        "resource_type": "test",
        "test_metadata": {"name": name, "kwargs": {}},
        "column_name": column,
        "config": {"enabled": True},
        "depends_on": {"nodes": [parent]},
    }
    node.update(extra)
    return node


def _manifest(*sources: dict[str, Any], nodes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"sources": {s["unique_id"]: s for s in sources}, "nodes": nodes or {}}


def _refused(manifest: dict[str, Any]) -> str:
    with pytest.raises(PipelineError) as refused:
        ingest.load_specs(manifest)
    return str(refused.value)


# --- the declaration: dbt's manifest -> TableSpec ---------------------------------------------------------------


def test_meta_merges_the_nodes_meta_with_its_config_meta_and_config_wins() -> None:
    node = {"meta": {"raw_file": "old.csv", "owner": "ann"}, "config": {"meta": {"raw_file": "new.csv", "pii": True}}}
    assert ingest._meta(node) == {"raw_file": "new.csv", "owner": "ann", "pii": True}
    assert ingest._meta({"meta": {"raw_file": "a.csv"}}) == {"raw_file": "a.csv"}
    assert ingest._meta({"config": {"meta": {"raw_file": "b.csv"}}}) == {"raw_file": "b.csv"}
    assert ingest._meta({"meta": None, "config": None}) == {}


def test_column_tests_collects_the_enabled_generic_tests_of_each_column() -> None:
    parent = "source.p.crm.accounts"
    nodes = {
        "model.p.stg_accounts": {"resource_type": "model", "column_name": None, "depends_on": {"nodes": [parent]}},
        "test.p.off": _test("unique", "id", parent, config={"enabled": False}),
        "test.p.singular": {"resource_type": "test", "column_name": None, "depends_on": {"nodes": [parent]}},
        "test.p.whole_table": _test("dbt_utils.expression_is_true", None, parent),
        "test.p.not_null_id": _test("not_null", "id", parent),
        "test.p.accepted_kind": _test("accepted_values", "kind", parent, config={}),  # enabled by default
        "test.p.relationships_id": _test("relationships", "id", parent, config=None),
        "test.p.two_parents": _test("not_null", "owner_id", parent, depends_on={"nodes": [parent, "source.p.x.y"]}),
    }
    assert ingest._column_tests({"nodes": nodes}) == {
        (parent, "id"): {"not_null", "relationships"},
        (parent, "kind"): {"accepted_values"},
        (parent, "owner_id"): {"not_null"},
        ("source.p.x.y", "owner_id"): {"not_null"},
    }
    assert ingest._column_tests({}) == {}


def test_load_specs_reads_each_enabled_table_with_a_raw_file_in_dbt_order() -> None:
    accounts = _source(
        "accounts",
        [_column("id"), _column("email", "varchar", config={"meta": {"pii": True}}), _column("note", "TEXT")],
        identifier="accounts_v2",
        config={"meta": {"raw_file": "accounts.csv", "null_values": ["-"]}},  # no `enabled`: dbt's default is on
    )
    events = _source("events", [_column("event_id", " bigint ")], schema="landing", identifier=None)
    events["config"]["meta"]["raw_file"] = "events.jsonl"
    skipped = [
        _source("no_file", [_column("x")], config={"enabled": True, "meta": {}}),
        _source("retired", [_column("x")], config={"enabled": False, "meta": {"raw_file": "retired.csv"}}),
    ]
    nodes = {"test.p.nn": _test("not_null", "id", accounts["unique_id"])}
    specs = ingest.load_specs(_manifest(*skipped, accounts, events, nodes=nodes))
    assert specs == [
        TableSpec(
            source="crm",
            schema="raw",
            name="accounts",
            raw_file="accounts.csv",
            columns=(
                Column("id", "integer", required=True),
                Column("email", "varchar", required=False, pii=True),
                Column("note", "TEXT", required=False, pii=False),
            ),
            null_values=("-",),
            identifier="accounts_v2",
        ),
        TableSpec(
            source="crm",
            schema="landing",
            name="events",
            raw_file="events.jsonl",
            columns=(Column("event_id", "bigint", required=False),),
            null_values=ingest.NULL_VALUES,
            identifier="events",
        ),
    ]
    assert [spec.table for spec in specs] == ["accounts_v2", "events"]


def test_a_pii_column_may_be_declared_text_in_any_case() -> None:
    table = _source(
        "people", [_column("name", "Text", meta={"pii": True}), _column("mail", "varchar", meta={"pii": 1})]
    )
    [spec] = ingest.load_specs(_manifest(table))
    assert [(c.name, c.pii) for c in spec.columns] == [("name", True), ("mail", True)]


def test_refusals_name_the_sources_file_and_the_fix() -> None:
    untyped = _source("accounts", [_column("id"), _column("a", ""), _column("b", "  ")])
    assert _refused(_manifest(untyped)) == (
        f"{SOURCES_FILE}: source table accounts needs a data_type on every column (missing on: a, b)."
    )
    assert _refused(_manifest(_source("accounts", []))) == (
        f"{SOURCES_FILE}: source table accounts needs a data_type on every column "
        "(missing on: all, no columns declared)."
    )
    assert _refused(_manifest(_source("accounts", [_column("id", "int; drop table x")]))) == (
        f"{SOURCES_FILE}: data_type 'int; drop table x' of accounts.id is not a plain SQL type; "
        "write a type name such as integer, varchar or numeric(12,2)."
    )
    typed_pii = _source(
        "accounts", [_column("born", "date", meta={"pii": True}), _column("ssn", "bigint", meta={"pii": True})]
    )
    assert _refused(_manifest(typed_pii)) == (
        f"{SOURCES_FILE}: pii column(s) born, ssn of accounts must be declared data_type: varchar, "
        "because outside prod they hold a masked digest, not the value."
    )
    xlsx = _source("accounts", [_column("id")], config={"meta": {"raw_file": "accounts.xlsx"}})
    assert _refused(_manifest(xlsx)) == (
        f"{SOURCES_FILE}: raw_file 'accounts.xlsx' of accounts must end in one of .csv, .parquet, .jsonl."
    )


@pytest.mark.parametrize("null_values", ["NA", ["NA", None], {"NA": 1}])
def test_null_values_that_are_not_a_list_of_strings_are_refused(null_values: object) -> None:
    table = _source("accounts", [_column("id")], config={"meta": {"raw_file": "a.csv", "null_values": null_values}})
    assert _refused(_manifest(table)) == (
        f"{SOURCES_FILE}: meta.null_values of accounts must be a list of strings, "
        "e.g. [NULL, 'N/A'] (quote values YAML would read otherwise, like null or no)."
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"original_file_path": "models/a.yml", "path": "a.yml"}, "models/a.yml"),
        ({"original_file_path": None, "path": "a.yml"}, "a.yml"),
        ({"original_file_path": "", "path": None}, "the sources YAML"),
    ],
)
def test_a_refusal_names_the_file_dbt_read_the_table_from(fields: dict[str, Any], named: str) -> None:
    table = _source("accounts", [_column("id", "")], **fields)
    assert _refused(_manifest(table)) == (
        f"{named}: source table accounts needs a data_type on every column (missing on: id)."
    )


@pytest.mark.parametrize(
    ("data_type", "parts"),
    [
        ("integer", ("integer", [])),
        ("Timestamp  With   Time Zone", ("timestamp with time zone", [])),
        ("double precision", ("double precision", [])),
        ("NUMERIC( 12 , 2 )", ("numeric", [12, 2])),
        ("decimal(5)", ("decimal", [5])),
    ],
)
def test_type_parts_is_the_lowercase_name_with_single_spaces_and_its_arguments(
    data_type: str, parts: tuple[str, list[int]]
) -> None:
    assert ingest._type_parts(data_type) == parts


# --- splitting raw files into records ---------------------------------------------------------------------------


def _spec(*columns: Column, raw_file: str = "t.csv", name: str = "t") -> TableSpec:
    return TableSpec(source="feed", schema="raw", name=name, raw_file=raw_file, columns=columns)


def test_staging_writes_a_strict_csv_of_line_and_text_fields(tmp_path: Path) -> None:
    spec = _spec(Column("a", "varchar", False), Column("b", "varchar", False))
    path = tmp_path / "stage.csv"
    with ingest._Staging(path, spec) as stage:
        assert stage.add(2, ['say "hi"', None]) is None
        assert stage.add(5, ["two\r\nlines", ""]) is None
        assert stage.add(6, ["caf\u00e9", "x"]) is None
        assert stage.rows == 3
    assert path.read_bytes() == (b'_line,c0,c1\n2,"say ""hi""",\n5,"two\r\nlines",""\n6,"caf\xc3\xa9","x"\n')


def test_staging_refuses_text_it_cannot_store_and_counts_only_what_it_wrote(tmp_path: Path) -> None:
    spec = _spec(Column("a", "varchar", False), Column("b", "varchar", False))
    with ingest._Staging(tmp_path / "stage.csv", spec) as stage:
        assert stage.add(2, ["a\x00b", "x"]) == "holds a NUL character"
        assert stage.add(3, ["d\udcffr", None]) == "is not valid UTF-8 text"
        assert stage.add(4, [None, "\ud800"]) == "is not valid UTF-8 text"
        assert stage.rows == 0
        assert stage.add(5, ["ok", None]) is None
        assert stage.rows == 1
    assert (tmp_path / "stage.csv").read_text(encoding="utf-8") == '_line,c0,c1\n5,"ok",\n'


def test_text_shows_undecodable_bytes_and_drops_only_the_line_end() -> None:
    assert ingest._text("3,d\udcffr\udcfe, X\r\n") == r"3,d\xffr\xfe, X"
    assert ingest._text("tabs\t and spaces  \n") == "tabs\t and spaces  "
    assert ingest._text("ends in XX") == "ends in XX"


def _records(data: bytes) -> list[tuple[int, list[str] | None, str, str]]:
    return list(ingest._csv_records(io.BytesIO(data)))


def test_csv_records_are_numbered_by_first_line_and_keep_their_text() -> None:
    data = b'\xef\xbb\xbfid,name\n1,"two\nlines"\n\n   \n2,"x"y\n3,bea\n\xef\xbb\xbf4,bom\n5\n'
    assert _records(data) == [
        (1, ["id", "name"], "", "id,name\n"),
        (2, ["1", "two\nlines"], "", '1,"two\nlines"\n'),
        (6, None, "',' expected after '\"'", '2,"x"y\n'),
        (7, ["3", "bea"], "", "3,bea\n"),
        (8, ["\ufeff4", "bom"], "", "\ufeff4,bom\n"),  # only the file's first byte order mark is dropped
        (9, None, "expected 2 fields, found 1", "5\n"),
    ]


def test_an_unclosed_quote_costs_its_own_line_only() -> None:
    assert _records(b'id,name\n1,"stray\n2,b\n') == [
        (1, ["id", "name"], "", "id,name\n"),
        (2, None, "unexpected end of data", '1,"stray\n'),
        (3, ["2", "b"], "", "2,b\n"),
    ]


def test_surrogates_mark_the_bytes_0x80_to_0xff_that_are_not_utf8() -> None:
    assert ingest._has_surrogates(["ok", "\udc80"])
    assert ingest._has_surrogates(["\udcff"])
    assert not ingest._has_surrogates(["\udc7f", "\udd00", "\u00ff", ""])


def _load(tmp_path: Path, spec: TableSpec, content: bytes, **kwargs: Any) -> tuple[ingest.IngestResult, Path]:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / spec.raw_file).write_bytes(content)
    db = tmp_path / "w.duckdb"
    return ingest.ingest(File(db), [spec], raw, "run-1", progress=lambda _: None, **kwargs), db


def _counts(result: ingest.IngestResult, db: Path) -> tuple[TableResult, ...]:
    """The tables without their reasons, once each table's reasons are checked against its quarantine.

    Per reason, its rows and first row number, most rows first, the first REASONS_SHOWN (what reports list).
    """
    with duckdb.connect(str(db), read_only=True) as con:
        for table in result.tables:
            grouped = con.execute(
                f"select reason, count(*), min(row_number) from {table.quarantine} where source_table = ? "
                "group by reason order by 2 desc, 3, 1",
                [table.table],
            ).fetchall()
            assert [(r.reason, r.rows, r.first_row_number) for r in table.reasons] == grouped[: ingest.REASONS_SHOWN]
    return tuple(replace(table, reasons=()) for table in result.tables)


def _quarantine(db: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select row_number, reason, record from raw._quarantine order by 1").fetchall()


def test_csv_lines_that_cannot_be_staged_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    spec = _spec(Column("id", "integer", True), Column("name", "varchar", False))
    content = b'id,name\n1,"say ""hi"""\n2,a\x80\n3,b\xff\n4,c\x00\n5,"x"y  \n'
    result, db = _load(tmp_path, spec, content)
    assert _counts(result, db) == (TableResult("t", "t.csv", 1, 4, "raw"),)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select id, name from raw.t").fetchall() == [(1, 'say "hi"')]
    assert _quarantine(db) == [
        (3, "unreadable CSV line (not UTF-8 text)", r"2,a\x80"),
        (4, "unreadable CSV line (not UTF-8 text)", r"3,b\xff"),
        (5, "unreadable CSV line (holds a NUL character)", "4,c\x00"),
        (6, "unreadable CSV line (',' expected after '\"')", '5,"x"y  '),
    ]


def test_a_csv_whose_header_cannot_be_read_has_no_data_rows(tmp_path: Path) -> None:
    spec = _spec(Column("id", "integer", True))
    with pytest.raises(PipelineError) as refused:
        _load(tmp_path, spec, b'id,"name\n')
    assert str(refused.value) == "t.csv has no data rows; export it again, or remove the meta.raw_file of feed.t."


def test_a_file_lacking_several_columns_names_them_all(tmp_path: Path) -> None:
    spec = _spec(Column("id", "integer", True), Column("a", "varchar", False), Column("b", "varchar", False))
    with pytest.raises(PipelineError) as refused:
        _load(tmp_path, spec, b"id,c\n1,2\n")
    assert str(refused.value) == (
        "t.csv lacks the declared column(s) a, b; fix the file or the source declaration of feed.t."
    )


# --- JSON lines -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("x", "x"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12345678901234567890, "12345678901234567890"),
        ("1.50", "1.50"),  # floats arrive as their text (parse_float=str)
        ([1, {"a": None}], '[1, {"a": null}]'),
        ({"b": [True]}, '{"b": [true]}'),
    ],
)
def test_json_text_is_the_text_a_csv_would_hold(value: object, text: str | None) -> None:
    assert ingest._json_text(value) == text


@pytest.mark.parametrize(
    "text",
    [
        '[1.50, 2e3, -0.0, 7, "1.5", true, null]',
        '{"x": {"y": 0.1000000000000000001, "s": "caf\\u00e9"}, "z": []}',
    ],
)
def test_an_array_or_object_keeps_the_spelling_of_its_numbers(text: str) -> None:
    """Before: a fraction inside an array or object was loaded as a JSON string ("1.50"), changed silently."""
    assert ingest._json_text(ingest._JSON.decode(text)) == text


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[1]", "an array"),
        ("null", "null"),
        ("true", "a boolean"),
        ("false", "a boolean"),
        ('  "text"', "a string"),
        ("42", "a number"),
        ("-1.5", "a number"),
    ],
)
def test_json_kind_names_what_a_line_holds_instead_of_an_object(line: str, kind: str) -> None:
    assert ingest._json_kind(ingest._JSON.decode(line), line) == kind


@pytest.mark.parametrize(
    "line",
    ['{"a": 1}\n', ' \t{"a": [1.50]} \r\n', '{"a": 1} x\n', "", "\n", '\x0c{"a": 1}', '{"a": 1}\x0c', "[1, 2]", '"s"'],
)
def test_a_json_line_is_read_as_the_decoder_reads_it(line: str) -> None:
    try:
        expected: object = ingest._JSON.decode(line)
    except ValueError:
        with pytest.raises(ValueError):  # the decoder's own error types vary
            ingest._json_line(line)
    else:
        assert ingest._json_line(line) == expected


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_the_json_decoder_refuses_the_non_json_constants(constant: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(constant)} is not JSON$"):
        ingest._JSON.decode('{"a": ' + constant + "}")


def test_jsonl_lines_are_quarantined_with_what_is_wrong(tmp_path: Path) -> None:
    spec = _spec(Column("id", "integer", True), Column("tag", "varchar", False), raw_file="t.jsonl")
    content = (
        b'{"id": 1, "tag": true}\n'
        b'{"id": 2, "tag": "a\xffb"}\n'
        b'{"id": 3, "tag": "\\ud800"}\n'
        b"null\n"
        b" false\n"
        b'{"id": 4, "tag": NaN}\n'
        b'{"id": 5, "tag": [1.50, false]}\n'
    )
    result, db = _load(tmp_path, spec, content)
    assert _counts(result, db) == (TableResult("t", "t.jsonl", 2, 5, "raw"),)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select id, tag from raw.t order by 1").fetchall() == [(1, "true"), (5, "[1.50, false]")]
    assert _quarantine(db) == [
        (2, "unreadable JSON line (is not valid UTF-8 text)", r'{"id": 2, "tag": "a\xffb"}'),
        (3, "unreadable JSON line (is not valid UTF-8 text)", r'{"id": 3, "tag": "\ud800"}'),
        (4, "JSON line is null, not an object", "null"),
        (5, "JSON line is a boolean, not an object", " false"),
        (6, "malformed JSON", '{"id": 4, "tag": NaN}'),
    ]


# --- Parquet ----------------------------------------------------------------------------------------------------


def test_an_empty_parquet_file_has_no_data_rows(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with duckdb.connect() as con:
        con.execute("copy (select 1 as id where false) to '" + str(tmp_path / "raw" / "t.parquet") + "'")
    spec = _spec(Column("id", "integer", True), raw_file="t.parquet")
    with pytest.raises(PipelineError) as refused:
        ingest.ingest(File(tmp_path / "w.duckdb"), [spec], tmp_path / "raw", "run-1", progress=lambda _: None)
    assert str(refused.value) == "t.parquet has no data rows; export it again, or remove the meta.raw_file of feed.t."


def test_an_unreadable_parquet_file_is_named_with_duckdbs_reason(tmp_path: Path) -> None:
    spec = _spec(Column("id", "integer", True), raw_file="t.parquet")
    path = tmp_path / "raw" / "t.parquet"
    with pytest.raises(PipelineError) as refused:
        _load(tmp_path, spec, b"PAR1" + b"\x00" * 40 + b"PAR1")
    # DuckDB's first line names the file; its wording is DuckDB's own.
    named = re.escape(str(path))
    pattern = rf"t\.parquet cannot be read as Parquet \([^\n]*'{named}'[^\n]*\); replace it with a valid file\."
    assert re.fullmatch(pattern, str(refused.value))


# --- typing the values ------------------------------------------------------------------------------------------

TYPED = (
    Column("dec", "decimal(10,2)", False),
    Column("n5", "numeric(5)", False),
    Column("n", "numeric", False),
    Column("x", "double", False),
    Column("u", "uuid", False),
    Column("t", "time", False),
    Column("d", "date", False),
)
TYPED_GOOD = ["1.5", "12", "1.5", "1.50", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "10:00:00", "2024-08-17"]
# (column, value, reason): each row is the good row with one value changed.
TYPED_BAD = [
    ("dec", "1.005", "dec '1.005' has more than 2 decimals; decimal(10,2) would round it"),
    ("n5", "1.5", "n5 '1.5' has more than 0 decimals; numeric(5) would round it"),
    ("n", "1.0005", "n '1.0005' has more than 3 decimals; numeric would round it"),
    ("x", "many", "x 'many' is not a valid double"),
    (
        "x",
        "0.1234567890123456789",
        "x '0.1234567890123456789' has more precision than double holds and would be rounded "
        "(declare a decimal(p,s) to keep every digit)",
    ),
    (
        "x",
        "12345678901234567.89",
        "x '12345678901234567.89' has more precision than double holds and would be rounded "
        "(declare a decimal(p,s) to keep every digit)",
    ),
    (
        "u",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "u 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' would change when cast to uuid",
    ),
    ("u", "nope", "u 'nope' is not a valid uuid"),
    ("t", "10:00", "t '10:00' would change when cast to time"),
    ("d", "infinity", "d 'infinity' is not a valid date"),
]


def test_each_kind_of_type_loads_exact_values_and_quarantines_the_rest(tmp_path: Path) -> None:
    names = [c.name for c in TYPED]
    rows = [TYPED_GOOD] + [[value if c == column else good for c, good in zip(names, TYPED_GOOD, strict=True)]
                           for column, value, _ in TYPED_BAD]  # fmt: skip
    content = "\n".join([",".join(names), *(",".join(row) for row in rows)]) + "\n"
    result, db = _load(tmp_path, _spec(*TYPED), content.encode())
    assert (result.loaded_rows, result.quarantined_rows) == (1, len(TYPED_BAD))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select * exclude (_loaded_at) from raw.t").fetchall() == [
            (
                Decimal("1.50"),
                Decimal("12"),
                Decimal("1.500"),
                1.5,
                uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                dt.time(10),
                dt.date(2024, 8, 17),
            )
        ]
    assert [(line, reason) for line, reason, _ in _quarantine(db)] == [
        (line, reason) for line, (_, _, reason) in enumerate(TYPED_BAD, start=3)
    ]


def test_floats_keep_every_value_their_bits_can_hold_and_quarantine_the_rest(tmp_path: Path) -> None:
    """A value loads when the float spells back with the same digits; zeros around and exponents don't count."""
    spec = _spec(Column("x", "double", False), Column("r", "real", False))
    content = (
        "x,r\n0.30000000000000004,0.12345679\n-000123.4500e5,1.5e-30\n1e-300,12345679000000\n"
        "0.12345678901234567,1\n1,12345678900000\n"
    )
    result, db = _load(tmp_path, spec, content.encode())
    assert (result.loaded_rows, result.quarantined_rows) == (3, 2)
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = con.execute("select x, r from raw.t order by x").fetchall()
    assert [x for x, _ in loaded] == [-12345000.0, 1e-300, 0.30000000000000004]
    assert [(line, reason) for line, reason, _ in _quarantine(db)] == [
        (5, "x '0.12345678901234567' has more precision than double holds and would be rounded "
         "(declare a decimal(p,s) to keep every digit)"),
        (6, "r '12345678900000' has more precision than real holds and would be rounded "
         "(declare a decimal(p,s) to keep every digit)"),
    ]  # fmt: skip


# --- the load: tables, quarantine, transaction ------------------------------------------------------------------


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """The process's local time zone is UTC+14 for the test (the machine's clock zone must not matter)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Pacific/Kiritimati")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_a_load_stamps_every_row_with_one_utc_time_and_reports_each_table(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "accounts.csv").write_bytes(b"id,name\n1,ada\nx,bea\n2,cy\n")
    (raw / "events.jsonl").write_bytes(b'{"id": 7}\n')
    specs = [
        _spec(Column("id", "integer", True), Column("name", "varchar", False), raw_file="accounts.csv", name="acc"),
        TableSpec("feed", "landing", "events", "events.jsonl", (Column("id", "integer", True),), identifier="ev_v2"),
    ]
    db = tmp_path / "new" / "folder" / "w.duckdb"  # its folder does not exist yet
    said: list[str] = []
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    result = ingest.ingest(File(db), specs, raw, "run-42", progress=said.append)
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert _counts(result, db) == (
        TableResult("acc", "accounts.csv", 2, 1, "raw"),
        TableResult("events", "events.jsonl", 1, 0, "landing"),
    )
    assert (result.loaded_rows, result.quarantined_rows) == (3, 1)
    assert result.quarantines == ["raw._quarantine"]  # only the schema holding bad rows
    assert said == [
        "  accounts.csv" + " " * 13 + "-> raw.acc" + " " * 20 + "2 rows" + " " * 7 + "1 quarantined",
        "  events.jsonl             -> landing.ev_v2" + " " * 18 + "1 rows       0 quarantined",
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = con.execute("select id, name, _loaded_at from raw.acc order by id").fetchall()
        events = con.execute("select id, _loaded_at from landing.ev_v2").fetchall()
        [quarantine] = con.execute("select * from raw._quarantine").fetchall()
    stamp = quarantine[-1]
    assert isinstance(stamp, dt.datetime)
    assert before <= stamp <= after
    assert loaded == [(1, "ada", stamp), (2, "cy", stamp)]
    assert events == [(7, stamp)]
    assert quarantine == (
        "run-42",
        "acc",
        "accounts.csv",
        3,
        "id 'x' is not a valid integer",
        '{"id":"x","name":"bea"}',
        stamp,
    )


def test_a_database_error_rolls_back_and_names_the_file_being_loaded(tmp_path: Path) -> None:
    """A view in the way of a raw table: DuckDB refuses to replace it, and nothing of the load stays."""
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw; create view raw.t as select 1 as kept")
    spec = _spec(Column("id", "integer", True))
    with pytest.raises(PipelineError) as refused:
        _load(tmp_path, spec, b"id\n1\n")
    assert re.fullmatch(
        r'ingest failed loading t\.csv, nothing was loaded: Catalog Error: [^\n]*"t"[^\n]*View[^\n]*',
        str(refused.value),
    )
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select table_name, table_type from information_schema.tables").fetchall() == [("t", "VIEW")]
        assert con.execute("select * from raw.t").fetchall() == [(1,)]


def test_missing_raw_files_are_named_together_with_the_fix(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "b.csv").write_bytes(b"id\n1\n")
    specs = [
        _spec(Column("id", "integer", True), raw_file=name, name=name[0]) for name in ("a.csv", "b.csv", "c.jsonl")
    ]
    with pytest.raises(PipelineError) as refused:
        ingest.ingest(File(tmp_path / "w.duckdb"), specs, raw, "run-1", progress=lambda _: None)
    assert str(refused.value) == (
        f"raw file(s) a.csv, c.jsonl not found in {raw}; "
        "copy them there, or point RAW_DATA_DIR (or --raw-dir) at the folder that holds them."
    )


def test_a_raw_file_linked_from_outside_is_refused_with_the_fix(tmp_path: Path) -> None:
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    raw.mkdir()
    outside.mkdir()
    (outside / "t.csv").write_bytes(b"id\n1\n")
    (raw / "t.csv").symlink_to(outside / "t.csv")
    with pytest.raises(PipelineError) as refused:
        ingest._raw_path(raw, _spec(Column("id", "integer", True)))
    assert str(refused.value) == (
        f"raw file t.csv resolves to {(outside / 't.csv').resolve()}, outside the raw folder {raw.resolve()}; "
        "copy the file into the raw folder instead of linking to it."
    )
    assert ingest._raw_path(outside, _spec(Column("id", "integer", True))) == outside / "t.csv"


# --- typed Parquet: exact types load as they are ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("physical", "declared", "exact"),
    [
        ("INTEGER", "integer", True),
        ("INTEGER", "bigint", True),
        ("SMALLINT", "int", True),
        ("BIGINT", "integer", False),  # range
        ("UINTEGER", "bigint", True),
        ("UINTEGER", "integer", False),
        ("INTEGER", "uinteger", False),  # a negative value
        ("INTEGER", "decimal(12,2)", True),  # 10 digits before the point
        ("INTEGER", "decimal(11,2)", False),
        ("DECIMAL(12,2)", "numeric(12,2)", True),
        ("DECIMAL(12,2)", "numeric(14,4)", True),
        ("DECIMAL(12,3)", "numeric(12,2)", False),  # a third decimal
        ("DECIMAL(12,2)", "numeric(11,2)", False),
        ("DOUBLE", "numeric(12,2)", False),  # the exact-decimal rule must see the text
        ("DOUBLE", "integer", False),  # a fraction
        ("FLOAT", "real", True),
        ("FLOAT", "double", False),  # the text rules keep float 0.1 as double 0.1
        ("DOUBLE", "double precision", True),
        ("DOUBLE", "real", False),
        ("TIMESTAMP", "timestamp", True),
        ("TIMESTAMP_MS", "timestamp", True),
        ("TIMESTAMP WITH TIME ZONE", "timestamp", True),  # UTC
        ("TIMESTAMP", "timestamptz", True),
        ("TIMESTAMP_NS", "timestamp", False),  # nanoseconds
        ("DATE", "date", True),
        ("TIMESTAMP", "date", False),  # a time of day
        ("BOOLEAN", "boolean", True),
        ("VARCHAR", "varchar", False),  # text goes through the text rules (trim, null values)
        ("VARCHAR", "integer", False),
    ],
)
def test_exact_type_names_the_pairs_that_keep_every_value(physical: str, declared: str, exact: bool) -> None:
    assert ingest.exact_type(physical, declared) is exact


def _parquet(path: Path, query: str) -> None:
    path.parent.mkdir(exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"copy ({query}) to '{path}' (format parquet)")


def test_typed_parquet_columns_load_as_they_are_without_the_text_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the columns whose Parquet type is not exact (here a double declared decimal) go through `_rules`."""
    _parquet(
        tmp_path / "raw" / "t.parquet",
        "select * from (values (1::integer, 2::bigint, 10.5::double, 1.25::decimal(12,2), "
        "timestamp '2024-08-17 19:44:30', true, 'x'), (null, 3, 1.005, null, null, null, null), "
        "(3, 4, 7.0, 2.5, timestamp '2024-01-01', false, ' y ')) as t(i, b, n, d, ts, f, v)",
    )
    spec = _spec(
        Column("i", "integer", True),
        Column("b", "bigint", False),
        Column("n", "numeric(12,2)", False),
        Column("d", "numeric(12,2)", False),
        Column("ts", "timestamp", False),
        Column("f", "boolean", False),
        Column("v", "varchar", False),
        raw_file="t.parquet",
    )
    checked: list[str] = []
    rules = ingest._rules

    def spy(column: Column, text: str, p: Any) -> Any:
        checked.append(column.name)
        return rules(column, text, p)

    monkeypatch.setattr(ingest, "_rules", spy)
    result, db = _load_parquet(tmp_path, spec)
    assert checked == ["n", "v"]
    assert (result.loaded_rows, result.quarantined_rows) == (2, 1)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select * exclude (_loaded_at) from raw.t order by i").fetchall() == [
            (1, 2, Decimal("10.50"), Decimal("1.25"), dt.datetime(2024, 8, 17, 19, 44, 30), True, "x"),
            (3, 4, Decimal("7.00"), Decimal("2.50"), dt.datetime(2024, 1, 1), False, " y "),
        ]
    # Row 2: a missing required typed value and a third decimal from a double, as the text path reports them.
    assert _quarantine(db) == [
        (
            2,
            "i is missing; n '1.005' has more than 2 decimals; numeric(12,2) would round it",
            '{"i":null,"b":"3","n":"1.005","d":null,"ts":null,"f":null,"v":null}',
        )
    ]


def _load_parquet(tmp_path: Path, spec: TableSpec, **kwargs: Any) -> tuple[ingest.IngestResult, Path]:
    db = tmp_path / "w.duckdb"
    return ingest.ingest(File(db), [spec], tmp_path / "raw", "run-1", progress=lambda _: None, **kwargs), db


# --- reuse: a raw file unchanged since the last ingest is not loaded again --------------------------------------

ACCOUNTS = b"id,name\n1,ada\nx,bea\n2,cy\n"


def _ingest(tmp_path: Path, spec: TableSpec, run_id: str, **kwargs: Any) -> tuple[ingest.IngestResult, list[str]]:
    said: list[str] = []
    result = ingest.ingest(
        File(tmp_path / "w.duckdb"), [spec], tmp_path / "raw", run_id, progress=said.append, **kwargs
    )
    return result, said


def _accounts(tmp_path: Path, content: bytes = ACCOUNTS) -> TableSpec:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "raw" / "t.csv").write_bytes(content)
    return _spec(Column("id", "integer", True), Column("name", "varchar", False, pii=True))


def _stored(tmp_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(table rows, quarantine rows, _ingest_state rows), `_loaded_at` and timestamps left out."""
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        return (
            con.execute("select * exclude (_loaded_at) from raw.t order by id").fetchall(),
            con.execute("select run_id, row_number, reason, record from raw._quarantine order by 2").fetchall(),
            con.execute(
                "select source_table, raw_file, relation, sha256, loaded_rows, quarantined_rows, run_id "
                "from raw._ingest_state"
            ).fetchall(),
        )


def test_an_unchanged_file_is_reused_with_the_first_loads_counts_and_says_so(tmp_path: Path) -> None:
    spec = _accounts(tmp_path)
    first, _ = _ingest(tmp_path, spec, "run-1")
    stored = _stored(tmp_path)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        [(loaded_at,)] = con.execute("select distinct _loaded_at from raw.t").fetchall()
    again, said = _ingest(tmp_path, spec, "run-2")
    assert again.tables[0].reasons == first.tables[0].reasons  # read back from the quarantine of run-1
    assert _counts(again, tmp_path / "w.duckdb") == (TableResult("t", "t.csv", 2, 1, "raw", reused_from="run-1"),)
    assert (again.loaded_rows, again.quarantined_rows) == (first.loaded_rows, first.quarantined_rows) == (2, 1)
    assert again.reused == ["t"]
    assert first.reused == []
    assert said == [
        "  t.csv" + " " * 20 + "-> raw.t" + " " * 22 + "2 rows       1 quarantined  reused (unchanged since run run-1)"
    ]
    # Nothing rewritten: the same rows, the quarantine still from run-1, the state of run-1's load.
    assert _stored(tmp_path) == stored
    assert stored[2] == [("t", "t.csv", "t", ingest.file_digest(tmp_path / "raw" / "t.csv"), 2, 1, "run-1")]
    # Only `_loaded_at` moves, so dbt's source freshness measures the last ingest as before.
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        [(moved,)] = con.execute("select distinct _loaded_at from raw.t").fetchall()
    assert moved > loaded_at


def test_a_changed_byte_reloads_the_file(tmp_path: Path) -> None:
    spec = _accounts(tmp_path)
    _ingest(tmp_path, spec, "run-1")
    _accounts(tmp_path, ACCOUNTS.replace(b"cy", b"cz"))
    result, said = _ingest(tmp_path, spec, "run-2")
    assert _counts(result, tmp_path / "w.duckdb") == (TableResult("t", "t.csv", 2, 1, "raw"),)
    assert "reused" not in said[0]
    _, quarantine, state = _stored(tmp_path)
    assert [run_id for run_id, *_ in quarantine] == ["run-2"]
    assert [entry[-1] for entry in state] == ["run-2"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"columns": (Column("id", "bigint", True), Column("name", "varchar", False, pii=True))}, None),
        ({"columns": (Column("id", "integer", True), Column("name", "varchar", False))}, None),  # pii flag
        ({"columns": (Column("id", "integer", False), Column("name", "varchar", False, pii=True))}, None),
        ({"null_values": ("NULL",)}, None),
        ({"identifier": "t_v2"}, None),
        ({}, b"another-key-that-is-long-enough-for-staging"),  # the masking key
    ],
)
def test_a_changed_spec_or_masking_key_reloads_the_file(
    tmp_path: Path, change: dict[str, Any], key: bytes | None
) -> None:
    spec = _accounts(tmp_path)
    _ingest(tmp_path, spec, "run-1")
    changed = TableSpec(**{**spec.__dict__, **change})
    result, said = _ingest(tmp_path, changed, "run-2", **({"pii_key": key} if key else {}))
    assert result.reused == []
    assert "reused" not in said[0]


def test_prod_clear_values_are_not_reused_under_a_masking_key(tmp_path: Path) -> None:
    spec = _accounts(tmp_path)
    _ingest(tmp_path, spec, "run-1", pii_key=None)
    assert _ingest(tmp_path, spec, "run-2")[0].reused == []
    assert _ingest(tmp_path, spec, "run-3")[0].reused == ["t"]


def test_reload_loads_an_unchanged_file_again(tmp_path: Path) -> None:
    spec = _accounts(tmp_path)
    _ingest(tmp_path, spec, "run-1")
    result, _ = _ingest(tmp_path, spec, "run-2", reload=True)
    assert _counts(result, tmp_path / "w.duckdb") == (TableResult("t", "t.csv", 2, 1, "raw"),)
    assert [entry[-1] for entry in _stored(tmp_path)[2]] == ["run-2"]


@pytest.mark.parametrize(
    "tamper",
    [
        "drop table raw.t",
        "delete from raw.t where id = 1",
        "delete from raw._quarantine",
        "insert into raw.t (id) values (9)",
    ],
)
def test_a_table_or_quarantine_changed_since_the_load_is_loaded_again(tmp_path: Path, tamper: str) -> None:
    spec = _accounts(tmp_path)
    _ingest(tmp_path, spec, "run-1")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(tamper)
    result, _ = _ingest(tmp_path, spec, "run-2")
    assert _counts(result, tmp_path / "w.duckdb") == (TableResult("t", "t.csv", 2, 1, "raw"),)


def test_a_rolled_back_ingest_records_no_digest(tmp_path: Path) -> None:
    """The second file fails after the first was loaded: its new digest must not survive the rollback."""
    spec = _accounts(tmp_path)
    broken = _spec(Column("id", "integer", True), raw_file="b.csv", name="b")
    _ingest(tmp_path, spec, "run-1")
    _accounts(tmp_path, ACCOUNTS.replace(b"cy", b"cz"))  # same counts, other content
    (tmp_path / "raw" / "b.csv").write_bytes(b"other\n1\n")
    with pytest.raises(PipelineError, match="lacks the declared column"):
        ingest.ingest(File(tmp_path / "w.duckdb"), [spec, broken], tmp_path / "raw", "run-2", progress=lambda _: None)
    assert [entry[-1] for entry in _stored(tmp_path)[2]] == ["run-1"]
    result, _ = _ingest(tmp_path, spec, "run-3")
    assert result.reused == []
    assert _stored(tmp_path)[0] == [
        (1, pii.mask("ada", pii.DEV_KEY.encode())),
        (2, pii.mask("cz", pii.DEV_KEY.encode())),
    ]


def test_the_state_holds_no_key_and_the_spec_digest_depends_on_the_key_only_through_a_fingerprint() -> None:
    spec = _spec(Column("id", "integer", True))
    key = b"a-secret-masking-key-of-enough-length-0123"
    digests = {ingest.spec_digest(spec, k) for k in (None, key, pii.DEV_KEY.encode())}
    assert len(digests) == 3
    assert ingest.spec_digest(spec, key) == ingest.spec_digest(spec, key)
    assert all(key.hex() not in d and key.decode() not in d for d in digests)
