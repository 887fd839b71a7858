"""One writer per environment instance, and a plain sentence when another process holds a database.

Every command that writes an instance (run, ingest, build, backfill, unit-test, docs, env create,
env drop; run-many takes it per parameter set) first takes the instance's run lock: an OS file
lock (`filelock`, flock on Unix) on the instance's local lock file (`Warehouse.lock_path`; DuckDB:
`<database>.lock` beside the published database, e.g. `warehouse/dev__main.lock`). A second command
on the same instance is refused at once, with a sentence naming the holder's run id, pid and command,
read from `<lock>.json` beside it, which the holder writes after taking the lock. The OS drops the
lock when its process ends, however it ends (SIGKILL included), so a killed run never blocks the
next one; its stale `.lock.json` is simply overwritten by the next holder.

The warehouse may refuse a second process too (DuckDB: one writer per file, and any reader blocks a
writer); its implementation turns that into one sentence (`warehouses.InUse`), and `ensure_writable`
asks for it before any work starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from . import warehouses
from .config import Settings
from .errors import PipelineError


def lock_path(settings: Settings) -> Path:
    """The instance's run lock (`Warehouse.lock_path`): instances that share a location share their lock."""
    return warehouses.for_settings(settings).lock_path


def holder_path(settings: Settings) -> Path:
    """Who holds the run lock (JSON: run_id, pid, command, started_at UTC ISO 8601), written by the holder."""
    path = lock_path(settings)
    return path.with_name(f"{path.name}.json")


def _holder(settings: Settings) -> str:
    try:
        holder = json.loads(holder_path(settings).read_text(encoding="utf-8"))
        run_id, pid, command, since = holder["run_id"], holder["pid"], holder["command"], holder["started_at"]
        return f"run {run_id} (pid {pid}, command `{command}`, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process that has not recorded its run id yet"


@contextmanager
def instance_lock(settings: Settings, command: str, run_id: str) -> Iterator[None]:
    """Hold the instance's run lock for the block; refuse at once if another process holds it.

    Raises PipelineError naming the holder's run id, pid and command (from `<lock>.json`).
    Refusing rather than waiting: a run that waited would build from raw data that was current
    when it started but may be stale by the time it gets the instance, and CI jobs have no one to
    tell that they are waiting.
    """
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise PipelineError(
            f"instance {settings.name} is in use by {_holder(settings)}; "
            "wait for it to finish (or stop that process), then run again."
        ) from None
    try:
        holder = {
            "run_id": run_id,
            "pid": os.getpid(),
            "command": command,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        staged = holder_path(settings).with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(json.dumps(holder), encoding="utf-8")
        staged.replace(holder_path(settings))  # whole or absent, never half-written for a reader
        yield
    finally:
        with suppress(OSError):
            holder_path(settings).unlink()
        lock.release()


def ensure_writable(settings: Settings) -> None:
    """Open the instance's audit location for writing once, so a holder is named before any work starts.

    Raises warehouses.InUse (a PipelineError naming the holder) when another process holds it.
    """
    warehouses.for_settings(settings).ensure_writable()
