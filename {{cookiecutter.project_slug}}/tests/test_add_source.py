"""add-source: a raw file becomes a source declaration and a staging model that ingest, dbt and the linter accept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import cli, copy_project, dbt_schema, parsed, warehouse_of
from {{ cookiecutter.package_name }} import config, properties
from {{ cookiecutter.package_name }}.add_source import add_sources, sniff, staging_name
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.ingest import ingest, load_specs
from {{ cookiecutter.package_name }}.warehouses import AUDIT
from {{ cookiecutter.package_name }}.warehouses.duckdb import File

CSV = (
    "account_id,Opened At,balance,note\n"
    "1,2025-01-01 10:00:00,10.5,a\n2,2025-01-02 11:00:00,3.25,\n3,2025-01-03 12:00:00,1.0,NA\n"
)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "raw" / "sample"
    (folder / "crm").mkdir(parents=True)
    (folder / "crm" / "accounts.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "models").mkdir()
    return folder


def test_the_sniffer_gives_types_required_columns_and_keys(raw: Path) -> None:
    columns = sniff(raw / "crm" / "accounts.csv")
    assert [(c.name, c.model_name, c.data_type, c.required, c.unique) for c in columns] == [
        ("account_id", "account_id", "bigint", True, True),
        ("Opened At", "opened_at", "timestamp", True, True),
        ("balance", "balance", "double", True, True),
        ("note", "note", "varchar", False, False),
    ]


def test_it_writes_a_source_a_staging_model_and_its_yaml_that_dbt_and_ingest_read(raw: Path) -> None:
    project = raw.parents[2]
    written = add_sources(project, raw, [raw / "crm" / "accounts.csv"])
    folder = project / "models" / "staging" / "crm"
    assert written == sorted(
        [folder / "_crm__sources.yml", folder / "_crm__models.yml", folder / "stg_crm__accounts.sql"]
    )
    table = yaml.safe_load((folder / "_crm__sources.yml").read_text(encoding="utf-8"))["sources"][0]["tables"][0]
    assert table["config"] == {"meta": {"raw_file": "crm/accounts.csv"}}
    assert table["columns"][0] == {"name": "account_id", "data_type": "bigint", "data_tests": ["unique", "not_null"]}
    assert table["columns"][1]["quote"] is True
    assert "data_tests" not in table["columns"][3]
    sql_text = (folder / "stg_crm__accounts.sql").read_text(encoding="utf-8")
    assert '"Opened At" as opened_at' in sql_text
    assert "source('crm', 'accounts')" in sql_text
    specs = load_specs(parsed(project))
    assert [(s.source, s.name, s.raw_file) for s in specs] == [("crm", "accounts", "crm/accounts.csv")]
    result = ingest(File(project / "w.duckdb"), specs, raw, "run-1", progress=lambda _: None)
    assert (result.loaded_rows, result.quarantined_rows) == (3, 0)


def test_columns_named_like_sql_keywords_are_quoted_in_the_sql_and_the_yaml(raw: Path) -> None:
    """`select`, `order` (reserved) and `at` (a type/function keyword) cannot stand bare in DuckDB's SQL."""
    project = raw.parents[2]
    (raw / "crm" / "lines.csv").write_text("line_id,select,order,at\n1,a,2,x\n2,b,3,y\n", encoding="utf-8")
    add_sources(project, raw, [raw / "crm" / "lines.csv"])
    folder = project / "models" / "staging" / "crm"
    sources = yaml.safe_load((folder / "_crm__sources.yml").read_text(encoding="utf-8"))
    quoted = [c["name"] for c in sources["sources"][0]["tables"][0]["columns"] if c.get("quote")]
    assert quoted == ["select", "order", "at"]
    models = yaml.safe_load((folder / "_crm__models.yml").read_text(encoding="utf-8"))
    assert [c["name"] for c in models["models"][0]["columns"] if c.get("quote")] == ["select", "order", "at"]
    specs = load_specs(parsed(project))
    database = project / "w.duckdb"
    ingest(File(database), specs, raw, "run-1", progress=lambda _: None)
    spec = specs[0]
    model = (folder / "stg_crm__lines.sql").read_text(encoding="utf-8")
    compiled = re.sub(r"\{\{ source\('crm', 'lines'\) \}\}", f'"{spec.schema}"."{spec.identifier or spec.name}"', model)
    assert compiled != model
    with duckdb.connect(str(database)) as con:
        cursor = con.execute(compiled)
        assert [d[0] for d in cursor.description] == ["line_id", "select", "order", "at"]
        assert cursor.fetchall() == [(1, "a", 2, "x"), (2, "b", 3, "y")]


