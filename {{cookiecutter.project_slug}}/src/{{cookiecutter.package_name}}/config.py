"""Paths and environment resolution: the only module that reads environment variables."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import PipelineError

ENVIRONMENTS = ("dev", "ci", "staging", "prod")
SHARED_ENVIRONMENTS = ("staging", "prod")

# Settings the environments read. dev and ci have safe defaults; staging and prod
# must be given explicitly so that nothing shared is ever written by accident.
DUCKDB_PATH_VAR = "DBT_DUCKDB_PATH"
RAW_DATA_DIR_VAR = "RAW_DATA_DIR"
THREADS_VAR = "DBT_THREADS"
PROJECT_DIR_VAR = "DBT_PROJECT_DIR"
PR_NUMBER_VAR = "PR_NUMBER"
# Names one more isolated instance of an environment (`run-many` gives each parameter set one).
INSTANCE_VAR = "PIPELINE_INSTANCE"
# Slim CI: the production manifest to compare against, and the production database to defer to.
STATE_DIR_VAR = "DBT_STATE_DIR"
DEFER_DUCKDB_PATH_VAR = "DBT_DEFER_DUCKDB_PATH"
DEFER_DATABASE_VAR = "DBT_DEFER_DATABASE"
# Fault injection for the write-audit-publish tests only (e.g. kill-during-publish); never set it elsewhere.
FAULT_VAR = "PIPELINE_FAULT"

SAMPLE_DIR = Path("data") / "raw" / "sample"
WAREHOUSE_DIR = Path("warehouse")


@dataclass(frozen=True)
class Settings:
    """Where one environment reads raw data and builds its tables."""

    env: str
    name: str
    project_dir: Path
    duckdb_path: Path
    raw_dir: Path
    threads: int
    state_dir: Path | None = None
    defer_path: Path | None = None
    fault: str = ""

    @property
    def audit_path(self) -> Path:
        """Write-audit-publish: everything is built and checked here; consumers read `duckdb_path`.

        `<stem>__audit.duckdb` beside the published file. dbt-duckdb names the database after the
        file's stem and writes that name into SQL text unquoted, so a stem that is not a plain
        identifier (`o'brien`, a crafted $DBT_DUCKDB_PATH) becomes a readable, safe one plus a short
        hash of the exact stem: the path stays a path, and two different stems never share a file.
        """
        stem = self.duckdb_path.stem
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stem):
            stem = f"{sanitize(stem)}_{hashlib.sha256(stem.encode()).hexdigest()[:8]}"
        return self.duckdb_path.with_name(f"{stem}__audit.duckdb")

    @property
    def reports_dir(self) -> Path:
        """One folder per run of this instance: JUnit XML, markdown, HTML, JSON."""
        return self.project_dir / "reports" / self.name

    @property
    def target_dir(self) -> Path:
        """Dbt artifacts (manifest, run results) of this environment instance, never shared."""
        return self.project_dir / "target" / self.name

    @property
    def log_dir(self) -> Path:
        return self.project_dir / "logs" / self.name

    @property
    def is_shared(self) -> bool:
        return self.env in SHARED_ENVIRONMENTS

    def dbt_env(self) -> dict[str, str]:
        """The variables profiles.yml reads, as this environment resolves them."""
        values = {DUCKDB_PATH_VAR: str(self.audit_path), THREADS_VAR: str(self.threads)}
        if self.defer_path is not None:
            # DuckDB defers across files only when the production file is attached under its own name.
            values[DEFER_DUCKDB_PATH_VAR] = str(self.defer_path)
            values[DEFER_DATABASE_VAR] = self.defer_path.stem
        return values


def sanitize(name: str, max_length: int = 40) -> str:
    """Turn a branch name into a safe file or schema name: `feat/New-Thing` -> `feat_new_thing`."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:max_length].strip("_")
    return cleaned or "detached"


def current_branch(project_dir: Path, environ: Mapping[str, str]) -> str:
    """The git branch being worked on; CI's checkout is detached, so its variables win."""
    for var in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        if environ.get(var):
            return environ[var]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "local"
    branch = result.stdout.strip()
    return "detached" if branch == "HEAD" else branch


