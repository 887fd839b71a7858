"""PostgreSQL for the project: the throwaway server, its run wrapper, and the PII key reaching dbt's sessions."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg2
import pytest

from conftest import PACKAGE, cli, connect
from {{ cookiecutter.package_name }} import pii
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server, pgoptions, throwaway
from test_pii import _render_mask_pii

KEY = "a test key, 32 characters or more, with a \\ backslash"  # PGOPTIONS must escape both
PII_SETTING = f"{PACKAGE}.pii_key"


def test_the_throwaway_server_answers_and_is_removed_on_exit() -> None:
    """It starts a server on 127.0.0.1 with pgcrypto ready, and leaves no server or folder behind."""
    with throwaway() as server, connect(server) as connection, connection.cursor() as cursor:
        cursor.execute("select extname from pg_extension where extname = 'pgcrypto'")
        assert cursor.fetchall() == [("pgcrypto",)]
        cursor.execute("show data_directory")
        data = Path(str((cursor.fetchone() or ("",))[0]))
        assert data.is_dir()
    assert server.host == "127.0.0.1"
    assert not data.parent.exists()
    with pytest.raises(psycopg2.OperationalError):
        server.connect()


def test_the_run_wrapper_hands_the_server_to_the_command() -> None:
    """`python -m ...postgres_server COMMAND` runs COMMAND with PG* of a live server, and returns its status."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    script = "import psycopg2, sys; psycopg2.connect('').close(); sys.exit(3)"
    module = f"{PACKAGE}.warehouses.postgres_server"
    command = [sys.executable, "-m", module, "--", sys.executable, "-c", script]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 3
    # Said once, at the end: a run's published tables went with the server.
    assert result.stderr.count("everything written to it is gone") == 1
    assert result.stderr.rstrip().endswith("to keep what a run publishes.")


def test_the_run_wrapper_says_nothing_of_lost_data_on_a_server_of_yours(postgres: Server) -> None:
    """With PGHOST set the command runs against that server, which keeps its data: no such sentence."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, **postgres.environ()}
    module = f"{PACKAGE}.warehouses.postgres_server"
    command = [sys.executable, "-m", module, sys.executable, "-c", "pass"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "gone" not in result.stderr


def test_pgoptions_reach_the_session_settings_through_psycopg2(
    postgres: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key passed as libpq options, or as PGOPTIONS (how it reaches dbt's connections), is the session's
    setting; a session without it has no such setting, so mask_pii() stops rather than mask with another key."""
    with connect(postgres) as connection, connection.cursor() as cursor, pytest.raises(psycopg2.Error):
        cursor.execute("select current_setting(%s)", [PII_SETTING])
    with connect(postgres, {PII_SETTING: KEY}) as connection, connection.cursor() as cursor:
        cursor.execute("select current_setting(%s)", [PII_SETTING])
        assert cursor.fetchone() == (KEY,)
    monkeypatch.setenv("PGOPTIONS", pgoptions({PII_SETTING: KEY}))
    with connect(postgres) as connection, connection.cursor() as cursor:
        cursor.execute("select current_setting(%s)", [PII_SETTING])
        assert cursor.fetchone() == (KEY,)


@pytest.mark.parametrize("keep_email_shape", [False, True])
def test_mask_pii_on_postgres_is_pii_py_s_mask_and_keeps_masked_values(
    postgres: Server, keep_email_shape: bool
) -> None:
    """The macro's Postgres SQL gives pii.py's digest under the session's key, for clear and already-masked rows."""
    expression = _render_mask_pii("ci", "value", keep_email_shape, warehouse="postgres")
    key = KEY.encode()
    ingested = pii.mask("ann@example.com", key) or ""
    with connect(postgres, {PII_SETTING: KEY}) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"select {expression} from (values (%s), (%s), (null)) as t(value)", ["ann@example.com", ingested]
        )
        from_clear, from_masked, from_null = (row[0] for row in cursor.fetchall())
    expected = ingested.removeprefix(pii.PREFIX) + "@example.invalid" if keep_email_shape else ingested
    assert from_clear == from_masked == expected
    assert from_null is None
    assert _render_mask_pii("prod", "value", keep_email_shape, warehouse="postgres").strip() == "value"


@pytest.mark.integration
def test_an_empty_pg_variable_reaches_dbt_unset_as_a_workflow_passes_an_undefined_one(
    project: Path, postgres: Server
) -> None:
    """A GitHub job gets `vars.PGUSER` as '' where its environment does not define PGUSER: dbt must take
    profiles.yml's default user (postgres), as the pipeline's own connections do, not libpq's (the OS user)."""
    if postgres.user != "postgres":
        pytest.skip("needs a server whose user is profiles.yml's default, postgres (the throwaway one)")
    out = cli(project, "run", "--env", "ci", PGUSER="")
    assert "PUBLISHED" in out


