"""One writer per environment instance, and a plain sentence when another process holds a database.

Every command that writes an instance (run, ingest, build, backfill, unit-test, docs, env create,
env drop; run-many takes it per parameter set) first takes the instance's run lock: an OS file
lock (`filelock`, flock on Unix) on `<database>.lock` beside the published database, e.g.
`warehouse/dev__main.lock`. A second command on the same instance is refused at once, with a
sentence naming the holder's run id, pid and command, read from `<database>.lock.json`, which the
holder writes after taking the lock. The OS drops the lock when its process ends, however it ends
(SIGKILL included), so a killed run never blocks the next one; its stale `.lock.json` is simply
overwritten by the next holder.

DuckDB itself lets one process write a file, and any reader blocks a writer (`IOException: Could
not set lock on file`): `database_in_use` turns that error into one sentence naming the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

from .config import Settings
from .errors import PipelineError

# DuckDB's message when another process holds the file: `Could not set lock on file "<path>": ...`.
_DUCKDB_LOCKED = re.compile(r'Could not set lock on file "(?P<path>.+?)": (?:.*\(PID (?P<pid>\d+)\))?')


def lock_path(settings: Settings) -> Path:
    """The instance's run lock: beside its published database, so shared files share their lock."""
    return settings.duckdb_path.with_name(f"{settings.duckdb_path.stem}.lock")


def holder_path(settings: Settings) -> Path:
    """Who holds the run lock (JSON: run_id, pid, command, started_at UTC ISO 8601), written by the holder."""
    return settings.duckdb_path.with_name(f"{settings.duckdb_path.stem}.lock.json")


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

    Raises PipelineError naming the holder's run id, pid and command (from `<database>.lock.json`).
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


def database_in_use(error: BaseException | None) -> PipelineError | None:
    """DuckDB's "Could not set lock on file" as one sentence naming the file; None for any other error."""
    match = _DUCKDB_LOCKED.search(str(error))
    if not isinstance(error, duckdb.Error) or match is None:
        return None
    holder = f"pid {match['pid']}, " if match["pid"] else ""
    return PipelineError(
        f"{match['path']} is open in another process ({holder}e.g. a BI tool or notebook); "
        "close the other connection or wait, then run again."
    )


def ensure_writable(database: Path) -> None:
    """Open `database` for writing once and close it, so a holder is named before any work starts.

    Raises PipelineError (via `database_in_use`) when another process holds the file.
    """
    if not database.is_file():
        return
    try:
        duckdb.connect(str(database)).close()
    except duckdb.Error as error:
        refusal = database_in_use(error)
        if refusal is None:
            raise
        raise refusal from None
