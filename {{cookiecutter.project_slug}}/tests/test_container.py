"""The step image, built and run with a real engine: no secret in any layer, exit codes, read-only, labels, lean.

Marked `container`: only `--container` runs these, as `nox -s container` does after building the image; it passes
the engine ($CONTAINER_ENGINE) and the image it built, by ID ($CONTAINER_IMAGE). Without an image named, the tests
build one. Every image is run and inspected by its ID, never by a tag another build on the same engine could move.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from nox.project import load_toml

pytestmark = pytest.mark.container

PROJECT_DIR = Path(__file__).resolve().parents[1]
PYPROJECT = load_toml(PROJECT_DIR / "pyproject.toml")
# What a run writes, mounted at /app/<name> (the image run contract, README "The step image").
MOUNTED = ("warehouse", "reports", "target")
CONTRACT = ("--rm", "--read-only", "--tmpfs=/tmp:rw,mode=1777", "--tmpfs=/app/logs:rw,mode=1777")
TIMEOUT = 1800  # seconds: a cold build downloads every dependency


@pytest.fixture(scope="module")
def engine() -> str:
    """$CONTAINER_ENGINE, which `nox -s container` sets to the engine it chose (docker or podman)."""
    chosen = os.environ.get("CONTAINER_ENGINE", "").strip()
    if not chosen:
        pytest.fail("CONTAINER_ENGINE is not set; run these tests with `nox -s container`, which picks the engine")
    if subprocess.run([chosen, "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail(f"CONTAINER_ENGINE={chosen} does not answer `{chosen} info`; start it or name one that runs")
    return chosen


def build(engine: str, context: Path, tag: str, iidfile: Path) -> str:
    """Build `context` as the container session does ($BASE_IMAGE, the CA bundle secret, the labels' values).

    Returns the image's ID, which the tests run: `tag` (give each build its own) is only what `rmi` removes after.
    """
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    ).stdout
    values = {"revision": revision.strip(), "version": PYPROJECT["project"]["version"]}
    options = [f"--build-arg={name.upper()}={value}" for name, value in values.items()]
    options += [f"--label=org.opencontainers.image.{name}={value}" for name, value in values.items()]
    if os.environ.get("BASE_IMAGE"):
        options.append(f"--build-arg=BASE_IMAGE={os.environ['BASE_IMAGE']}")
    if Path(os.environ.get("SSL_CERT_FILE") or "/nonexistent").is_file():
        options.append(f"--secret=id=ca,src={os.environ['SSL_CERT_FILE']}")
    command = [engine, "build", *options, f"--iidfile={iidfile}", "--tag", tag, str(context)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return iidfile.read_text(encoding="utf-8").strip()


def own_tag(purpose: str) -> str:
    """A tag no other test run or checkout uses: removing it after leaves any other name of the same image alone."""
    return f"{PYPROJECT['project']['name']}:{purpose}-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def image(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ID of the image `nox -s container` built ($CONTAINER_IMAGE), else of one built here from the project."""
    if os.environ.get("CONTAINER_IMAGE"):
        yield os.environ["CONTAINER_IMAGE"]
        return
    tag = own_tag("test")
    yield build(engine, PROJECT_DIR, tag, tmp_path_factory.mktemp("image") / "image-id")
    subprocess.run([engine, "rmi", tag], capture_output=True, check=False)


def mounts(folder: Path) -> list[str]:
    """The three writable folders under `folder`, open to the image's user whatever id an engine maps it to."""
    options = []
    for name in MOUNTED:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name).chmod(0o777)
        options.append(f"--volume={folder / name}:/app/{name}")
    return options


def run(
    engine: str, image: str, *args: str, options: tuple[str, ...] = (), env: Mapping[str, str] | None = None
) -> str:
    """`args` in the image under the run contract; returns stdout and stderr, and the exit code as the last line.

    `env` reaches the container by name only, as secrets do: its values are on no command line.
    """
    variables = [f"--env={name}" for name in env or {}]
    command = [engine, "run", *CONTRACT, *options, *variables, image, *args]
    result = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    return f"{result.stdout}{result.stderr}\nexit code {result.returncode}"