def test_the_written_sql_passes_the_house_lint(raw: Path) -> None:
    project = raw.parents[2]
    (raw / "crm" / "lines.csv").write_text("line_id,select,at,Order\n1,a,x,2\n", encoding="utf-8")
    add_sources(project, raw, [raw / "crm" / "accounts.csv", raw / "crm" / "lines.csv"])
    root = Path(__file__).resolve().parents[1]
    lint = subprocess.run(
        [Path(sys.executable).with_name("sqlfluff"), "lint", "--config", str(root / "pyproject.toml"),
         "--format", "json", str(project / "models")],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    violations = [v for f in json.loads(lint.stdout) for v in f["violations"]]
    assert violations == []


def test_it_refuses_an_existing_declaration_by_name_and_writes_nothing(raw: Path) -> None:
    project = raw.parents[2]
    add_sources(project, raw, [raw / "crm" / "accounts.csv"])
    before = {p: p.read_text(encoding="utf-8") for p in (project / "models").rglob("*.*")}
    (raw / "crm" / "leads.csv").write_text("lead_id\n1\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"source table crm\.accounts is already declared"):
        add_sources(project, raw, [raw / "crm" / "leads.csv", raw / "crm" / "accounts.csv"])
    assert {p: p.read_text(encoding="utf-8") for p in (project / "models").rglob("*.*")} == before


def test_a_project_folder_it_cannot_write_is_one_sentence_and_nothing_is_written(raw: Path) -> None:
    """A read-only checkout or the step image: the folder of the second file fails, so the first is not written."""
    project = raw.parents[2]
    kept = project / "models" / "kept.yml"
    kept.write_text("version: 2\n", encoding="utf-8")
    (project / "blocked").write_text("", encoding="utf-8")  # a file where a folder must go: fails as root too
    files = {kept: "changed\n", project / "models" / "new.yml": "new\n", project / "blocked" / "c.yml": "c\n"}
    with pytest.raises(PipelineError, match=r"^cannot write .*blocked/c\.yml \(.*\); this command edits the project"):
        properties.write(files)
    assert kept.read_text(encoding="utf-8") == "version: 2\n"
    assert sorted(path.name for path in (project / "models").iterdir()) == ["kept.yml"]  # no new file, no .tmp


def test_add_source_where_it_cannot_write_is_one_sentence(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    raw = project / config.SAMPLE_DIR / "blocked_probe"
    raw.mkdir(parents=True, exist_ok=True)
    # A table name no source of this project loads yet (the project may be a user's with sources of its own).
    (raw / "blocked_probe_rows.csv").write_text(CSV, encoding="utf-8")
    (project / "models" / "staging" / "blocked_probe").write_text("", encoding="utf-8")  # as read-only, as root too
    out = cli(project, "add-source", str(raw / "blocked_probe_rows.csv"), expect=1)
    assert out.startswith("error: cannot write ") and out.count("\n") == 1, out


def test_a_second_table_extends_the_source(raw: Path) -> None:
    project = raw.parents[2]
    (raw / "crm" / "lead.jsonl").write_text('{"lead_id": 1}\n{"lead_id": 2}\n', encoding="utf-8")
    add_sources(project, raw, [raw / "crm" / "accounts.csv"])
    add_sources(project, raw, [raw / "crm" / "lead.jsonl"])
    document = yaml.safe_load((project / "models/staging/crm/_crm__sources.yml").read_text(encoding="utf-8"))
    assert [t["name"] for t in document["sources"][0]["tables"]] == ["accounts", "lead"]
    assert (project / "models/staging/crm/stg_crm__leads.sql").is_file()


# A user's YAML, as people write it: comments atop, inline and between entries, flow and block style, quotes.
COMMENTED = {
    "_crm__sources.yml": """\
# Raw CRM exports, delivered nightly by the vendor's job.
version: 2

sources:
  - name: crm  # the vendor's name for it
    schema: raw
    tables:
      # Accounts come first: everything else joins to them.
      - name: accounts
        config: {meta: {raw_file: crm/accounts.csv}}
        columns:
          - {name: account_id, data_type: bigint, data_tests: [unique, not_null]}  # the key

      # Contacts arrived in 2024.
      - name: contacts
        description: "Contacts: one row per person at an account."
        config:
          meta: {raw_file: crm/contacts.csv}
        columns:
          - name: contact_id
            data_type: bigint  # never null in practice
""",
    "_crm__models.yml": """\
# Staging models of the CRM source.
version: 2

models:
  - name: stg_crm__accounts  # one row per account
    description: 'Accounts, renamed: nothing else.'
""",
}


def test_extending_a_users_yaml_keeps_every_comment_and_dbt_still_parses_it(raw: Path) -> None:
    project = raw.parents[2]
    folder = project / "models" / "staging" / "crm"
    folder.mkdir(parents=True)
    for name, text in COMMENTED.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "stg_crm__accounts.sql").write_text("select 1 as account_id\n", encoding="utf-8")
    (raw / "crm" / "leads.csv").write_text("lead_id,email\n1,a@example.com\n2,\n", encoding="utf-8")
    add_sources(project, raw, [raw / "crm" / "leads.csv"])
    for name, text in COMMENTED.items():
        after = (folder / name).read_text(encoding="utf-8")
        # Every line the user wrote is still there, unchanged and in order; add-source only added lines.
        lines = iter(after.splitlines())
        missing = [line for line in text.splitlines() if not any(line == kept for kept in lines)]
        assert not missing, f"{name} lost {missing}:\n{after}"
    manifest = parsed(project)
    tables = sorted(node["name"] for node in manifest["sources"].values() if node["source_name"] == "crm")
    assert tables == ["accounts", "contacts", "leads"]
    assert "model.parsed.stg_crm__leads" in manifest["nodes"]
    leads = next(node for node in manifest["sources"].values() if node["name"] == "leads")
    assert leads["config"]["meta"] == {"raw_file": "crm/leads.csv"}


def test_a_sources_file_that_is_not_yaml_is_one_sentence_and_left_alone(raw: Path) -> None:
    folder = raw.parents[2] / "models" / "staging" / "crm"
    folder.mkdir(parents=True)
    broken = "sources:\n  - name: crm\n   tables: [\n"
    (folder / "_crm__sources.yml").write_text(broken, encoding="utf-8")
    with pytest.raises(PipelineError, match=r"_crm__sources.yml is not valid YAML \(.+\); fix it"):
        add_sources(raw.parents[2], raw, [raw / "crm" / "accounts.csv"])
    assert (folder / "_crm__sources.yml").read_text(encoding="utf-8") == broken
    assert sorted(p.name for p in folder.iterdir()) == ["_crm__sources.yml"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("gone.csv", None, r"does not exist"),
        ("table.xlsx", "x", r"is not a raw file ingest can read"),
        ("broken.parquet", "not parquet", r"cannot be read as parquet"),
        ("empty.csv", "a,b\n", r"has no data rows"),
        # ingest reads comma-separated CSV with its own reader: what it would refuse, add-source refuses first
        ("semi.csv", "sale_id;amount\r\n1;1,50\r\n2;3,00\r\n", r"separates its fields with ';'.*with commas\.$"),
        ("twice.csv", "id,id,x\n1,2,a\n", r"names column\(s\) id more than once.*header row\.$"),
        ("cased.csv", "\ufeffLabel,label\r\na,b\r\n", r"names column\(s\) label more than once"),
    ],
)
def test_a_bad_file_is_one_sentence(raw: Path, name: str, content: str | None, message: str) -> None:
    if content is not None:
        (raw / name).write_text(content, encoding="utf-8")
    with pytest.raises(PipelineError, match=message):
        add_sources(raw.parents[2], raw, [raw / name])
    assert not (raw.parents[2] / "models" / "staging").exists()


def test_names_default_from_the_path_and_pluralise(raw: Path) -> None:
    assert staging_name("shop", "order") == "stg_shop__orders"
    assert staging_name("shop", "orders") == "stg_shop__orders"
    (raw / "Daily Sales.csv").write_text("day,amount\n2025-01-01,1\n", encoding="utf-8")
    add_sources(raw.parents[2], raw, [raw / "Daily Sales.csv"])
    assert (raw.parents[2] / "models/staging/raw/stg_raw__daily_sales.sql").is_file()


@pytest.mark.integration
def test_a_raw_file_goes_from_add_source_to_a_built_model(tmp_path: Path) -> None:
    """The adoption path: drop a file in, add-source, run: ingested, built and tested, no hand edits."""
    project = copy_project(tmp_path / "project")
    # A source and a table no project of a user's declares: the raw schema holds one table per name.
    raw = project / config.SAMPLE_DIR / "adoption_probe"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "adoption_probe_rows.csv").write_text(CSV, encoding="utf-8")
    out = cli(project, "add-source", str(raw / "adoption_probe_rows.csv"))
    assert "wrote models/staging/adoption_probe/stg_adoption_probe__adoption_probe_rows.sql" in out
    cli(project, "add-source", str(raw / "adoption_probe_rows.csv"), expect=1)
    cli(project, "run", "--env", "dev")
    model, instance = "stg_adoption_probe__adoption_probe_rows", next((project / "target").glob("dev__*")).name
    with warehouse_of(project, "dev").session(AUDIT, read_only=True) as session:
        relation = session.relation(dbt_schema(project, instance, model), model)
        query = f"select count(*), count(opened_at) from {relation}"
        assert [tuple(row) for row in session.query(query)] == [(3, 3)]


