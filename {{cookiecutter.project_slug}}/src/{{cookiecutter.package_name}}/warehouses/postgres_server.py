"""A throwaway PostgreSQL server from the machine's own binaries, for the tests and for local runs.

`throwaway()` makes a cluster with `initdb` in a new temporary folder, starts it with `pg_ctl start -w` on a
free TCP port of 127.0.0.1 (its unix socket in the same folder), yields its settings as libpq's `PG*`
variables (`Server.environ`), and on exit stops it and removes the folder. It needs `initdb` and `pg_ctl`:
on PATH, or in Debian's `/usr/lib/postgresql/<version>/bin` (`apt-get install postgresql`).

PostgreSQL refuses to run as root. Under root the cluster belongs to the `postgres` OS user (Debian's package
makes it), and initdb and pg_ctl run as that user (`subprocess.run(..., user=...)`). pytest-postgresql
cannot do this (it runs pg_ctl as the current user: its issues #341 and #455), hence this module.

`python -m <package>.warehouses.postgres_server COMMAND...` runs COMMAND with the `PG*` variables of a
throwaway server (the one running while COMMAND runs), says once at the end that its data is gone (GONE, on
stderr), and exits with COMMAND's status; with PGHOST already set it runs COMMAND against that server
instead. The nox sessions of a Postgres project use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PipelineError

# The OS user that owns the cluster when we run as root (Debian's postgresql package creates it).
SERVER_USER = "postgres"
# The superuser initdb creates, and the database every cluster starts with.
SUPERUSER = "postgres"
DATABASE = "postgres"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
# A private test server needs no durability: the folder is deleted on exit anyway.
SERVER_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "listen_addresses=127.0.0.1")
# The server trusts local connections and never checks a password; one is given all the same, because prod and
# staging profiles read PGPASSWORD with no default (and dlt, say, refuses a connection string without one).
UNCHECKED_PASSWORD = "unchecked-trust-auth"  # noqa: S105  # pragma: allowlist secret
START_ATTEMPTS = 3  # a free port found by bind() can be taken by someone else before pg_ctl binds it


@dataclass(frozen=True)
class Server:
    """Where a PostgreSQL server listens and whom to connect as: libpq's connection settings."""

    host: str
    port: int
    user: str = SUPERUSER
    database: str = DATABASE
    password: str = ""

    def environ(self) -> dict[str, str]:
        """The libpq environment variables of this server (PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
        }

    def connect(self, options: Mapping[str, str] | None = None) -> Any:
        """A new psycopg2 connection to this server (the caller closes it), with `options` as session settings.

        `options` reach the session as PGOPTIONS would pass them (see `pgoptions`). Raises psycopg2.Error.
        """
        import psycopg2  # noqa: PLC0415 - dbt-postgres's driver: only what talks to a server needs it

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.database,
            options=pgoptions(options) if options else None,
        )  # fmt: skip

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Server:
        """The server named by `PG*` variables, with libpq's defaults for those unset (PGHOST must be set)."""
        return cls(
            host=environ["PGHOST"],
            port=int(environ.get("PGPORT") or 5432),
            user=environ.get("PGUSER") or SUPERUSER,
            database=environ.get("PGDATABASE") or DATABASE,
            password=environ.get("PGPASSWORD", ""),
        )


def pgoptions(settings: Mapping[str, str]) -> str:
    """The libpq options text (PGOPTIONS) that sets each of `settings` for a session: `-c name=value ...`.

    Spaces and backslashes in a value are escaped with a backslash, as libpq reads them.
    """
    escaped = {name: value.replace("\\", "\\\\").replace(" ", "\\ ") for name, value in settings.items()}
    return " ".join(f"-c {name}={value}" for name, value in escaped.items())


