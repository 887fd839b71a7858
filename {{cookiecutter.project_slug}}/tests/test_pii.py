"""Personal data outside prod: the keyed mask, its key, and a scan of everything a ci run leaves behind."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest

from conftest import PACKAGE, PROJECT_DIR, cli, dbt_schema, parsed, warehouse_of
from {{ cookiecutter.package_name }} import config, pii, report, sql, warehouses
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.pii_plugin import Plugin
from {{ cookiecutter.package_name }}.warehouses import Warehouse{% if cookiecutter.warehouse == "spark" %}, spark{% endif %}
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

DEV_KEY = pii.DEV_KEY.encode()
STAGING_KEY = "k" * pii.MIN_KEY_LENGTH
# Folders the pipeline writes into the project (README: "Layout").
WRITTEN = ("warehouse", "target", "logs", "reports")
# Shorter values are matched as whole cells or quoted tokens: a 3-letter name is a substring of too much.
SUBSTRING_LENGTH = 6


# RFC 4231, test cases 1, 2 and 6 (a key longer than the hash block, which HMAC hashes first).
RFC_4231 = [
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",  # pragma: allowlist secret
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",  # pragma: allowlist secret
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",  # pragma: allowlist secret
    ),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC_4231)
def test_the_mask_is_hmac_sha256_in_python_and_in_sql(key: bytes, data: bytes, expected: str) -> None:
    """Both implementations (Python for unreadable lines, the DuckDB macro for tables) meet RFC 4231."""
    assert pii.digest(data.decode(), key) == expected
    with duckdb.connect() as con:
        pii.register(con, key)
        (masked,) = con.execute("select pii_mask(?)", [data.decode()]).fetchone() or ("",)
    assert masked == pii.PREFIX + expected


def test_the_dev_key_masks_deterministically_and_a_key_changes_every_digest() -> None:
    first = pii.mask("Ann.Lee@example.com", DEV_KEY)
    assert first == pii.mask("Ann.Lee@example.com", DEV_KEY)  # joins and distinct counts still work
    assert first is not None and re.fullmatch(r"masked:[0-9a-f]{64}", first)
    assert first != pii.mask("ann.lee@example.com", DEV_KEY)
    assert first != pii.mask("Ann.Lee@example.com", STAGING_KEY.encode())
    # Not the unsalted md5 (or sha256) of the value, which a dictionary reverses without any key.
    assert hashlib.md5(b"Ann.Lee@example.com", usedforsecurity=False).hexdigest() not in first
    assert hashlib.sha256(b"Ann.Lee@example.com").hexdigest() not in first
    assert pii.mask(first, DEV_KEY) == first  # masking twice changes nothing
    assert pii.mask(None, DEV_KEY) is None


@pytest.mark.parametrize(
    ("environ", "problem"),
    [({}, "is not set"), ({"PII_HASH_KEY": "  "}, "is not set"), ({"PII_HASH_KEY": "short"}, "is too short"),
     ({"PII_HASH_KEY": pii.DEV_KEY}, "is the public dev key")],
)  # fmt: skip
def test_staging_refuses_to_run_without_its_own_key(project: Path, environ: dict[str, str], problem: str) -> None:
    shared = {"DBT_DUCKDB_PATH": "/data/staging.duckdb", "RAW_DATA_DIR": "/data/raw", **environ}
    with pytest.raises(PipelineError) as caught:
        config.resolve("staging", shared).pii_key  # noqa: B018  # resolving it is what raises
    message = str(caught.value)
    assert "PII_HASH_KEY" in message and problem in message and message.count(". ") == 0


def test_staging_without_a_key_is_one_sentence_from_the_cli(project: Path) -> None:
    shared = {"DBT_DUCKDB_PATH": str(project / "s.duckdb"), "RAW_DATA_DIR": str(project / config.SAMPLE_DIR)}
    out = cli(project, "ingest", "--env", "staging", expect=1, env=shared)
    (error,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert "environment 'staging' needs its own PII_HASH_KEY" in error
    assert "Traceback" not in out and not (project / "s__audit.duckdb").exists()


def test_each_environment_gets_its_key(project: Path) -> None:
    shared = {"DBT_DUCKDB_PATH": "/data/x.duckdb", "RAW_DATA_DIR": "/data/raw"}
    assert config.resolve("dev", {}).pii_key == DEV_KEY
    assert config.resolve("ci", {"PII_HASH_KEY": STAGING_KEY}).pii_key == STAGING_KEY.encode()
    assert config.resolve("staging", {**shared, "PII_HASH_KEY": STAGING_KEY}).pii_key == STAGING_KEY.encode()
    assert config.resolve("prod", {**shared, "PII_HASH_KEY": STAGING_KEY}).pii_key is None  # prod is clear


SOURCES = """
sources:
  - name: crm
    schema: raw
    tables:
      - name: people
        config: {meta: {raw_file: people.csv}}
        columns:
          - {name: person_id, data_type: integer, data_tests: [not_null]}
          - {name: full_name, data_type: varchar, config: {meta: {pii: true}}, data_tests: [not_null]}
          - {name: email, data_type: varchar, config: {meta: {pii: true}}}
          - {name: city, data_type: varchar}
      - name: contacts
        config: {meta: {raw_file: contacts.jsonl}}
        columns:
          - {name: contact_id, data_type: integer}
          - {name: phone, data_type: varchar, meta: {pii: true}}
      - name: visits
        config: {meta: {raw_file: visits.parquet}}
        columns:
          - {name: visit_id, data_type: integer}
          - {name: visitor, data_type: varchar, config: {meta: {pii: true}}}
