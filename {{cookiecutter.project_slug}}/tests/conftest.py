"""Shared fixtures: a throwaway copy of the project, so tests never touch the real warehouse.

The project is copied once per session (`Example`); tests that only read it share that copy (`example`),
tests that change or build it take `project`, a copy made of hard links to it (folders, no file bytes).

Tests marked `integration` start the pipeline in processes of its own (the whole pipeline, or a kill, lock or race
between processes) and take most of the suite's time. A developer's `nox -s tests` skips them and says so in the
summary; `nox -s tests -- --integration` runs them, and so does every CI run (CI=true).
{%- if cookiecutter.container == "yes" %}

Tests marked `container` build and run the step image with a real engine: only `--container` runs them, as
`nox -s container` does after building the image (CI=true alone does not: a runner may have no engine).
{%- endif %}
"""

from __future__ import annotations
{% if cookiecutter.warehouse == "postgres" %}
import contextlib
{%- endif %}
import functools
import json
import os
{%- if cookiecutter.warehouse in ("postgres", "spark") %}
import secrets
{%- endif %}
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import {% if cookiecutter.warehouse == "spark" %}TYPE_CHECKING, {% endif %}Any

import pytest

from {{ cookiecutter.package_name }} import config, warehouses
{%- if cookiecutter.warehouse == "postgres" %}
from {{ cookiecutter.package_name }}.sql import identifier
{%- endif %}
from {{ cookiecutter.package_name }}.warehouses import Warehouse
{%- if cookiecutter.warehouse == "postgres" %}
from {{ cookiecutter.package_name }}.warehouses.postgres_server import Server, throwaway
{%- endif %}

{%- if cookiecutter.warehouse == "spark" %}

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.config import Settings
{%- endif %}

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")
# What the CLI reads from the environment; a CI runner sets some of them, tests start clean.
ENVIRONMENT_VARIABLES = (
    "DBT_DUCKDB_PATH", "RAW_DATA_DIR", "DBT_THREADS", "PR_NUMBER", "DBT_STATE_DIR", "DBT_DEFER_DUCKDB_PATH",
    "GITHUB_REF", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "PII_HASH_KEY",
    "GITHUB_ACTIONS", "RUNNER_ENVIRONMENT", "RUNNER_TEMP", "GITHUB_WORKSPACE", "PIPELINE_ALLOW_EPHEMERAL_DUCKDB",
)  # fmt: skip

{%- if cookiecutter.include_example == "yes" and cookiecutter.warehouse in ("postgres", "spark") %}
# The same-marts tests build the example on DuckDB too: the profile a DuckDB project has, with the mask as its
# ingest step registers it.
DUCKDB_PROFILE = """
{package}:
  target: ci
  outputs:
    ci:
      type: duckdb
      path: "{path}"
      threads: 4
      plugins:
        - module: {package}.pii_plugin
          config:
            environment: ci
"""
MARTS = ("dim_customers", "fct_daily_revenue", "fct_orders")
# The figures a reader of the marts asks for first, in SQL both warehouses run.
METRICS = {
    "revenue by month": "select cast(date_trunc('month', order_date) as date) as month, sum(net_revenue) "
    "from {fct_daily_revenue} group by 1 order by 1",
    "orders by status": "select status, count(*), sum(net_amount) from {fct_orders} group by 1 order by 1",
    "customers": "select count(*), count(first_ordered_at), sum(order_count), sum(lifetime_value) from {dim_customers}",
}


def quarantine_rows(session: Any, schema: str) -> list[tuple[Any, ...]]:
    """Every row of `schema`'s quarantine on a warehouses.Session, sorted, run_id and time left out.

    (source_table, raw_file, row_number, reason, record): what any warehouse holds after ingesting the same files.
    """
    relation = session.relation(schema, "_quarantine")
    rows = session.query(f"select source_table, raw_file, row_number, reason, record from {relation}")
    return sorted(tuple(row) for row in rows)
{%- endif %}


