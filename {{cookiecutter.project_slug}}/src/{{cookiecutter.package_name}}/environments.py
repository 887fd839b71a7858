"""Environment instances: list, create and drop the isolated databases of branches and pull requests.

An instance is a published database (what consumers read), its audit database (where the
pipeline builds and checks), its dbt artifacts and its run reports.

dev is one DuckDB file per git branch, ci one per pull request; staging and prod are
shared, so dropping them takes an explicit flag. Each function works on the DuckDB file
of an instance; a server warehouse would drop a schema here instead (the seam is
`_drop_database`).
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .config import AUDIT_SUFFIX, MAX_NAME, WAREHOUSE_DIR, Settings
from .errors import PipelineError
from .locking import database_in_use, instance_lock


@dataclass(frozen=True)
class Instance:
    """One instance as `env list` shows it; `owner` is who it belongs to (`branch 'feat/a'`), or `?`."""

    name: str
    env: str
    path: Path
    size_bytes: int
    owner: str = "?"


def check_folders(settings: Settings, folders: dict[str, Path] | None = None) -> None:
    """Check that each folder a run of `settings` writes to can be written (or made), without writing anything.

    `folders` maps what goes there to the folder; by default the instance's run reports (`reports/<instance>`),
    dbt artifacts (`target/<instance>`) and dbt logs (`logs/<instance>`). Called before a run writes anything, so
    a folder it cannot write (a read-only checkout, a mount the step image's user does not own) stops it with one
    sentence instead of a traceback from dbt or the report halfway through. It looks at the folder, or the nearest
    of its parents that exists, and creates nothing: concurrent runs (`run-many`) share the parents, and a refused
    run leaves no trace. Raises PipelineError naming the folder, the reason and the fix.
    """
    if folders is None:
        folders = {
            "run reports": settings.reports_dir,
            "dbt artifacts": settings.target_dir,
            "dbt logs": settings.log_dir,
        }
    for what, folder in folders.items():
        existing = next(path for path in (folder, *folder.parents) if path.exists() or path.is_symlink())
        if not existing.is_dir():
            reason = errno.ENOTDIR
        elif not os.access(existing, os.W_OK | os.X_OK):
            reason = errno.EROFS if os.statvfs(existing).f_flag & os.ST_RDONLY else errno.EACCES
        else:
            continue
        raise PipelineError(
            f"cannot write in {folder} ({os.strerror(reason)}); the run writes its {what} there: make the folder "
            "writable for this user (for the step image, by its user 10001, or run it with --user)."
        )


def owner_path(database: Path) -> Path:
    """The JSON file beside an instance's database that records whose instance it is."""
    return database.with_name(f"{database.stem}.owner.json")


def record(settings: Settings) -> None:
    """Write who this instance belongs to beside its database (`{"instance", "env", "owner"}` as JSON).

    Called by every command that writes the instance (`run`, `ingest`, `env create`, ...); written to a
    temporary file and renamed, so a reader never sees half of it. Raises PipelineError when the
    database's folder cannot be written (the run could not write its database there either).
    """
    target = owner_path(settings.duckdb_path)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    document = {"instance": settings.name, "env": settings.env, "owner": settings.owner}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(document, ensure_ascii=True) + "\n", encoding="utf-8")
        partial.replace(target)
    except OSError as error:
        raise PipelineError(
            f"cannot write in {target.parent} ({error.strerror}); the database's folder must be a writable folder."
        ) from None


def _owner(database: Path) -> str:
    try:
        document = json.loads(owner_path(database).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "?"  # made before owners were recorded, or by hand
    return str(document.get("owner") or "?") if isinstance(document, dict) else "?"


def _env_of(name: str) -> str:
    if name.startswith("dev__"):
        return "dev"
    if name == "ci" or name.startswith("ci_pr_"):
        return "ci"
    return "other"


def list_instances(project_dir: Path, shared: list[Settings] | None = None) -> list[Instance]:
    """Every environment instance with a database: local files, plus shared ones given."""
    found = {
        path.resolve(): Instance(path.stem, _env_of(path.stem), path.resolve(), path.stat().st_size, _owner(path))
        for path in sorted((project_dir / WAREHOUSE_DIR).glob("*.duckdb"))
        if not path.stem.endswith(AUDIT_SUFFIX)  # the audit copy belongs to its instance
    }
    for settings in shared or []:
        if settings.duckdb_path.is_file():
            found[settings.duckdb_path] = Instance(
                settings.name,
                settings.env,
                settings.duckdb_path,
                settings.duckdb_path.stat().st_size,
                _owner(settings.duckdb_path),
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
    for leftover in (path, path.with_name(path.name + ".wal"), owner_path(path), *copies):
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
    """One line per instance: env, name, whose it is (branch or pull request), size in MB, path."""
    if not instances:
        return "no environment has a database yet; `run` or `env create` makes one."
    owners = max(len("belongs to"), *(len(i.owner) for i in instances))
    lines = [f"{'env':<8} {'instance':<{MAX_NAME}} {'belongs to':<{owners}} {'size':>10}  path"]
    lines += [
        f"{i.env:<8} {i.name:<{MAX_NAME}} {i.owner:<{owners}} {i.size_bytes / 1e6:>8.1f} MB  {i.path}"
        for i in instances
    ]
    return "\n".join(lines)