"""
CLEAR = ("Ann Lee", "ann.lee@example.com", "Bo Chen", "bo@example.com", "Cy Diaz", "cy@example.com",
         "Dee Fox", "+44 20 7946 0000", "+44 20 7946 0001", "Eve Gray")  # fmt: skip


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """A tiny project with pii columns in each raw format, with good rows and every kind of bad row."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "_crm__sources.yml").write_text(SOURCES, encoding="utf-8")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "people.csv").write_text(
        "person_id,full_name,email,city\n"
        "1,Ann Lee,ann.lee@example.com,Oslo\n"
        "x2,Bo Chen,bo@example.com,Rome\n"  # a typed failure: the record keeps its fields
        "bo@example.com,Bo Chen,bo@example.com,Rome\n"  # shifted fields: the reason quotes the email
        "4,,cy@example.com,Lima\n"  # a required pii field missing
        "5,Cy Diaz,cy@example.com,Lima,surplus\n"  # unreadable: its text cannot be split into fields
        "6,Dee Fox,,Kiev\n",
        encoding="utf-8",
    )
    (raw / "contacts.jsonl").write_text(
        json.dumps({"contact_id": 1, "phone": "+44 20 7946 0000"})
        + "\n"
        + '{"contact_id": 2, "phone": "+44 20 7946 0001"\n',
        encoding="utf-8",
    )
    with duckdb.connect() as con:
        con.execute(
            "copy (select 1 as visit_id, 'Eve Gray' as visitor) to ? (format parquet)", [str(raw / "visits.parquet")]
        )
    return tmp_path