def _schemas(prefix: str) -> dict[str, str | None]:
    """{schema: its comment} of the test's database (the PG* variables) whose name starts with `prefix`."""
    with contextlib.closing(psycopg2.connect("")) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace where starts_with(nspname, %s)",
            [prefix],
        )
        return dict(cursor.fetchall())


def _with_custom_schema(project: Path, macro: str | None = None) -> None:
    """The marts built in the custom schema `reporting` (dbt's `+schema`), through `macro` as generate_schema_name."""
    dbt_project = project / "dbt_project.yml"
    text = dbt_project.read_text(encoding="utf-8")
    dbt_project.unlink()  # a hard link to the session's example: write a file of the test's own
    marts = "    marts:\n      +materialized: table\n"
    assert marts in text
    dbt_project.write_text(text.replace(marts, marts + "      +schema: reporting\n"), encoding="utf-8")
    if macro is not None:
        (project / "macros" / "generate_schema_name.sql").write_text(macro, encoding="utf-8")


@pytest.mark.integration
def test_a_custom_schema_is_published_claimed_by_its_instance_and_dropped_with_it(project: Path) -> None:
    """The branch main is instance `dev__main`; the branch `main_reporting` is `dev__main_reporting`.
    `+schema: reporting` builds in `dev__main__audit_reporting` and publishes to `dev__main_reporting`, recorded as
    dev__main's: the branch `main_reporting`, whose instance has that name, is refused; `env drop` leaves nothing."""
    _with_custom_schema(project)
    assert "PUBLISHED" in cli(project, "run", "--env", "dev", GITHUB_HEAD_REF="main")
    schemas = _schemas("dev__main")
    assert {"dev__main", "dev__main__audit", "dev__main__raw", "dev__main__audit_reporting"} <= set(schemas)
    assert json.loads(schemas["dev__main_reporting"] or "") == {"published_by": "dev__main"}
    out = cli(project, "env", "create", "--env", "dev", expect=1, GITHUB_HEAD_REF="main_reporting")
    assert "instance dev__main publishes a custom schema there" in out and "Traceback" not in out
    cli(project, "env", "drop", "--env", "dev", GITHUB_HEAD_REF="main")
    assert _schemas("dev__main") == {}


@pytest.mark.integration
def test_publish_never_writes_into_another_instance_named_like_a_custom_schema(project: Path) -> None:
    """The branch `main_reporting` first: main's publish of its custom schema `reporting` stops, naming that
    instance, which keeps its schema empty; main's other marts stay unpublished (one transaction)."""
    _with_custom_schema(project)
    cli(project, "env", "create", "--env", "dev", GITHUB_HEAD_REF="main_reporting")
    out = cli(project, "run", "--env", "dev", expect=1, GITHUB_HEAD_REF="main")
    assert "published as schema dev__main_reporting, which is instance dev__main_reporting's" in out
    with contextlib.closing(psycopg2.connect("")) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from information_schema.tables where table_schema in ('dev__main_reporting', 'dev__main')"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.integration
def test_a_project_whose_schemas_ignore_the_instance_is_refused_before_anything_is_written(project: Path) -> None:
    """A generate_schema_name that returns a custom schema as it is (`reporting`) would have every branch build and
    publish the same schema, publish copying each table onto itself: refused after the parse, nothing written."""
    macro = textwrap.dedent("""\
{% raw %}        {% macro generate_schema_name(custom_schema_name, node) -%}
            {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
        {%- endmacro %}{% endraw %}
        """)
    _with_custom_schema(project, macro)
    out = cli(project, "run", "--env", "dev", expect=1, GITHUB_HEAD_REF="main")
    assert "outside instance dev__main" in out and "(schema reporting)" in out and "nothing was written" in out
    assert "Traceback" not in out
    assert _schemas("reporting") == {}
    with contextlib.closing(psycopg2.connect("")) as connection, connection.cursor() as cursor:
        # Refused before ingest loaded a table (the audit schema keeps the run history, which records the failure).
        cursor.execute(
            "select count(*) from information_schema.tables where table_schema in ('dev__main__raw', 'dev__main')"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.integration
def test_a_source_declared_in_a_fixed_schema_is_refused_before_ingest_loads_it(project: Path) -> None:
    """An existing project's sources name their landing schema (`schema: landing`): every branch, pull request and
    prod would load and read that one schema, a dev run replacing what prod reads. Refused after the parse."""
    sources = next((project / "models" / "staging").rglob("_*sources.yml"))
    text = sources.read_text(encoding="utf-8")
    sources.unlink()  # a hard link to the session's example: write a file of the test's own
    declared = "env_var('DBT_RAW_SCHEMA', 'raw')"
    assert declared in text
    sources.write_text(text.replace(declared, "'landing'"), encoding="utf-8")
    out = cli(project, "run", "--env", "dev", expect=1, GITHUB_HEAD_REF="main")
    assert "ingest would load" in out and "(schema landing)" in out and "outside instance dev__main" in out
    assert "Traceback" not in out
    assert _schemas("landing") == {}
