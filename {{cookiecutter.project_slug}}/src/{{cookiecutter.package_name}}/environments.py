"""Environment instances: list, create and drop the isolated instances of branches and pull requests.

An instance is a published location (what consumers read), its audit location (where the pipeline
builds and checks), its dbt artifacts and its run reports. dev is one instance per git branch, ci one
per pull request; staging and prod are shared, so dropping them takes an explicit flag. What an
instance is in the warehouse (a DuckDB file, a schema) is the warehouse's: each function here asks
`warehouses.for_settings(settings)`.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from . import warehouses
from .config import MAX_NAME, Settings
from .errors import PipelineError
from .locking import instance_lock
from .warehouses import Instance

__all__ = ["Instance", "check_folders", "create", "drop", "format_instances", "list_instances", "record"]


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


def record(settings: Settings) -> None:
    """Record who this instance belongs to (`{"instance", "env", "owner"}`), where `env list` reads it.

    Called by every command that writes the instance (`run`, `ingest`, `env create`, ...); DuckDB writes it
    beside the database, to a temporary file renamed over it, so a reader never sees half of it. Raises
    PipelineError when that cannot be written (the run could not write its database there either).
    """
    warehouses.for_settings(settings).record_owner()


def list_instances(project_dir: Path, shared: list[Settings] | None = None) -> list[Instance]:
    """Every environment instance that exists: the project's dev and ci ones, plus the shared ones given."""
    return warehouses.list_instances(project_dir, shared or [])


def create(settings: Settings) -> tuple[str, bool]:
    """Create the instance's locations (idempotent): the published one and its audit copy.

    Returns where it lives (`ci_pr_12.duckdb`, a schema's name) and whether anything was made (False: it
    existed already). Holds the instance's run lock. Raises PipelineError when a run holds the instance or
    another process holds one of its locations.
    """
    warehouse = warehouses.for_settings(settings)
    with instance_lock(settings, "env create", run_id="env-create"):
        made = warehouse.create()
    return warehouse.where(), made


def refuse_shared(env: str, where: str | None = None) -> PipelineError:
    """The refusal to drop staging or prod without --allow-shared; `where` names its location when known."""
    place = f" ({where})" if where else ""
    return PipelineError(
        f"refusing to drop the shared '{env}' environment{place}; add --allow-shared if you really mean it."
    )


def drop(settings: Settings, allow_shared: bool = False) -> bool:
    """Drop the instance's locations and artifacts; refuse staging and prod unless told otherwise.

    Holds the instance's run lock: raises PipelineError while a run holds the instance.
    """
    warehouse = warehouses.for_settings(settings)
    if settings.is_shared and not allow_shared:
        raise refuse_shared(settings.env, warehouse.where())
    with instance_lock(settings, "env drop", run_id="env-drop"):  # never from under a running pipeline
        dropped = warehouse.drop()
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