def _cells(database: Path) -> Iterator[str]:
    """Every non-null value of every varchar column of every table in a DuckDB file."""
    with duckdb.connect(str(database), read_only=True) as con:
        columns = con.execute(
            "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
            "join information_schema.tables as t using (table_catalog, table_schema, table_name) "
            "where c.table_catalog = current_database() and t.table_type = 'BASE TABLE' and c.data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            query = f'select "{column}" from "{schema}"."{table}" where "{column}" is not null'
            yield from (row[0] for row in con.execute(query).fetchall())


def test_ingest_stores_no_clear_pii_in_raw_tables_or_quarantine(crm: Path) -> None:
    db = crm / "w.duckdb"
    result = ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None, pii_key=DEV_KEY)
    assert [(t.table, t.loaded_rows, t.quarantined_rows) for t in result.tables] == [
        ("people", 2, 4), ("contacts", 1, 1), ("visits", 1, 0)
    ]  # fmt: skip
    cells = list(_cells(db))
    leaks = [(value, cell) for cell in cells for value in CLEAR if value.lower() in cell.lower()]
    assert not leaks
    with duckdb.connect(str(db), read_only=True) as con:
        people = con.execute("select person_id, full_name, email, city from raw.people order by 1").fetchall()
        records = con.execute("select reason, record from raw._quarantine where source_table = 'people'").fetchall()
    assert people == [
        (1, pii.mask("Ann Lee", DEV_KEY), pii.mask("ann.lee@example.com", DEV_KEY), "Oslo"),
        (6, pii.mask("Dee Fox", DEV_KEY), None, "Kiev"),
    ]
    masked_email = pii.mask("bo@example.com", DEV_KEY) or ""
    bad = [json.loads(record) for _, record in records if record.startswith("{")]
    # Other fields stay readable, so the reason can be acted on; a pii value shifted into one is masked.
    assert {"person_id": "x2", "full_name": pii.mask("Bo Chen", DEV_KEY), "email": masked_email, "city": "Rome"} in bad
    assert {
        "person_id": masked_email,
        "full_name": pii.mask("Bo Chen", DEV_KEY),
        "email": masked_email,
        "city": "Rome",
    } in bad
    assert any(masked_email in reason for reason, _ in records)  # the reason quotes the mask, not the value
    assert any(reason == "full_name is missing" for reason, _ in records)
    # Decided: outside prod, a line of a pii table that cannot be split into fields is stored as its mask.
    assert pii.mask("5,Cy Diaz,cy@example.com,Lima,surplus", DEV_KEY) in [record for _, record in records]


def test_a_copy_of_a_pii_value_in_another_letter_case_is_masked_too(crm: Path) -> None:
    """A shifted email in capitals (the reason quotes it, another field holds it) is the same person's email."""
    (crm / "raw" / "people.csv").write_text(
        "person_id,full_name,email,city\nBO@EXAMPLE.COM,Bo Chen,bo@example.com,Bo@Example.com\n", encoding="utf-8"
    )
    db = crm / "w.duckdb"
    ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None, pii_key=DEV_KEY)
    cells = list(_cells(db))
    assert any(str(pii.mask("bo@example.com", DEV_KEY)) in cell for cell in cells)  # the reason quotes the mask
    assert not [cell for cell in cells if "bo@example.com" in cell.lower()]


def test_a_short_pii_value_is_masked_where_the_reason_quotes_it_not_inside_the_reasons_words(crm: Path) -> None:
    """A last name `id` or `is` once turned `person_id 'x7' is not ...` into `person_masked:…_id …`, unreadable."""
    (crm / "raw" / "people.csv").write_text(
        "person_id,full_name,email,city\n"
        "x7,id,is,Oslo\n"  # a typed failure in a row whose pii values are words of the reason
        "is,id,is,Oslo\n",  # the pii value shifted into person_id: the reason quotes it, so it is masked there
        encoding="utf-8",
    )
    reasons = {}
    for key in (None, DEV_KEY):
        db = crm / f"{key is None}.duckdb"
        ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None, pii_key=key)
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute("select reason from raw._quarantine where source_table = 'people' order by row_number")
            reasons[key] = [reason for (reason,) in rows.fetchall()]
    clear, masked = reasons[None], reasons[DEV_KEY]
    assert clear[0].startswith("person_id 'x7' ") and clear[1].startswith("person_id 'is' ")
    assert masked[0] == clear[0]  # no pii value quoted: the reason is word for word prod's
    assert masked[1] == clear[1].replace("'is'", f"'{pii.mask('is', DEV_KEY)}'", 1)