def test_a_new_source_lands_in_the_instance_s_raw_schema_and_a_taken_raw_table_is_refused(raw: Path) -> None:
    """Without a `schema`, dbt would take the source's name (`crm`) as its schema: on a server warehouse a fixed
    schema every branch and prod share. Every source's tables land in the one raw schema, so a second source's table
    of the same name is refused (nothing written) and `--table` gives it another."""
    project = raw.parents[2]
    add_sources(project, raw, [raw / "crm" / "accounts.csv"])
    document = yaml.safe_load((project / "models/staging/crm/_crm__sources.yml").read_text(encoding="utf-8"))
    assert document["sources"][0]["schema"] == "{" * 2 + " env_var('DBT_RAW_SCHEMA', 'raw') " + "}" * 2
    (raw / "erp").mkdir()
    (raw / "erp" / "accounts.csv").write_text("account_id\n1\n", encoding="utf-8")
    with pytest.raises(PipelineError, match="another source already loads a table accounts into the raw schema"):
        add_sources(project, raw, [raw / "erp" / "accounts.csv"])
    assert not (project / "models/staging/erp").exists()
    add_sources(project, raw, [raw / "erp" / "accounts.csv"], table="erp_accounts")
    assert (project / "models/staging/erp/stg_erp__erp_accounts.sql").is_file()