def binaries(path: str | None = None) -> Path:
    """The folder of `initdb` and `pg_ctl`: PATH first (`path` overrides it), then Debian's newest version.

    Raises PipelineError naming the package to install when neither holds them.
    """
    found = shutil.which("pg_ctl", path=path)
    if found and shutil.which("initdb", path=str(Path(found).parent)):
        return Path(found).parent
    versions = sorted(
        (folder for folder in DEBIAN_BINARIES.glob("*/bin") if (folder / "initdb").is_file()),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    raise PipelineError(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql; "
        "install them (`apt-get install postgresql`, `brew install postgresql`), or set PGHOST to use your own server."
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _owner() -> str | None:
    """The OS user that runs server commands: SERVER_USER under root, else None (the current user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PipelineError(
            f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user to run it as; "
            f"create one (`useradd --system {SERVER_USER}`) or run the tests as another user."
        ) from None
    return SERVER_USER


def _run(command: Sequence[str], folder: Path) -> None:
    """Run one server command in `folder` as the cluster's owner; PipelineError with its output on failure."""
    owner = _owner()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False, user=owner, group=owner)
    if result.returncode != 0:
        output = " ".join((result.stderr or result.stdout).split())[-600:]
        raise PipelineError(f"{Path(command[0]).name} failed ({output}); see {folder}/server.log if it exists.")


# Where throwaway clusters live: short (a unix socket path is at most 107 bytes) and enterable by every user.
SOCKET_BASE = "/tmp"  # noqa: S108 - mkdtemp makes a private folder of a random name inside it


@contextlib.contextmanager
def throwaway(bin_dir: Path | None = None) -> Iterator[Server]:
    """Start a private PostgreSQL cluster in a new temporary folder; stop it and remove the folder on exit.

    The folder is made by `tempfile.mkdtemp` under /tmp (SOCKET_BASE), not $TMPDIR: the server's unix socket
    path must stay under 107 bytes, and when running as root the `postgres` user must be able to enter the
    folder, which it cannot under pytest's root-only temp folders. It is given to the cluster's owner.
    Authentication is `trust` for local connections: the server listens on 127.0.0.1 and a socket in the folder
    only. pgcrypto is created in the database (mask_pii() calls its hmac()). Raises PipelineError when the
    binaries are missing or the server won't start.
    """
    bin_dir = bin_dir or binaries()
    folder = Path(tempfile.mkdtemp(prefix="pg-", dir=SOCKET_BASE if Path(SOCKET_BASE).is_dir() else None))
    data = folder / "data"
    try:
        owner = _owner()
        if owner:
            shutil.chown(folder, user=owner, group=owner)
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            folder,
        )
        server = _start(bin_dir, folder, data)
        try:
            _prepare(server)
            yield server
        finally:
            _stop(bin_dir, folder, data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _start(bin_dir: Path, folder: Path, data: Path) -> Server:
    """Start the cluster on a free port, trying another port when one was taken meanwhile."""
    problem: PipelineError | None = None
    for _ in range(START_ATTEMPTS):
        port = free_port()
        options = " ".join(["-p", str(port), "-k", str(folder), *(f"-c {option}" for option in SERVER_OPTIONS)])
        try:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options,
                  "-w", "start"], folder)  # fmt: skip
        except PipelineError as error:
            problem = error
            continue
        return Server(host="127.0.0.1", port=port, password=UNCHECKED_PASSWORD)
    raise problem or PipelineError("pg_ctl start was not tried")


def _stop(bin_dir: Path, folder: Path, data: Path) -> None:
    """Stop the cluster at once (its data is thrown away, so no checkpoint is needed)."""
    with contextlib.suppress(PipelineError):
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], folder)


def _prepare(server: Server) -> None:
    """Create what the project's SQL needs (pgcrypto, for hmac()) in the database and in template1.

    template1 gives it to every database made later (the tests make one each).
    """
    for database in (server.database, "template1"):
        settings = dataclasses.replace(server, database=database)
        with contextlib.closing(settings.connect()) as connection, connection.cursor() as cursor:
            cursor.execute("create extension if not exists pgcrypto")
            connection.commit()


# Said once, after the command, when it ran against a throwaway server: nothing it wrote outlives the server.
GONE = (
    "The throwaway PostgreSQL server has stopped and everything written to it is gone; "
    "set PGHOST (and the other PG* variables) to a server of yours to keep what a run publishes."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command with the PG* settings of a throwaway server, or of the one PGHOST names; return its status."""
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print(f"usage: python -m {__spec__.name if __spec__ else __name__} COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("PGHOST"):
        return subprocess.run(command, check=False).returncode
    try:
        with throwaway() as server:
            status = subprocess.run(command, env={**os.environ, **server.environ()}, check=False).returncode
    except PipelineError as error:
        print(error, file=sys.stderr)
        return 1
    print(GONE, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