def test_reports_list_a_pii_table_s_reasons_masked_and_in_prod_not_at_all(crm: Path) -> None:
    """A reason may quote a pii value (shifted into another field). Outside prod the report lists it as the
    quarantine holds it, masked; prod's quarantine holds it clear, so the reports (CI artifacts) get counts only."""
    (crm / "raw" / "people.csv").write_text(
        "person_id,full_name,email,city\nbo@example.com,Bob,bo@example.com,Oslo\n", encoding="utf-8"
    )
    results = {}
    for key in (None, DEV_KEY):
        db = crm / f"{key is None}.duckdb"
        for run_id in ("run-1", "run-2"):  # loaded, then reused: the reasons come back from the quarantine
            ingested = ingest(
                File(db), load_specs(parsed(crm)), crm / "raw", run_id, progress=lambda _: None, pii_key=key
            )
            results[key, run_id] = next(t for t in ingested.tables if t.table == "people")
    for run_id in ("run-1", "run-2"):
        masked, clear = results[DEV_KEY, run_id], results[None, run_id]
        assert not masked.withheld and [r.reason for r in masked.reasons] == [
            f"person_id '{pii.mask('bo@example.com', DEV_KEY)}' is not a valid integer"
        ]
        assert clear.withheld and clear.reasons == () and clear.quarantined_rows == 1
    assert results[None, "run-2"].reused_from == "run-1"
    document = {"quarantine": {"people": 1}, "quarantine_withheld": ["people"], "quarantine_reasons": {}}
    withheld = "1 row: reasons not copied into reports in prod (pii columns)"
    assert report.reason_lines(document, 3) == [("people", withheld)]


def test_prod_stores_the_clear_values(crm: Path) -> None:
    db = crm / "w.duckdb"
    ingest(File(db), load_specs(parsed(crm)), crm / "raw", "run-1", progress=lambda _: None, pii_key=None)
    cells = "\n".join(_cells(db))
    assert all(value in cells for value in CLEAR)


def test_a_pii_column_must_be_declared_varchar(crm: Path) -> None:
    sources = crm / "models" / "_crm__sources.yml"
    sources.write_text(SOURCES.replace("visitor, data_type: varchar", "visitor, data_type: date"), encoding="utf-8")
    with pytest.raises(PipelineError, match=r"pii column.*visitor.*must be declared data_type: varchar"):
        load_specs(parsed(crm))


def test_dbt_connections_get_the_same_mask_on_every_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PII_HASH_KEY", raising=False)
    plugin = Plugin("pii_plugin", {"environment": "ci"})
    with duckdb.connect() as con:
        plugin.configure_connection(con)
        cursor = con.cursor()
        plugin.configure_cursor(cursor)
        assert cursor.execute("select pii_mask('Ann')").fetchone() == (pii.mask("Ann", DEV_KEY),)
    monkeypatch.setenv("PII_HASH_KEY", STAGING_KEY)
    with duckdb.connect() as con:
        Plugin("pii_plugin", {"environment": "staging"}).configure_connection(con)
        assert con.execute("select pii_mask('Ann')").fetchone() == (pii.mask("Ann", STAGING_KEY.encode()),)
    monkeypatch.delenv("PII_HASH_KEY")
    with pytest.raises(PipelineError, match="PII_HASH_KEY"):
        Plugin("pii_plugin", {"environment": "staging"})


def _render_mask_pii(target: str, column: str, keep_email_shape: bool, warehouse: str = "duckdb") -> str:
    """The SQL mask_pii() compiles to in a table model of `target` on `warehouse`, rendered without dbt.

    adapter.dispatch() picks `<warehouse>__<name>`, else `default__<name>`, among the macros of macros/privacy/.
    """
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])  # noqa: S701  # renders SQL, not HTML
    macros: dict[str, Any] = {}

    def dispatch(name: str) -> Any:
        return macros.get(f"{warehouse}__{name}") or macros[f"default__{name}"]

    context = {
        "target": {"name": target, "type": warehouse},
        "project_name": PACKAGE,
        "var": lambda name, default: default,
        "execute": True,
        "config": {"materialized": "table"},
        "dbt": {"concat": " || ".join},  # dbt's default__concat, DuckDB's and Postgres's
        "adapter": {"dispatch": dispatch},
    }
    for path in sorted((PROJECT_DIR / "macros" / "privacy").glob("*.sql")):
        source = path.read_text(encoding="utf-8")
        macros.update(vars(environment.from_string(source).make_module(context)))  # its names are dynamic
    return str(macros["mask_pii"](column, keep_email_shape=keep_email_shape))