INTEGRATION_HOW = "run them with `nox -s tests -- --integration` (CI=true runs them always)"
{%- if cookiecutter.warehouse == "snowflake" %}
# Integration tests start the pipeline, which needs the account profiles.yml names: without it they skip, saying so.
ACCOUNT_VAR = "SNOWFLAKE_ACCOUNT"
{%- elif cookiecutter.warehouse == "bigquery" %}
# Integration tests start the pipeline, which needs the project profiles.yml names: without it they skip, saying so.
ACCOUNT_VAR = "GOOGLE_CLOUD_PROJECT"
{%- elif cookiecutter.warehouse == "databricks" %}
# Integration tests start the pipeline, which needs the workspace profiles.yml names: without it they skip, saying so.
ACCOUNT_VAR = "DATABRICKS_HOST"
{%- endif %}
{%- if cookiecutter.container == "yes" %}
CONTAINER_HOW = "container test: `nox -s container` builds the image and runs it (Docker or Podman needed)"
{%- endif %}


def in_ci() -> bool:
    """Whether this is a CI run: GitHub Actions and most CI services set CI=true."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--integration", action="store_true", help="also run the tests marked integration (CI=true does too)"
    )
{%- if cookiecutter.container == "yes" %}
    parser.addoption("--container", action="store_true", help="also run the tests marked container (the step image)")
{%- endif %}
{%- if cookiecutter.warehouse == "spark" %}
    parser.addoption("--spark-full", action="store_true", help="also run the integration tests marked slow_on_spark")
{%- endif %}


def runs_integration(config: pytest.Config) -> bool:
    """Integration tests run in CI, with --integration, or when a -m expression names the marker itself."""
    return in_ci() or bool(config.getoption("--integration")) or "integration" in (config.getoption("markexpr") or "")


{% if cookiecutter.warehouse in ["snowflake", "bigquery", "databricks"] -%}
@pytest.fixture(autouse=True)
def needs_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ACCOUNT_VAR, a test that reaches the warehouse through the process environment (as the pipeline does)
    is skipped when it connects, saying which variable to set; a test that gives its own settings is not."""
    if os.environ.get(ACCOUNT_VAR):
        return
    # Imported here: the template's README test runs this conftest where the package is not installed (and then
    # nothing can connect).
    try:
        from {{ cookiecutter.package_name }}.warehouses import {{ cookiecutter.warehouse }}  # noqa: PLC0415 - see above
    except ImportError:
        return

    connect = {{ cookiecutter.warehouse }}.Dialect.connect

    def skip_or_connect(dialect: Any) -> Any:
        if dialect.environ is os.environ:
            pytest.skip(f"reaches {{ cookiecutter.warehouse }}: set {ACCOUNT_VAR} and the other variables profiles.yml reads")
        return connect(dialect)

    monkeypatch.setattr({{ cookiecutter.warehouse }}.Dialect, "connect", skip_or_connect)


{% endif -%}
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
{%- if cookiecutter.warehouse != "duckdb" %}
    # Tests of DuckDB's own files and settings (marked `duckdb`) have nothing to check in a project on another
    # warehouse; what they guard there is in tests/test_{{ "cloud_warehouse" if cookiecutter.warehouse in ["snowflake", "bigquery", "databricks"] else cookiecutter.warehouse ~ "*" }}.py.
    duckdb_only = [item for item in items if item.get_closest_marker("duckdb")]
    if duckdb_only:
        config.hook.pytest_deselected(items=duckdb_only)
        items[:] = [item for item in items if not item.get_closest_marker("duckdb")]
{%- endif %}
{%- if cookiecutter.container == "yes" %}
    if not config.getoption("--container"):
        for item in items:
            if item.get_closest_marker("container"):
                item.add_marker(pytest.mark.skip(reason=CONTAINER_HOW))
{%- endif %}
{%- if cookiecutter.warehouse in ["snowflake", "bigquery", "databricks"] %}
    if not os.environ.get(ACCOUNT_VAR):
        needs = pytest.mark.skip(reason=f"starts the pipeline on {{ cookiecutter.warehouse }}: set {ACCOUNT_VAR} and the rest")
        for item in items:
            if item.get_closest_marker("integration"):
                item.add_marker(needs)
        return
{%- endif %}
    if runs_integration(config):
{%- if cookiecutter.warehouse == "spark" %}
        leave_out_slow_on_spark(config, items)
{%- endif %}
        return
    skip = pytest.mark.skip(reason=f"integration test, skipped outside CI: {INTEGRATION_HOW}")
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(skip)


