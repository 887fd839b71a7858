"""Every check and pipeline stage, for people and CI alike: `nox` runs the default set."""

from __future__ import annotations

import json
import os
{%- if cookiecutter.container == "yes" %}
import re
import shutil
import subprocess
{%- endif %}
import time
from collections import Counter
from pathlib import Path
{%- if cookiecutter.container == "yes" %}
from urllib.parse import urlsplit, urlunsplit
{%- endif %}

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Bytecode is compiled once, when a session installs (~2 s saved on every dbt start after that); compiling on
# every `uv run` instead would redo ~3,500 files each time.
ENV = {"UV_COMPILE_BYTECODE": "1"}
{%- if cookiecutter.warehouse == "postgres" %}
# The pipeline's commands need a PostgreSQL server: with PGHOST set, the one the PG* variables name; else a
# throwaway one from the machine's binaries (initdb, pg_ctl), started for the command and removed after it.
CLI = ("python", "-m", "{{ cookiecutter.package_name }}.warehouses.postgres_server", "{{ cookiecutter.project_slug }}")
{%- else %}
CLI = ("{{ cookiecutter.project_slug }}",)
{%- endif %}
{%- if cookiecutter.warehouse in ["snowflake", "bigquery", "databricks"] %}
{%- if cookiecutter.warehouse == "snowflake" %}
# The variable that says an account is configured (profiles.yml reads it and the others of its kind).
ACCOUNT_VAR = "SNOWFLAKE_ACCOUNT"
{%- elif cookiecutter.warehouse == "bigquery" %}
# The variable that says a project is configured (profiles.yml reads it; credentials are Google's defaults).
ACCOUNT_VAR = "GOOGLE_CLOUD_PROJECT"
{%- elif cookiecutter.warehouse == "databricks" %}
# The variable that says a workspace is configured (profiles.yml reads it and the others of its kind).
ACCOUNT_VAR = "DATABRICKS_HOST"
{%- endif %}
# Without an account, `nox` runs what needs none (lint, types, pytest, whose tests parse every target); dbt's unit
# tests and the dbt session build on the warehouse, so they join the default run once ACCOUNT_VAR is set.
HAS_WAREHOUSE = bool(os.environ.get(ACCOUNT_VAR))
nox.options.sessions = ["lint", "typecheck", "tests", *(["dbt"] if HAS_WAREHOUSE else [])]
{%- else %}
nox.options.sessions = ["lint", "typecheck", "tests", "dbt"]
{%- endif %}
# Mutants run in this many forked pytest processes at once: one per core (2 on CI runners).
CHILDREN = str(os.cpu_count() or 2)