@pytest.mark.parametrize("keep_email_shape", [False, True])
def test_the_dbt_macro_masks_clear_rows_read_by_deferral_as_ingest_did(keep_email_shape: bool) -> None:
    """Slim CI builds on production's clear staging: the macro gives what ingest gave the ci raw rows."""
    expression = _render_mask_pii("ci", "value", keep_email_shape)
    ingested = pii.mask("ann@example.com", DEV_KEY) or ""
    with duckdb.connect() as con:
        pii.register(con, DEV_KEY)
        query = f"select {expression} from (values (?), (?)) as t(value)"
        from_clear, from_masked = (row[0] for row in con.execute(query, ["ann@example.com", ingested]).fetchall())
    expected = ingested.removeprefix(pii.PREFIX) + "@example.invalid" if keep_email_shape else ingested
    assert from_clear == from_masked == expected
    assert _render_mask_pii("prod", "value", keep_email_shape).strip() == "value"


def _clear_values(project: Path) -> set[str]:
    """Every value of a pii column in every row of the raw sample (lowercased), and each unsplittable line."""
    values: set[str] = set()
    for spec in load_specs(parsed(project)):
        columns = [c.name for c in spec.columns if c.pii]
        if not columns:
            continue
        path = project / config.SAMPLE_DIR / spec.raw_file
        assert path.suffix == ".csv", "extend the scan to this format"
        lines = path.read_text(encoding="utf-8").splitlines()
        header = next(csv.reader(lines[:1]))
        for line in lines[1:]:
            fields = next(csv.reader([line]))
            if len(fields) != len(header):  # its fields cannot be told apart: the line is the value
                values.add(line.lower())
                continue
            row = dict(zip(header, fields, strict=True))
            values |= {row[c].lower() for c in columns if row[c]}
            if row.get("first_name") and row.get("last_name"):
                values.add(f"{row['first_name']} {row['last_name']}".lower())  # dim_customers.full_name
    return values


def _warehouse_cells(warehouse: Warehouse) -> Iterator[tuple[str, str]]:
    """(where, value) for every non-null value of every text column of every table the instance's sessions see.

    Through the seam, so the scan covers whatever the warehouse keeps: DuckDB's audit and published files,
    Postgres's schemas of the test's own database (raw, audit, published).
    """
    for location in (warehouses.AUDIT, warehouses.PUBLISHED):
        with warehouse.session(location, read_only=True) as session:
{%- if cookiecutter.warehouse == "spark" %}
            # Spark has no information_schema: every database of the instance at this location (audit: the audit
            # and raw ones; published: the others), each table's string columns.
            assert isinstance(warehouse, spark.Warehouse)
            kept = (warehouse.audit, warehouse.raw)
            databases = [
                name for (name,) in session.query("show databases")
                if str(name).startswith(warehouse.name) and str(name).startswith(kept) == (location == warehouses.AUDIT)
            ]  # fmt: skip
            columns = [
                (database, table, column) for database in databases for table in session.tables(database)
                for column, kind in session.describe(database, table) if kind == "string"
            ]  # fmt: skip
{%- else %}
            columns = session.query(
                "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
                "join information_schema.tables as t "
                "on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema "
                "and t.table_name = c.table_name "
                "where c.table_catalog = current_database() and t.table_type = 'BASE TABLE' "
                "and lower(c.data_type) in ('varchar', 'text', 'character varying') "
                "and c.table_schema not in ('information_schema', 'pg_catalog')"
            )
{%- endif %}
            assert columns, f"no text column in {warehouse.where(location)}"
            for schema, table, column in columns:
                query = f"select {sql.identifier(column)} from {sql.relation(schema, table)}"
                where = f"{warehouse.where(location)}: {schema}.{table}.{column}"
                yield from ((where, str(row[0])) for row in session.query(query) if row[0] is not None)


