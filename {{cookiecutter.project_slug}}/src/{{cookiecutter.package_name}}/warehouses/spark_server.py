"""A throwaway Spark Connect server from pyspark's own jars, so many processes share one JVM.

Without it every process that reaches Spark starts a JVM of its own (warehouses/spark.py, local mode): about
10-40 s each. `throwaway()` starts one Spark Connect server (`spark-submit --class ...SparkConnectServer`, the
jar ships in pyspark's wheel) on a free TCP port of 127.0.0.1, with its Derby metastore and its tables' files
in a new temporary folder, waits until it accepts connections, yields its address (`Server.remote`, an
`sc://` URL), and on exit stops it and removes the folder. A process with `SPARK_REMOTE` set to that URL gets a
Spark Connect session from `SparkSession.builder.getOrCreate()` (dbt-spark's `session` method and
warehouses/spark.py both call it): a light gRPC client, no JVM of its own.

One server holds one metastore, so every instance on it is a set of databases in the same catalog; processes
that must not see each other's instances set `SPARK_DATABASE_PREFIX` (the tests give each test its own).

`python -m <package>.warehouses.spark_server COMMAND...` runs COMMAND with `SPARK_REMOTE` naming a throwaway
server (the one running while COMMAND runs) and exits with COMMAND's status; with SPARK_REMOTE already set it
runs COMMAND against that server instead. Needs Java 17 (`java` on PATH or JAVA_HOME).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError

REMOTE_VAR = "SPARK_REMOTE"
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# How long a server may take to listen: a JVM start and Spark's init take 10-30 s on a loaded 2-core machine.
START_SECONDS = 180
LOG = "server.log"


@dataclass(frozen=True)
class Server:
    """Where a Spark Connect server listens: 127.0.0.1:`port`; `folder` holds its metastore, tables and log."""

    port: int
    folder: Path

    @property
    def remote(self) -> str:
        """The server's Spark Connect URL, the value of SPARK_REMOTE: `sc://127.0.0.1:<port>`."""
        return f"sc://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The variable that points a process, every target, at this server: SPARK_REMOTE."""
        return {REMOTE_VAR: self.remote}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spark_submit() -> tuple[Path, Path]:
    """(pyspark's folder, its bin/spark-submit); PipelineError with a sentence when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: PLC0415 - only where a server is started
    except ImportError:
        raise PipelineError("pyspark is not installed; run `uv sync` (dbt-spark[session] brings it).") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise PipelineError(
            "Spark needs Java 17 and `java` is not on PATH; install a JRE 17 (openjdk-17-jre-headless)."
        )
    home = Path(pyspark.__file__).resolve().parent
    return home, home / "bin" / "spark-submit"


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def throwaway(threads: int = 2) -> Iterator[Server]:
    """Start a Spark Connect server (local[`threads`]) in a new temporary folder; stop it and remove the folder on exit.

    Raises PipelineError when pyspark or Java is missing, or when the server does not listen within START_SECONDS
    (the message names its log's last line).
    """
    home, submit = spark_submit()
    folder = Path(tempfile.mkdtemp(prefix="spark-connect-"))
    port = free_port()
    metastore = f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true"
    derby = f"-Dderby.system.home={folder} -Dderby.stream.error.file={folder / 'derby.log'}"
    command = [
        str(submit), "--master", f"local[{max(1, threads)}]", "--class", CONNECT_CLASS,
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.sql.warehouse.dir={folder / 'spark-warehouse'}",
        "--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL={metastore}",
        "--conf", f"spark.driver.extraJavaOptions={derby}",
        "--conf", "spark.sql.catalogImplementation=hive",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", "spark.sql.parquet.inferTimestampNTZ.enabled=false",
        # Small data, a few cores: one task per shuffle, and only warnings in the log (INFO logs every task).
        "--conf", "spark.sql.shuffle.partitions=1",
        "--conf", "spark.log.level=WARN",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.sources.partitionOverwriteMode=dynamic",
        "spark-internal",
    ]  # fmt: skip
    log = (folder / LOG).open("wb")
    process = subprocess.Popen(
        command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)},
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                lines = (folder / LOG).read_text(encoding="utf-8", errors="replace").strip().splitlines()
                raise PipelineError(
                    f"the Spark Connect server did not start ({lines[-1] if lines else 'no output'}); check Java 17."
                )
            time.sleep(0.5)
        yield Server(port=port, folder=folder)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command with SPARK_REMOTE naming a throwaway server, or the one already set; return its status."""
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print(f"usage: python -m {__spec__.name if __spec__ else __name__} COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get(REMOTE_VAR):
        return subprocess.run(command, check=False).returncode
    try:
        with throwaway(threads=os.cpu_count() or 1) as server:
            return subprocess.run(command, env={**os.environ, **server.environ()}, check=False).returncode
    except PipelineError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