{%- if cookiecutter.warehouse == "spark" %}


# The integration tests a Spark project runs by default: the Spark seam's own, the same marts as DuckDB, the five
# write-audit-publish faults, the value pipeline's loaded and quarantined counts, and the refusals that stop before
# dbt. The others are marked slow_on_spark and run with --spark-full (SLOW_ON_SPARK says why).
SPARK_DEFAULT = (
    "test_spark.py::", "test_spark_example.py::", "test_wap.py::",
    "test_pipeline.py::test_the_value_pipeline_lands_every_valid_row_in_the_marts",
    "test_pipeline.py::test_a_broken_raw_file_stops_the_run_before_dbt",
    "test_concurrency.py::test_run_many_refuses_a_set_whose_instance_is_held",
    "test_backfill.py::test_a_backfill_range_must_be_a_real_range",
)  # fmt: skip
SLOW_ON_SPARK = (
    "slow on Spark: Spark runs each statement as a job (0.5-1.5 s), a sample `run` has ~800 of them and takes "
    "1.5-6 min on 2 cores, so the whole contract takes over an hour; `nox -s tests -- --spark-full` runs it"
)


def leave_out_slow_on_spark(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark slow_on_spark, and skip unless --spark-full, every integration test not in SPARK_DEFAULT."""
    full = config.getoption("--spark-full")
    for item in items:
        if not item.get_closest_marker("integration") or item.nodeid.split("/")[-1].startswith(SPARK_DEFAULT):
            continue
        item.add_marker(pytest.mark.slow_on_spark)
        if not full:
            item.add_marker(pytest.mark.skip(reason=SLOW_ON_SPARK))
{%- endif %}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "integration" in getattr(report, "keywords", {}) and not runs_integration(config)
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} integration tests skipped (not in CI): {INTEGRATION_HOW}", yellow=True, bold=True
        )


class Example:
    """The project's dbt files and data, copied once per session into a temp dir and shared by every test.

    Tests that only read use it as it is (`example`); tests that change or build use `project`, a copy
    whose files are hard links to these, so a copy costs folders, not bytes. A test that writes into a
    linked file writes into this shared one too: after each test, `repair` puts back every file whose
    size, mtime or mode changed before the next test starts (each pytest-xdist worker has its own copy and
    runs one test at a time).
    """

    def __init__(self, root: Path) -> None:
        self.root = copy_project(root)
        self.stats = self._stats()

    def _stats(self) -> dict[Path, tuple[int, int, int]]:
        """Relative path -> (size in bytes, mtime in ns, mode) of every file and folder."""
        return {
            path.relative_to(self.root): (info.st_size if path.is_file() else 0, info.st_mtime_ns, info.st_mode)
            for path in sorted(self.root.rglob("*"))
            for info in [path.stat()]
        }

    def repair(self) -> list[str]:
        """Put back every shared file a test changed or removed and remove what it added; return their paths."""
        now = self._stats()
        changed = sorted({str(rel) for rel in {*now, *self.stats} if now.get(rel) != self.stats.get(rel)})
        if not changed:
            return []
        shutil.rmtree(self.root)
        copy_project(self.root)
        self.stats = self._stats()
        return changed


@pytest.fixture(scope="session")
def shared_example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    return Example(tmp_path_factory.mktemp("example") / "project")


def _point_the_cli_at(folder: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("DBT_PROJECT_DIR", str(folder))
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
{%- if cookiecutter.warehouse == "postgres" %}
    request.getfixturevalue("database")  # the test's own database: its instances are schemas there
{%- elif cookiecutter.warehouse == "spark" %}
    # The session's Spark Connect server holds one metastore: the test's instances get database names of its own.
    monkeypatch.setenv("SPARK_DATABASE_PREFIX", f"t{secrets.token_hex(4)}_")
{%- endif %}


@pytest.fixture
def example(shared_example: Example, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The session's shared copy of the project, read-only, with the CLI pointed at it.

    A test that writes into it fails (and the copy is repaired): take `project` to change or build.
    """
    _point_the_cli_at(shared_example.root, monkeypatch, request)
    yield shared_example.root
    changed = shared_example.repair()
    if changed:
        pytest.fail(f"the test wrote into the shared, read-only example ({', '.join(changed)}); use `project`")


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_example: Example, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A copy of the dbt project and its data in a temp dir, with the CLI pointed at it.

    Its files are hard links to the session's example: replacing, deleting or adding files is the
    test's own business, and a file written in place is put back in the example afterwards.
    """
    copy = copy_project(tmp_path / "project", source=shared_example.root)
    _point_the_cli_at(copy, monkeypatch, request)
    yield copy
    shared_example.repair()


def copy_project(destination: Path, source: Path = PROJECT_DIR) -> Path:
    """Copy the dbt project and its data, so a test can change and build it freely.

    From the session's example (`source`), files are hard links (a plain copy where the file system has
    none); from the project itself, always copies: a test must never be able to write into the real one.
    """
    link = source != PROJECT_DIR

    def place(src: str, dst: str) -> object:
        if link:
            try:
                os.link(src, dst)
            except OSError:
                pass
            else:
                return dst
        return shutil.copy2(src, dst)

    destination.mkdir(parents=True)
    for name in DBT_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, destination / name, copy_function=place)
        elif (source / name).is_file():
            place(str(source / name), str(destination / name))
    return destination


def start(project: Path, *args: str, env: Mapping[str, str] | None = None, **environ: str) -> subprocess.Popen[str]:
    """The CLI in its own process, as on a laptop or a runner (dbt-duckdb keeps files open per process)."""
    variables = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    variables.update({"DBT_PROJECT_DIR": str(project), **(env or {}), **environ})
    return subprocess.Popen(
        [sys.executable, "-m", PACKAGE, *args],
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def cli(project: Path, *args: str, expect: int = 0, env: Mapping[str, str] | None = None, **environ: str) -> str:
    """Run the CLI to the end; fail the test, with its output, on an unexpected exit code."""
    process = start(project, *args, env=env, **environ)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == expect, out
    return out


# A dbt project around a test's own `models/` folder, for dbt to parse its sources as the pipeline does.
_PARSE_PROJECT = 'name: parsed\nversion: "1.0.0"\nprofile: parsed\nflags: {send_anonymous_usage_stats: false}\n'
_PARSE_PROFILE = "parsed:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: ':memory:'}\n"


@functools.cache
def _parse_models(files: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """dbt's manifest of a project holding exactly these (path, text) files; one parse per distinct set."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - dbt's 2 s import, only for tests that parse

    with tempfile.TemporaryDirectory(prefix="parse-") as folder:
        root = Path(folder)
        for name, text in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        if not (root / "dbt_project.yml").is_file():
            (root / "dbt_project.yml").write_text(_PARSE_PROJECT, encoding="utf-8")
            (root / "profiles.yml").write_text(_PARSE_PROFILE, encoding="utf-8")
        outcome = dbtRunner().invoke(
            ["parse", "--project-dir", folder, "--profiles-dir", folder, "--target-path", f"{folder}/target",
             "--log-path", f"{folder}/logs", "--no-partial-parse", "--quiet"]
        )  # fmt: skip
        assert outcome.success, f"dbt could not parse the test project: {outcome.exception}"
        manifest: dict[str, Any] = json.loads((root / "target" / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def parsed(project_dir: Path) -> dict[str, Any]:
    """dbt's manifest (as a dict) of the sources under `project_dir/models`, as `build.parse` gives the pipeline.

    A folder without dbt_project.yml (a unit test's tiny project) gets a minimal one; parses are cached by
    the files' text, since many tests declare the same sources.
    """
    names = ["dbt_project.yml", "profiles.yml"] if (project_dir / "dbt_project.yml").is_file() else []
    files = [project_dir / name for name in names]
    files += sorted(p for p in (project_dir / "models").rglob("*") if p.suffix in (".yml", ".yaml", ".sql"))
    for folder in ("macros",):
        files += sorted((project_dir / folder).rglob("*")) if names else []
    return _parse_models(
        tuple((p.relative_to(project_dir).as_posix(), p.read_text(encoding="utf-8")) for p in files if p.is_file())
    )


def warehouse_of(project: Path, env: str = "ci", environ: Mapping[str, str] | None = None) -> Warehouse:
    """The warehouse instance `env` of `project` as the CLI resolves it (test environment plus `environ`).

    Tests read what the pipeline wrote through it (`.session(location)`, `.snapshot()`), so the same assertion
    runs on every warehouse: DuckDB's files, Postgres's schemas.
    """
    variables = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    settings = config.resolve(env, environ={**variables, **(environ or {}), "DBT_PROJECT_DIR": str(project)})
    return warehouses.for_settings(settings)


def dbt_schema(project: Path, env: str, name: str) -> str:
    """The schema dbt recorded for the model or source table `name` in `target/<env>/manifest.json`.

    A Session names relations by it (`session.relation(schema, name)`): `main`/`raw` on DuckDB,
    `<instance>__audit`/`<instance>__raw` on Postgres. Raises KeyError when no node or source has that name.
    """
    manifest = json.loads((project / "target" / env / "manifest.json").read_text(encoding="utf-8"))
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        if node.get("alias", node.get("identifier")) == name or node["name"] == name:
            return str(node["schema"])
    raise KeyError(name)


def raw_schema(project: Path, env: str = "ci") -> str:
    """The schema of the raw tables (and `_quarantine`, `_ingest_state`) beside them: the `orders` source's."""
    return dbt_schema(project, env, "orders")
{%- if cookiecutter.warehouse == "postgres" %}


@pytest.fixture(scope="session", autouse=True)
def postgres() -> Iterator[Server]:
    """The session's PostgreSQL server: the one the PG* variables name when PGHOST is set, else a throwaway one.

    Its PG* variables are set for the whole session, so every CLI a test starts reaches it; a test that uses the
    project gets a database of its own there (`database`), so a shared server keeps other people's data.
    """
    if os.environ.get("PGHOST"):
        yield Server.from_environ(os.environ)
        return
    with throwaway() as server:
        saved = {name: os.environ.get(name) for name in server.environ()}
        os.environ.update(server.environ())
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def _own_database(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database on `server`, named to libpq and dbt by the PG* variables while the block runs; then dropped."""
    name = f"test_{secrets.token_hex(6)}"
    with connect(server) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"create database {identifier(name)}")
    for variable, value in {**server.environ(), "PGDATABASE": name}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    try:
        yield name
    finally:
        with connect(server) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute(f"drop database {identifier(name)} with (force)")


@pytest.fixture
def database(postgres: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database of this test's own on the session's server, named to libpq and dbt by the PG* variables.

    Every instance the test makes (a schema per location) lives there, so tests never see each other's
    instances, as DuckDB's tests never share a file; it is dropped afterwards. On a server PGHOST names, the
    user needs CREATEDB.
    """
    with _own_database(postgres, monkeypatch) as name:
        yield name


@pytest.fixture(scope="module")
def module_warehouse(postgres: Server) -> Iterator[str | None]:
    """A database of the test module's own, for what its module-scoped fixtures build (a shared build's instances).

    Set up before any test's own `database`, which takes over the PG* variables for that test and gives them back.
    """
    with pytest.MonkeyPatch.context() as monkeypatch, _own_database(postgres, monkeypatch) as name:
        yield name


@contextlib.contextmanager
def connect(server: Server, options: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A psycopg2 connection to `server` with session `options`, closed on exit."""
    with contextlib.closing(server.connect(options)) as connection:
        yield connection


@pytest.fixture
def schema(postgres: Server) -> Iterator[str]:
    """A schema-name prefix of this test's own; every schema whose name starts with it is dropped afterwards."""
    prefix = f"t{secrets.token_hex(4)}"
    yield prefix
    with connect(postgres) as connection, connection.cursor() as cursor:
        cursor.execute("select nspname from pg_namespace where starts_with(nspname, %s)", [prefix])
        for (name,) in cursor.fetchall():
            cursor.execute(f"drop schema {identifier(name)} cascade")
        connection.commit()
{%- else %}


@pytest.fixture(scope="module")
def module_warehouse() -> None:
    """Where the test module's module-scoped fixtures build: nothing to make here, each copy of the project keeps
    its instances in its own files (`warehouse/`); a server warehouse gives the module a database of its own.
    """
{%- endif %}
{%- if cookiecutter.warehouse == "spark" %}


@pytest.fixture(scope="session", autouse=True)
def spark_server(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The session's Spark Connect server (warehouses/spark_server.py): SPARK_REMOTE names it for the whole session.

    Every CLI a test starts, dbt and the tests' own Spark sessions are then light clients of one JVM, instead of
    starting a JVM each (10-40 s). With SPARK_REMOTE already set, that server is used. Started only when the
    integration tests run (CI=true, --integration); otherwise the few tests that reach Spark share the test
    process's own local-mode JVM, and a run of other tests pays nothing.
    """
    if os.environ.get("SPARK_REMOTE"):
        yield os.environ["SPARK_REMOTE"]
        return
    if not runs_integration(request.config):
        yield None
        return
    try:
        from {{ cookiecutter.package_name }}.warehouses.spark_server import throwaway  # noqa: PLC0415 - see spark_settings
    except ImportError:
        yield None
        return
    from {{ cookiecutter.package_name }}.warehouses import spark  # noqa: PLC0415 - see spark_settings

    with throwaway(threads=2) as server:
        os.environ.update(server.environ())  # staging and prod too reach this server (profiles.yml)
        try:
            yield server.remote
        finally:
            spark.close()  # the tests' own client, released while its server still answers
            for name in server.environ():
                os.environ.pop(name, None)


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory, spark_server: str | None) -> Settings:
    """Settings of a ci instance in a project folder of the session's own, whose folder holds the JVM's metastore.

    The session's one SparkSession (warehouses/spark.py) starts there on first use; tests use databases of their
    own names (`spark_databases`) in it.
    """
    from {{ cookiecutter.package_name }}.config import Settings  # noqa: PLC0415 - conftest loads before the package

    project = tmp_path_factory.mktemp("spark-project")
    return Settings(env="ci", name="ci", project_dir=project, duckdb_path=project / "ci.duckdb", raw_dir=project,
                    threads=2)  # fmt: skip


@pytest.fixture
def spark_databases(spark_settings: Settings) -> Iterator[str]:
    """A database-name prefix of this test's own; every database whose name starts with it is dropped afterwards."""
    from {{ cookiecutter.package_name }}.warehouses import spark  # noqa: PLC0415 - conftest loads before the package

    prefix = f"t{secrets.token_hex(4)}"
    yield prefix
    session = spark.spark_session(spark_settings)
    for database in session.catalog.listDatabases():
        if database.name.startswith(prefix):
            session.sql(f"drop database if exists {spark.relation(database.name)} cascade")
{%- endif %}