def _leaks(project: Path, values: set[str], warehouse: Warehouse) -> list[tuple[str, str]]:
    """(place, value) for every clear value found in a file the pipeline wrote, or in the warehouse's tables."""
    long = {v for v in values if len(v) >= SUBSTRING_LENGTH}
    short = values - long
    # Outside a table cell, a short value counts where it stands as a whole token: quoted, or a CSV field.
    tokens = {f"{q}{v}{q}".encode() for v in short for q in ('"', "'")} | {f",{v},".encode() for v in short}
    found = []
    for folder in WRITTEN:
        for path in sorted((project / folder).rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes().lower()
            found += [(str(path), v) for v in long if v.encode() in data]
            found += [(str(path), t.decode()) for t in tokens if t in data]
            if path.suffix == ".duckdb":  # any DuckDB file left behind, the instance's or not
                for text in _cells(path):
                    cell = text.lower()
                    found += [(f"{path}: {cell[:80]}", v) for v in values if cell == v or (v in long and v in cell)]
    for where, text in _warehouse_cells(warehouse):
        cell = text.lower()
        found += [(f"{where}: {cell[:80]}", v) for v in values if cell == v or (v in long and v in cell)]
    return found


@pytest.mark.integration
@pytest.mark.skipif(
    not (PROJECT_DIR / config.SAMPLE_DIR / "customers.csv").is_file(), reason="needs the example's raw sample"
)
def test_a_ci_run_leaves_no_clear_pii_in_any_file_and_prod_keeps_them(project: Path, tmp_path: Path) -> None:
    """Warehouse, audit, raw, quarantine, dbt artifacts, logs and reports of a whole ci run hold no clear value."""
    values = _clear_values(project)
    assert len(values) > 200 and any(len(v) < SUBSTRING_LENGTH for v in values)
    cli(project, "run", "--env", "ci")
    ci = warehouse_of(project, "ci")
    assert ci.exists(warehouses.AUDIT) and (project / "target" / "ci").is_dir()
    assert _leaks(project, values, ci) == []

    # The masked marts still join and count like the clear ones, with the digests ingest computed.
    marts = dbt_schema(project, "ci", "dim_customers")
    with ci.session(warehouses.PUBLISHED, read_only=True) as session:
        emails = {row[0] for row in session.query(f"select email from {session.relation(marts, 'dim_customers')}")}
    with (project / config.SAMPLE_DIR / "customers.csv").open(encoding="utf-8", newline="") as handle:
        raw = {row["email"] for row in csv.DictReader(handle) if row["email"]}
    shaped = {(pii.mask(e, DEV_KEY) or "").removeprefix(pii.PREFIX) + "@example.invalid" for e in raw}
    assert emails and emails <= shaped

    # The same scan finds the values where they are meant to be: prod stores them clear.
    prod_dir = tmp_path / "prod" / "warehouse"
    prod_dir.mkdir(parents=True)
    environ = {"DBT_DUCKDB_PATH": str(prod_dir / "prod.duckdb"), "RAW_DATA_DIR": str(config.SAMPLE_DIR)}
    cli(project, "run", "--env", "prod", env=environ)
    prod = warehouse_of(project, "prod", environ)
    marts = dbt_schema(project, "prod", "dim_customers")
    with prod.session(warehouses.PUBLISHED, read_only=True) as session:
        clear = {row[0] for row in session.query(f"select email from {session.relation(marts, 'dim_customers')}")}
    assert clear and clear <= values and len(clear) == len(emails)  # distinct counts agree
    assert len({v for _, v in _leaks(prod_dir.parent, values, prod)}) > len(clear)