def copy_tracked(destination: Path) -> Path:
    """The files git tracks (the build context a clean checkout gives), copied to `destination`."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    for name in listed.stdout.split("\0"):
        if name and (PROJECT_DIR / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, destination / name)
    return destination


def inspect(engine: str, image: str) -> dict[str, Any]:
    """The engine's description of the image (docker and podman share `Config`, `Size`)."""
    out = subprocess.run([engine, "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    described: dict[str, Any] = json.loads(out)[0]
    return described


def found_in(archive: tarfile.TarFile, needles: Mapping[str, bytes], where: str, layers: bool = True) -> Iterator[str]:
    """Each file of `archive`, and of the layers in it (tars in the saved tar), named `.env*` or holding a needle."""
    for member in archive:
        if not member.isfile():
            continue
        path = f"{where}/{member.name}"
        if Path(member.name).name.startswith(".env"):
            yield f"{path}: an .env file"
        stream = archive.extractfile(member)
        assert stream is not None
        data = stream.read()
        if layers:
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as layer:
                    yield from found_in(layer, needles, path, layers=False)
                continue
            except tarfile.TarError:
                pass
        yield from (f"{path}: holds {name}" for name, value in needles.items() if value in data)


PACKAGE = PYPROJECT["project"]["name"].replace("-", "_")
PROFILE = "shop:\n  outputs:\n    prod:\n      type: postgres\n      password: SECRET\n"
# Untracked secret files where a developer's folder may have them: at the root, and in the folders the Dockerfile
# copies, the package's too (its wheel takes whatever is there), as a new user's trial left them. SECRET: the secret.
PLANTED = {
    ".env": "WAREHOUSE_PASSWORD=SECRET\n",
    ".env.prod": "PII_HASH_KEY=SECRET\n",
    "data/.env": "SOURCE_TOKEN=SECRET\n",
    ".dbt/profiles.yml": PROFILE,
    "data/.dbt/profiles.yml": PROFILE,
    "data/profiles.yml": PROFILE,
    "data/secrets.env": "API_KEY=SECRET\n",
    "data/.npmrc": "//registry.npmjs.org/:_authToken=SECRET\n",
    "data/.git-credentials": "https://user:SECRET@git.example.com\n",  # pragma: allowlist secret
    "data/credentials.json": '{"type": "service_account", "private_key": "SECRET"}\n',  # pragma: allowlist secret
    "macros/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET\n",  # pragma: allowlist secret
    "models/.pypirc": "[pypi]\nusername = __token__\npassword = SECRET\n",
    f"src/{PACKAGE}/.pypirc": "[pypi]\nusername = __token__\npassword = SECRET\n",
    f"src/{PACKAGE}/secrets.env": "WAREHOUSE_PASSWORD=SECRET\n",
    # Files without a type in the folders the image takes (.dockerignore cannot leave them out on every engine), and a
    # credential named creds of a type the image takes.
    "models/kubeconfig": "users:\n- name: prod\n  user: {token: SECRET}\n",
    "data/raw/sample/kubeconfig": "users:\n- name: prod\n  user: {token: SECRET}\n",
    f"src/{PACKAGE}/kubeconfig": "users:\n- name: prod\n  user: {token: SECRET}\n",
    "models/bigblob": "SECRET\n",
    "data/raw/sample/prod-creds.yml": "warehouse_password: SECRET\n",
}
# Files dbt reads that a developer adds, which the image must carry as the checkout has them (WANTED: a marker).
WANTED = {
    "models/staging/extra/schema.yaml": "version: 2\n# WANTED\n",
    "snapshots/properties.yml": "version: 2\n# WANTED\n",
}


def test_no_secret_of_the_folder_or_the_run_reaches_any_layer(engine: str, tmp_path: Path) -> None:
    """Secret files planted in the build context (untracked, in the folders the image copies), and those a run
    gets, are in no layer of the saved image and in no report; the dbt files planted with them (a nested `.yaml`
    properties file, a snapshots/ folder) are in the image."""
    context = copy_tracked(tmp_path / "context")
    planted = {path: secrets.token_hex(16) for path in PLANTED}
    wanted = {path: secrets.token_hex(16) for path in WANTED}
    for path, secret in [*planted.items(), *wanted.items()]:
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        text = PLANTED[path].replace("SECRET", secret) if path in PLANTED else WANTED[path].replace("WANTED", secret)
        (context / path).write_text(text, encoding="utf-8")
    at_run = {"PII_HASH_KEY": secrets.token_hex(24), "WAREHOUSE_PASSWORD": secrets.token_hex(16)}
    tag = own_tag("secrets-test")
    built = build(engine, context, tag, tmp_path / "image-id")
    try:
        out = run(engine, built, "run", "--env", "ci", options=tuple(mounts(tmp_path / "run")), env=at_run)
        assert out.endswith("exit code 0"), out[-3000:]
        archive = tmp_path / "image.tar"
        saved = subprocess.run(
            [engine, "save", "--output", str(archive), built], capture_output=True, text=True, check=False
        )
        assert saved.returncode == 0, saved.stderr
    finally:
        subprocess.run([engine, "rmi", tag], capture_output=True, check=False)
    needles = {name: value.encode() for name, value in {**planted, **at_run}.items()}
    markers = {name: value.encode() for name, value in wanted.items()}
    with tarfile.open(archive) as saved_image:
        leaks = sorted(set(found_in(saved_image, needles, "image")))
    with tarfile.open(archive) as saved_image:
        present = {found.rsplit(": holds ", 1)[1] for found in found_in(saved_image, markers, "image")}
    assert not leaks, leaks
    assert present == set(WANTED), f"not in the image: {sorted(set(WANTED) - present)}"
    outputs = [path for path in (tmp_path / "run" / "reports").rglob("*") if path.is_file()]
    assert outputs, "the run wrote no report into the mounted reports/"
    leaks = [f"{path}: {name}" for path in outputs for name, value in needles.items() if value in path.read_bytes()]
    assert not leaks, leaks


# A dbt singular test that always returns a row: severity error, so the run must fail and say which check failed.
FAILING_TEST = "-- returns one row: always fails\nselect 1 as failing_row\n"


def test_a_failing_check_fails_the_container_run(engine: str, image: str, tmp_path: Path) -> None:
    data_tests = tmp_path / "data_tests"
    shutil.copytree(PROJECT_DIR / "data_tests", data_tests)
    (data_tests / "assert_the_container_reports_failures.sql").write_text(FAILING_TEST, encoding="utf-8")
    options = (*mounts(tmp_path), f"--volume={data_tests}:/app/data_tests:ro")
    out = run(engine, image, "run", "--env", "ci", options=options)
    assert not out.endswith("exit code 0"), out[-3000:]
    assert "assert_the_container_reports_failures" in out, out[-3000:]


PROBE = """
import os
for path in ("/app/probe", "/opt/venv/probe", "/etc/probe"):
    try:
        open(path, "w").close()
    except OSError as error:
        print(path, error.errno)
open("/tmp/probe", "w").close()
print("uid", os.getuid(), "home", os.environ["HOME"])
"""


def test_the_root_filesystem_is_read_only_and_the_user_not_root(engine: str, image: str, tmp_path: Path) -> None:
    out = run(engine, image, "-c", PROBE, options=("--entrypoint=python3", *mounts(tmp_path)))
    assert out.splitlines() == [
        "/app/probe 30",
        "/opt/venv/probe 30",
        "/etc/probe 30",
        "uid 10001 home /tmp",
        "",
        "exit code 0",
    ]
    assert inspect(engine, image)["Config"]["User"] == "10001:10001"


def test_the_labels_name_the_source_revision_and_version(engine: str, image: str) -> None:
    labels = inspect(engine, image)["Config"]["Labels"]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    prefix = "org.opencontainers.image."
    assert labels[f"{prefix}title"] == PYPROJECT["project"]["name"]
    assert labels[f"{prefix}version"] == PYPROJECT["project"]["version"]
    assert labels[f"{prefix}revision"] == head
    assert f"{prefix}source" in labels


# Paths no run-time image needs: installers, their caches, compilers, and the build stage's own folders.
NOT_IN_THE_IMAGE = ("/bin/uv", "/bin/pip", "/bin/pip3", "/bin/gcc", "/bin/cc", "/bin/make", "/bin/g++")
NO_FOLDER = (".cache/uv/", ".cache/pip/", "opt/uv/", "src/pyproject.toml")


def test_the_image_holds_no_installer_cache_or_build_tool(engine: str, image: str, tmp_path: Path) -> None:
    created = subprocess.run([engine, "create", image], capture_output=True, text=True, check=True).stdout.strip()
    exported = tmp_path / "filesystem.tar"
    try:
        subprocess.run([engine, "export", "--output", str(exported), created], capture_output=True, check=True)
    finally:
        subprocess.run([engine, "rm", created], capture_output=True, check=False)
    with tarfile.open(exported) as filesystem:
        names = ["/" + name.lstrip("./") for name in filesystem.getnames()]
    assert any(name.endswith("/opt/venv/bin/python") for name in names), "not the step image's file system"
    unwanted = [name for name in names if name.endswith(NOT_IN_THE_IMAGE) or any(part in name for part in NO_FOLDER)]
    assert not unwanted, unwanted
