"""Environment instances: list, create and drop the isolated databases of branches and pull requests.

An instance is a published database (what consumers read), its audit database (where the
pipeline builds and checks), its dbt artifacts and its run reports.

dev is one DuckDB file per git branch, ci one per pull request; staging and prod are
shared, so dropping them takes an explicit flag. Each function works on the DuckDB file
of an instance; a server warehouse would drop a schema here instead (the seam is
`_drop_database`).
"""

from __future__ import annotations

import glob
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .config import WAREHOUSE_DIR, Settings
from .errors import PipelineError
from .locking import database_in_use, instance_lock


@dataclass(frozen=True)
class Instance:
    name: str
    env: str
    path: Path
    size_bytes: int


def _env_of(name: str) -> str:
    if name.startswith("dev__"):
        return "dev"
    if name == "ci" or name.startswith("ci_pr_"):
        return "ci"
    return "other"


def list_instances(project_dir: Path, shared: list[Settings] | None = None) -> list[Instance]:
    """Every environment instance with a database: local files, plus shared ones given."""
    found = {
        path.resolve(): Instance(path.stem, _env_of(path.stem), path.resolve(), path.stat().st_size)
        for path in sorted((project_dir / WAREHOUSE_DIR).glob("*.duckdb"))
        if not path.stem.endswith("__audit")  # the audit copy belongs to its instance
    }
    for settings in shared or []:
        if settings.duckdb_path.is_file():
            found[settings.duckdb_path] = Instance(
                settings.name, settings.env, settings.duckdb_path, settings.duckdb_path.stat().st_size
            )
    return sorted(found.values(), key=lambda instance: (instance.env, instance.name))


def create(settings: Settings) -> Path:
    """Create the instance's databases (idempotent): the published one and its audit copy.

    Holds the instance's run lock. Raises PipelineError when a run holds the instance or another
    process holds one of its files.
    """
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with instance_lock(settings, "env create", run_id="env-create"):
        try:
            with duckdb.connect(str(settings.audit_path)) as con:
                con.execute("create schema if not exists raw")
            if not settings.duckdb_path.is_file():  # an existing one may be open in a reader: leave it be
                duckdb.connect(str(settings.duckdb_path)).close()
        except duckdb.Error as error:
            raise database_in_use(error) or PipelineError(f"could not create {settings.name}: {error}") from error
    return settings.duckdb_path


def _drop_database(path: Path) -> bool:
    existed = path.exists()
    # The file, its write-ahead log, and a copy a killed publish left behind (see publish.py).
    copies = path.parent.glob(f".{glob.escape(path.name)}.*.publishing*")
    for leftover in (path, path.with_name(path.name + ".wal"), *copies):
        leftover.unlink(missing_ok=True)
    return existed


def drop(settings: Settings, allow_shared: bool = False) -> bool:
    """Drop the instance's database and artifacts; refuse staging and prod unless told otherwise.

    Holds the instance's run lock: raises PipelineError while a run holds the instance.
    """
    if settings.is_shared and not allow_shared:
        raise PipelineError(
            f"refusing to drop the shared '{settings.env}' environment ({settings.duckdb_path}); "
            "add --allow-shared if you really mean it."
        )
    with instance_lock(settings, "env drop", run_id="env-drop"):  # never from under a running pipeline
        dropped = _drop_database(settings.duckdb_path)
        dropped = _drop_database(settings.audit_path) or dropped
        for folder in (settings.target_dir, settings.log_dir, settings.reports_dir):
            shutil.rmtree(folder, ignore_errors=True)
    return dropped


def format_instances(instances: list[Instance]) -> str:
    if not instances:
        return "no environment has a database yet; `run` or `env create` makes one."
    lines = [f"{'env':<8} {'instance':<40} {'size':>10}  path"]
    lines += [f"{i.env:<8} {i.name:<40} {i.size_bytes / 1e6:>8.1f} MB  {i.path}" for i in instances]
    return "\n".join(lines)