def install(session: nox.Session, *groups: str, tools_only: bool = False) -> None:
    """Install exactly what uv.lock pins (the package, the dev group and `groups`) into this session's virtualenv.

    `tools_only` installs the dev group alone, without the package and its dependencies.

    `--locked` fails, naming the fix (`uv lock`), when pyproject.toml changed and uv.lock was not updated, so a
    session, CI and the image never run on versions nobody committed.
    """
    options = ["--only-group=dev"] if tools_only else ["--group=dev", *(f"--group={group}" for group in groups)]
    command = ("uv", "sync", "--locked", *options)
    env = {**ENV, "UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    # uv sync compiles every file of the environment again (~3,500, ~1 s) even when it installs nothing: sync only
    # when uv's check finds something to change.
    check = session.run_install(*command, "--check", env=env, silent=True, success_codes=[0, 1, 2])
    if "Would make no changes" not in str(check):
        session.run_install(*command, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Run every pre-commit hook (ruff, sqlfluff, YAML, secrets) on all files."""
    install(session, tools_only=True)
    # nox points UV_PYTHON at this session's venv; pre-commit-uv would then install the
    # hooks' tools there instead of into pre-commit's own hook environments.
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs, env={"UV_PYTHON": None})


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests and this file with mypy --strict."""
    install(session)
    session.run("mypy", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
{%- if cookiecutter.warehouse == "spark" %}
    """Run pytest (integration tests too with `-- --integration`, as CI=true does always), then dbt's unit tests.

    On Spark the integration tests marked slow_on_spark need `-- --spark-full` too (tests/conftest.py says why).
    """
{%- else %}
    """Run pytest (integration tests too with `-- --integration`, as CI=true does always), then dbt's unit tests."""
{%- endif %}
    install(session)
    session.run("pytest", *session.posargs, env=ENV)
{%- if cookiecutter.warehouse in ["snowflake", "bigquery", "databricks"] %}
    if not HAS_WAREHOUSE:
        session.log(f"dbt's unit tests skipped: they run on the warehouse, and {ACCOUNT_VAR} is not set.")
        return
{%- endif %}
    session.run(*CLI, "unit-test", "--env", "ci", env=ENV)


@nox.session
def dbt(session: nox.Session) -> None:
    """Build every model and run every data and unit test on the ci target."""
    install(session)
    session.run(*CLI, "run", "--env", "ci", *session.posargs, env=ENV)


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """Slim CI build on the ci target: only what changed against production state, then the report."""
    install(session)
    session.run(*CLI, "run", "--env", "ci", "--slim", *session.posargs, env=ENV)


@nox.session(default=False)
def env(session: nox.Session) -> None:
    """Manage environment instances, e.g. `nox -s env -- list` or `nox -s env -- drop --env ci`."""
    install(session)
    session.run(*CLI, "env", *(session.posargs or ["list"]), env=ENV)


@nox.session(default=False)
def pipeline(session: nox.Session) -> None:
    """Run the value pipeline; arguments go to the CLI, e.g. `nox -s pipeline -- run --env dev`."""
    install(session)
    session.run(*CLI, *(session.posargs or ["run", "--env", "dev"]), env=ENV)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the ci instance, then generate the dbt docs site from it into target/docs."""
    install(session)
    session.run(*CLI, "run", "--env", "ci", env=ENV)
    session.run(*CLI, "docs", "--env", "ci", env=ENV)


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Print a benchmark's figures: `-- NAME [ARGS]` runs benchmarks/NAME.py (`-- slim_ci`, `-- nox_sessions`, ...)."""
    install(session)
    name, *args = session.posargs or ["slim_ci"]
{%- if cookiecutter.container == "yes" %}
    if name == "container":
        engine = container_engine(session)
        base = have_base_image(session, engine)
        env = {**ENV, "CONTAINER_ENGINE": engine, "BASE_IMAGE": base}
        session.run("python", "benchmarks/container.py", *args, env=env)
        return
{%- endif %}
    session.run("python", f"benchmarks/{name}.py", *args, env=ENV)


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve uv.lock, the one lock of development, CI and the image: `-- --upgrade` takes newer versions."""
    session.run("uv", "lock", *session.posargs)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation-test the modules of [tool.mutmut] (or those named: `-- ingest state`); print a score per module."""
    install(session, "mutation")
    mutated = [Path(path) for path in PYPROJECT["tool"]["mutmut"]["only_mutate"]]
    package = mutated[0].parent.name
    modules = session.posargs or [path.stem for path in mutated]
    # mutmut runs, for each mutant, the tests that called its function in-process; a CLI started in a subprocess
    # imports the installed, unmutated package, so only in-process tests (unit tests) can kill a mutant.
    seconds: dict[str, float] = {}
    for module in modules:
        start = time.monotonic()
        session.run("mutmut", "run", "--max-children", CHILDREN, f"{package}.{module}.*", env=ENV, silent=True)
        seconds[module] = time.monotonic() - start
    print_mutation_scores(session, seconds)
    mutmut = Path(session.bin, "mutmut")
    session.log(f"Survivors: `{mutmut} results`; one of them: `{mutmut} show NAME`.")


# mutmut's exit code for each mutant (in mutants/**/*.py.meta), by what the score makes of it. A timeout counts as
# killed: the mutant made a test run past its limit. A mutant no test reaches ("no tests") counts as survived, and
# so does "other": a crashed or aborted test process (e.g. a segfault), which says nothing about the tests.
MUTANT_OUTCOMES = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 36: "timeout"}
MUTANT_OUTCOMES |= dict.fromkeys((24, -24, 152, 255), "timeout")  # SIGXCPU, as the child reports it
MUTANT_COLUMNS = ("mutants", "killed", "survived", "no tests", "timeout", "other", "score", "seconds")


def print_mutation_scores(session: nox.Session, seconds: dict[str, float]) -> None:
    """Log mutants, killed, survived, untested, timeouts, score (%) and wall time (s) of each module just run."""
    session.log(f"{'module':<24}" + "".join(f"{column:>9}" for column in MUTANT_COLUMNS))
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        module = meta.name.removesuffix(".py.meta")
        if module not in seconds:
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].values()
        count = Counter(MUTANT_OUTCOMES.get(code, "other") for code in codes)
        total = sum(count.values())
        score = 100 * (count["killed"] + count["timeout"]) / total if total else 0
        row = (total, *(count[outcome] for outcome in MUTANT_COLUMNS[1:6]), f"{score:.1f}%", f"{seconds[module]:.0f}")
        session.log(f"{module:<24}" + "".join(f"{value:>9}" for value in row))
{%- if cookiecutter.container == "yes" %}


# The step image (README, "The step image"): its name, the user it runs as, and the folders of the project a run
# writes to, mounted at /app/<name>; everything else in the container is read-only or tmpfs.
IMAGE = "{{ cookiecutter.project_slug }}:dev"
IMAGE_USER = 10001
MOUNTED = ("warehouse", "reports", "target")
PIPELINE = (("run", "--env", "ci"), ("report", "--env", "ci"))
# What the container reads from your environment, by name only (values never reach a command line or the image):
# the PII key, and what names the ci instance in a pull request, as on the host.
PASSED = ("PII_HASH_KEY", "PR_NUMBER", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_REF", "PIPELINE_INSTANCE")


@nox.session(default=False)
def container(session: nox.Session) -> None:
    """Build the step image, run the pipeline in it (`-- ARGS` runs that CLI command instead), then test the image.

    The engine is $CONTAINER_ENGINE, else docker, else podman (whichever answers `info`); $BASE_IMAGE replaces the
    Dockerfile's base image, and $SSL_CERT_FILE, when it names a file, reaches the build as a secret mount (id `ca`).
    What runs and is tested is the image this build made, by its ID: the tag IMAGE, for people, is shared with every
    other checkout of the project on the same engine, and another build can move it in between.
    """
    engine = container_engine(session)
    base = have_base_image(session, engine)
    install(session)
    iidfile = Path(session.create_tmp()) / "image-id"
    iidfile.unlink(missing_ok=True)
    start = time.monotonic()
    options = build_options(session, base)
    session.run(engine, "build", *options, f"--iidfile={iidfile}", "--tag", IMAGE, ".", external=True)
    built = time.monotonic() - start
    image = iidfile.read_text(encoding="utf-8").strip()
    inspect = [engine, "image", "inspect", "--format", "{% raw %}{{.Size}}{% endraw %}", image]
    size = subprocess.run(inspect, capture_output=True, text=True, check=False).stdout.strip()
    session.log(f"{IMAGE} ({image}): {int(size or 0) / 1e6:.0f} MB, built in {built:.1f} s with {engine}")
    options = run_options(session, engine)
    for args in [session.posargs] if session.posargs else PIPELINE:
        start = time.monotonic()
        session.run(engine, "run", *options, image, *args, external=True)
        session.log(f"{' '.join(args)} in the container: {time.monotonic() - start:.1f} s")
    test_env = {**ENV, "CONTAINER_ENGINE": engine, "CONTAINER_IMAGE": image, "BASE_IMAGE": base}
    session.run("pytest", "--container", "-m", "container", "-p", "no:cacheprovider", env=test_env)


def answers(*command: str) -> subprocess.CompletedProcess[str]:
    """`command`'s exit code and output (text), never raising: whether an engine can do something here."""
    return subprocess.run(command, capture_output=True, text=True, check=False)


def container_engine(session: nox.Session) -> str:
    """Return the engine command: $CONTAINER_ENGINE, else `docker`, else `podman`, the first whose `info` answers.

    Stops the session with one sentence naming the fix when the named engine is not on PATH or does not answer
    `info` (Docker without its daemon), when none answers, or when Docker lacks BuildKit (`docker buildx`), which
    the Dockerfile's `RUN --mount=type=secret` needs.
    """
    chosen = os.environ.get("CONTAINER_ENGINE", "").strip()
    if chosen:
        if shutil.which(chosen) is None:
            session.error(f"CONTAINER_ENGINE={chosen!r} is not a command on PATH; set it to docker or podman")
        if answers(chosen, "info").returncode != 0:
            session.error(
                f"CONTAINER_ENGINE={chosen!r} does not answer `{chosen} info` (is its daemon or service running?); "
                "start it, or set CONTAINER_ENGINE to an engine that runs here (docker or podman)"
            )
        engine = chosen
    else:
        found = [name for name in ("docker", "podman") if shutil.which(name) and answers(name, "info").returncode == 0]
        if not found:
            session.error(
                "no container engine answers here (`docker info` and `podman info` fail); start Docker or install "
                "Podman, or set CONTAINER_ENGINE to one that runs"
            )
        engine = found[0]
    is_docker = Path(engine).name == "docker" and "podman" not in answers(engine, "--version").stdout.lower()
    if is_docker and answers(engine, "buildx", "version").returncode != 0:
        session.error(
            f"`{engine} buildx version` fails: the Dockerfile's `RUN --mount=type=secret` needs BuildKit; install "
            "Docker's buildx plugin (docker-buildx-plugin), or use podman (CONTAINER_ENGINE=podman)"
        )
    return engine


def have_base_image(session: nox.Session, engine: str) -> str:
    """Make sure the engine has the image to build on ($BASE_IMAGE, else the Dockerfile's default); return its name.

    Looks for it locally (`image inspect`), else pulls it, then checks it has what the Dockerfile runs (python3 with
    venv). Stops the session with one sentence naming the image and the fix when it can be had neither way (no
    registry here, or no such image) or lacks python3.
    """
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", Path("Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    base = os.environ.get("BASE_IMAGE", "").strip() or (default[1] if default else "")
    if answers(engine, "image", "inspect", base).returncode != 0:
        session.log(f"pulling the base image {base} ...")
        pulled = answers(engine, "pull", base)
        if pulled.returncode != 0:
            reason = next((line for line in reversed(pulled.stderr.splitlines()) if line.strip()), "no reason given")
            session.error(
                f"the base image {base} is neither on this engine nor to be pulled ({reason.strip()[:300]}); set "
                'BASE_IMAGE to a local or mirrored image with python3 and python3-venv (README, "The step image")'
            )
    probe = answers(engine, "run", "--rm", "--entrypoint", "python3", base, "-c", "import ensurepip, venv")
    if probe.returncode != 0:
        reason = next((line for line in reversed(probe.stderr.splitlines()) if line.strip()), "no reason given")
        session.error(
            f"the base image {base} has no python3 with venv and ensurepip ({reason.strip()[:300]}); set BASE_IMAGE "
            'to an image with python3 and python3-venv (README, "The step image")'
        )
    return base


def build_options(session: nox.Session, base: str) -> list[str]:
    """The build's arguments: the labels' values, the base image `base` and the CA bundle secret when given."""
    revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout
    remote = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True, check=False)
    # A remote URL may carry a user name and token before its host: the label keeps only the address.
    url = urlsplit(remote.stdout.strip())
    source = urlunsplit(url._replace(netloc=url.hostname or "")) if url.scheme else remote.stdout.strip()
    # Build argument -> (OCI label, value). They go in as build arguments (the Dockerfile's interface) and again as
    # `--label`: buildah (podman 4) reuses a cached LABEL step whose build argument changed (an older commit's
    # revision was left on the image).
    labels = {
        "REVISION": ("revision", revision.strip()),
        "VERSION": ("version", PYPROJECT["project"]["version"]),
        "SOURCE_URL": ("source", source),
    }
    options = [f"--build-arg={argument}={value}" for argument, (_, value) in labels.items()]
    options += [f"--label=org.opencontainers.image.{label}={value}" for label, value in labels.values()]
    options.append(f"--build-arg=BASE_IMAGE={base}")
    ca_bundle = os.environ.get("SSL_CERT_FILE", "")
    if ca_bundle and Path(ca_bundle).is_file():
        options.append(f"--secret=id=ca,src={ca_bundle}")
    elif ca_bundle:
        session.warn(f"SSL_CERT_FILE={ca_bundle} is not a file; building without a CA bundle.")
    return options


def run_options(session: nox.Session, engine: str) -> list[str]:
    """`run`'s options for the image run contract: read-only root, tmpfs, the project's folders mounted, a user.

    As root, the container runs as the image's user and the mounted folders become that user's. Otherwise it runs
    as you, so what it writes is yours: rootless podman maps your id into the container, and rootless Docker's
    container root is you.
    """
    options = ["--rm", "--read-only", "--tmpfs=/tmp:rw,mode=1777", "--tmpfs=/app/logs:rw,mode=1777"]
    for name in MOUNTED:
        folder = Path(name).resolve()
        try:
            folder.mkdir(exist_ok=True)
            if not folder.is_dir():
                raise NotADirectoryError(20, "Not a directory", str(folder))
        except OSError as error:
            session.error(
                f"{name}/ cannot be the container's /app/{name} ({error.strerror}: {folder}); make it a folder you "
                "can write to, or remove it so the session makes one"
            )
        options.append(f"--volume={folder}:/app/{name}")
    options += [f"--env={name}" for name in PASSED if name in os.environ]
    uid = os.getuid() if hasattr(os, "getuid") else None  # Docker Desktop (Windows, macOS) maps ids itself
    if uid is None:
        return options
    if uid == 0:
        for name in MOUNTED:
            for path in [Path(name), *Path(name).rglob("*")]:
                os.chown(path, IMAGE_USER, IMAGE_USER, follow_symlinks=False)
        return options
    info = subprocess.run([engine, "info"], capture_output=True, text=True, check=False).stdout.lower()
    if engine.endswith("podman") and "rootless: true" in info:
        return [*options, "--userns=keep-id", f"--user={uid}:{os.getgid()}"]
    if "rootless" in info:
        session.log("rootless Docker: the container's root is your own user.")
        return [*options, "--user=0:0"]
    return [*options, f"--user={uid}:{os.getgid()}"]
{%- endif %}