def pr_number(environ: Mapping[str, str]) -> str | None:
    """The pull request being built: $PR_NUMBER, or GitHub's `refs/pull/<n>/merge` ref."""
    number = environ.get(PR_NUMBER_VAR, "").strip()
    if not number:
        match = re.fullmatch(r"refs/pull/(\d+)/merge", environ.get("GITHUB_REF", ""))
        number = match[1] if match else ""
    if number and not number.isdigit():
        raise PipelineError(f"{PR_NUMBER_VAR}='{number}' must be a pull request number, e.g. 42.")
    return number or None


def instance_name(env: str, project_dir: Path, environ: Mapping[str, str]) -> str:
    """The isolated instance of an environment: dev per branch, ci per pull request."""
    if env == "dev":
        return f"dev__{sanitize(current_branch(project_dir, environ))}"
    if env == "ci":
        number = pr_number(environ)
        return f"ci_pr_{number}" if number else "ci"
    return env


def find_project_dir(start: Path, environ: Mapping[str, str]) -> Path:
    """The dbt project root: $DBT_PROJECT_DIR, or the nearest folder up with dbt_project.yml."""
    if environ.get(PROJECT_DIR_VAR):
        return Path(environ[PROJECT_DIR_VAR]).resolve()
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    raise PipelineError(
        f"no dbt_project.yml in {start} or any folder above it; "
        f"run this from inside the project or set {PROJECT_DIR_VAR}."
    )


def _required(environ: Mapping[str, str], var: str, env: str, example: str) -> str:
    value = environ.get(var, "").strip()
    if not value:
        raise PipelineError(
            f"environment '{env}' needs {var}, which is not set; "
            f"export {var}={example} (dev and ci have defaults, {env} does not)."
        )
    return value


def resolve(
    env: str,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    raw_dir: Path | None = None,
) -> Settings:
    """Settings for `env`, read from the environment with defaults for dev and ci only."""
    environ = os.environ if environ is None else environ
    if env not in ENVIRONMENTS:
        raise PipelineError(f"unknown environment '{env}'; use one of {', '.join(ENVIRONMENTS)}.")
    project_dir = find_project_dir(cwd or Path.cwd(), environ)

    name = environ.get(INSTANCE_VAR, "").strip() or instance_name(env, project_dir, environ)
    if not re.fullmatch(r"[a-z0-9_]{1,80}", name):
        raise PipelineError(f"{INSTANCE_VAR}='{name}' must be lowercase letters, digits and underscores.")
    if env in SHARED_ENVIRONMENTS:
        duckdb_path = Path(_required(environ, DUCKDB_PATH_VAR, env, f"/data/{env}.duckdb"))
        if raw_dir is None:
            raw_dir = Path(_required(environ, RAW_DATA_DIR_VAR, env, "/data/raw"))
    else:
        duckdb_path = Path(environ.get(DUCKDB_PATH_VAR) or WAREHOUSE_DIR / f"{name}.duckdb")
        if raw_dir is None:
            raw_dir = Path(environ.get(RAW_DATA_DIR_VAR) or SAMPLE_DIR)
    state_dir = environ.get(STATE_DIR_VAR, "").strip()
    defer_path = environ.get(DEFER_DUCKDB_PATH_VAR, "").strip()
    # dbt-duckdb writes the attach alias (the file's stem) into its ATTACH statement unquoted.
    if defer_path and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", Path(defer_path).stem):
        raise PipelineError(
            f"{DEFER_DUCKDB_PATH_VAR}='{defer_path}' must name a file whose name before .duckdb is letters, "
            "digits and underscores (it becomes the database name), e.g. /data/prod.duckdb."
        )

    threads_text = environ.get(THREADS_VAR, "4")
    if not threads_text.isdigit() or int(threads_text) < 1:
        raise PipelineError(f"{THREADS_VAR}='{threads_text}' must be a whole number >= 1, e.g. 4.")

    return Settings(
        env=env,
        name=name,
        project_dir=project_dir,
        duckdb_path=(project_dir / duckdb_path).resolve(),
        raw_dir=(project_dir / raw_dir).resolve(),
        threads=int(threads_text),
        state_dir=(project_dir / state_dir).resolve() if state_dir else None,
        defer_path=(project_dir / defer_path).resolve() if defer_path else None,
        fault=environ.get(FAULT_VAR, "").strip(),
    )
