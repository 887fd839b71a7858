"""The step image runs under one contract everywhere: compose.yaml, the Kubernetes CronJob and CI's run-in-image.

The contract (README, "The image in CI, compose and Kubernetes"): the Dockerfile's non-root USER, a read-only root,
tmpfs at /tmp and /app/logs, and /app/warehouse, /app/reports and /app/target mounted; secrets reach the container by
name, as environment variables at run time. Each file is also checked against its own schema: the Compose
specification (check-jsonschema's vendored copy) and Kubernetes' OpenAPI schemas (kubernetes-validate, strict).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = (PROJECT_DIR / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = PROJECT_DIR / "compose.yaml"
CRONJOB = PROJECT_DIR / "deploy" / "kubernetes" / "cronjob.yaml"
RUN_IN_IMAGE = PROJECT_DIR / ".github" / "run-in-image.sh"
PROFILES = PROJECT_DIR / "profiles.yml"
DEPLOY = PROJECT_DIR / ".github" / "workflows" / "deploy.yml"

# Paths inside the container, not on this machine.
TMP = "/tmp"  # noqa: S108
TMPFS = {TMP, "/app/logs"}
MOUNTS = {"/app/warehouse", "/app/reports", "/app/target"}
WRITABLE = TMPFS | MOUNTS


def tool(name: str) -> str:
    """A command-line tool of the dev dependency group, from this virtualenv."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it comes with the dev dependency group")
    return found


def run(command: list[str]) -> tuple[int, str]:
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def dockerfile_user() -> tuple[int, int]:
    """The uid and gid of the Dockerfile's last USER (`USER 10001:10001`)."""
    users = re.findall(r"^USER (\d+):(\d+)\s*$", DOCKERFILE, re.MULTILINE)
    assert users, "the Dockerfile's USER is not numeric uid:gid"
    uid, gid = users[-1]
    return int(uid), int(gid)


def dockerfile_workdir() -> str:
    workdirs = re.findall(r"^WORKDIR (\S+)\s*$", DOCKERFILE, re.MULTILINE)
    return str(workdirs[-1])


def compose_service() -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["pipeline"]
    return service


def cronjob() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRONJOB.read_text(encoding="utf-8"))
    return document


def prod_settings() -> dict[str, bool]:
    """The variables profiles.yml's prod target reads, each with whether it has a default there.

    Leaves out what the CLI sets itself (DBT_SCHEMA, the instance) and DBT_THREADS (a tuning knob).
    """
    profiles = yaml.safe_load(PROFILES.read_text(encoding="utf-8"))
    (profile,) = profiles.values()
    settings: dict[str, bool] = {}
    for value in profile["outputs"]["prod"].values():
        for name, default in re.findall(r"env_var\('(\w+)'(\s*,)?", str(value)):
            settings[name] = bool(default)
    return {name: default for name, default in settings.items() if name not in {"DBT_SCHEMA", "DBT_THREADS"}}


def deploy_secrets() -> set[str]:
    """The variables deploy.yml takes from its GitHub environments' secrets (the rest come from variables)."""
    return set(re.findall(r"^\s*(\w+): \$\{\{ secrets\.\1 \}\}", DEPLOY.read_text(encoding="utf-8"), re.MULTILINE))


def interpolate_defaults(text: str) -> str:
    """Compose's `${NAME:-default}` as it reads with NAME unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


# --- The contract itself, as the Dockerfile states it ---


def test_every_writable_path_is_the_working_directory_or_tmp() -> None:
    """The writable paths are the project folder's own (WORKDIR) plus /tmp, where HOME points when it is set."""
    workdir = dockerfile_workdir()
    named = {f"{workdir}/{name}" for name in ("logs", "warehouse", "reports", "target")}
    assert WRITABLE - {TMP} == named
    homes = re.findall(r"\bHOME=(\S+)", DOCKERFILE)
    assert all(home in TMPFS for home in homes), homes


# --- compose.yaml ---


def test_compose_yaml_follows_the_compose_specification() -> None:
    status, output = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert status == 0, output


def test_the_compose_check_catches_a_file_that_breaks_the_specification(tmp_path: Path) -> None:
    """The schema check can fail: `readonly` is not a key Compose has (the container would run writable)."""
    broken = COMPOSE.read_text(encoding="utf-8").replace("read_only: true", "readonly: true")
    (tmp_path / "compose.yaml").write_text(broken, encoding="utf-8")
    status, output = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(tmp_path / "compose.yaml")]
    )
    assert status != 0 and "'readonly' was unexpected" in output, output


def test_compose_runs_the_image_under_the_contract() -> None:
    service = compose_service()
    assert service["build"]["context"] == "."
    assert service["build"]["args"] == ["BASE_IMAGE"]  # from the shell by name, else the Dockerfile's default
    assert tuple(int(part) for part in interpolate_defaults(service["user"]).split(":")) == dockerfile_user()
    assert service["read_only"] is True
    assert {entry.split(":")[0] for entry in service["tmpfs"]} == TMPFS
    volumes = [volume.split(":") for volume in service["volumes"]]
    assert {target for _, target in volumes} == MOUNTS
    assert all(source == "./" + target.rsplit("/", 1)[1] for source, target in volumes)
    assert service["command"] == ["run", "--env", "dev"]


def test_compose_names_no_project_so_each_checkout_has_its_own_volumes() -> None:
    """A fixed `name:` made two checkouts share containers and volumes: `down --volumes` in one wiped the other's."""
    assert "name" not in yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


# What compose.yaml writes as values: where a service of its own listens. Never a secret (PGPASSWORD goes by name).
{%- if cookiecutter.warehouse == "postgres" %}
SERVICE_SETTINGS = {"PGHOST": "postgres", "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": "postgres"}
{%- else %}
SERVICE_SETTINGS: dict[str, str] = {}
{%- endif %}


def test_compose_passes_settings_by_name_only() -> None:
    """`- NAME` takes the value from the shell: no value, secret or not, is written into the file.

    The one exception is where a service of the file itself listens (SERVICE_SETTINGS).
    """
    environment = compose_service()["environment"]
    assert isinstance(environment, list) and environment
    named = [entry for entry in environment if "=" not in entry]
    assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", entry) for entry in named), environment
    assert dict(entry.split("=", 1) for entry in environment if "=" in entry) == SERVICE_SETTINGS
    assert "PII_HASH_KEY" in named
{%- if cookiecutter.warehouse == "postgres" %}
    assert "PGPASSWORD" in named


def test_compose_runs_the_pipeline_against_its_own_postgres_once_it_answers() -> None:
    """PGHOST names the `postgres` service; the pipeline waits for its health check; its data is a named volume."""
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    postgres = document["services"][SERVICE_SETTINGS["PGHOST"]]
    assert compose_service()["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert postgres["image"].startswith("postgres:")
    check = postgres["healthcheck"]["test"]
    assert check[:2] == ["CMD", "pg_isready"]
    # Over TCP: the image's first-start server listens on its socket only, and a socket check passes too soon.
    assert "-h" in check and not check[check.index("-h") + 1].startswith("/"), check
    assert "ports" not in postgres  # trust auth: reachable from the project's network only
    assert [volume.split(":")[0] for volume in postgres["volumes"]] == list(document["volumes"])
{%- endif %}


# --- deploy/kubernetes/cronjob.yaml ---


def test_the_cronjob_follows_the_kubernetes_schemas() -> None:
    status, output = run([tool("kubernetes-validate"), "--strict", str(CRONJOB)])
    assert status == 0, output


def test_the_kubernetes_check_catches_a_misspelt_field(tmp_path: Path) -> None:
    broken = CRONJOB.read_text(encoding="utf-8").replace("readOnlyRootFilesystem", "readOnlyRootFileSystem")
    (tmp_path / "cronjob.yaml").write_text(broken, encoding="utf-8")
    status, output = run([tool("kubernetes-validate"), "--strict", str(tmp_path / "cronjob.yaml")])
    assert status != 0 and "readOnlyRootFileSystem" in output, output


def test_the_cronjob_runs_one_step_at_a_time_and_never_retries_in_place() -> None:
    spec = cronjob()["spec"]
    assert cronjob()["kind"] == "CronJob"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int) and job["backoffLimit"] <= 3
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    steps = [(container["name"], container["args"]) for container in pod["initContainers"] + pod["containers"]]
    assert steps == [("run", ["run", "--env", "prod"]), ("report", ["report", "--env", "prod"])]


def test_the_cronjob_runs_the_image_under_the_contract() -> None:
    pod = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    uid, gid = dockerfile_user()
    security = pod["securityContext"]
    assert (security["runAsNonRoot"], security["runAsUser"], security["runAsGroup"]) == (True, uid, gid)
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        writable = {
            mount["mountPath"]: volumes[mount["name"]]
            for mount in container["volumeMounts"]
            if not mount.get("readOnly")
        }
        assert set(writable) == WRITABLE, container["name"]
        assert all("emptyDir" in writable[path] for path in TMPFS)
        assert all("persistentVolumeClaim" in writable[path] for path in MOUNTS)
        read_only = [mount for mount in container["volumeMounts"] if mount.get("readOnly")]
        assert all(volumes[mount["name"]]["persistentVolumeClaim"]["readOnly"] is True for mount in read_only)


def test_the_cronjob_takes_the_prod_settings_by_reference_as_deploy_yml_does() -> None:
    """Every variable the prod target reads reaches both steps by reference: from the Secret what deploy.yml takes
    from its environment's secrets, from the ConfigMap the rest; optional exactly where profiles.yml has a default.
    No value is written in the manifest but the raw folder's mount path."""
    settings = prod_settings()
    assert settings, "profiles.yml's prod target reads no variable"
    secrets = deploy_secrets()
    pod = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in pod["initContainers"] + pod["containers"]:
        env = {item["name"]: item for item in container["env"]}
        assert set(env) == {*settings, "RAW_DATA_DIR"}, container["name"]
        for name, has_default in settings.items():
            kind = "secretKeyRef" if name in secrets else "configMapKeyRef"
            reference = env[name]["valueFrom"][kind]
            assert reference["key"] == name, name
            assert reference.get("optional", False) is has_default, name
        literal = {name for name, item in env.items() if "value" in item}
        assert literal == {"RAW_DATA_DIR"}
        mounts = {mount["mountPath"] for mount in container["volumeMounts"] if mount.get("readOnly")}
        assert env["RAW_DATA_DIR"]["value"] in mounts


# --- CI: .github/run-in-image.sh, what pipeline.yml and deploy.yml run when PIPELINE_IMAGE is set ---


def test_ci_runs_the_image_under_the_same_contract() -> None:
    """The script's flags name the same tmpfs and mounts (the template's tests run it with a fake docker)."""
    script = RUN_IN_IMAGE.read_text(encoding="utf-8")
    assert "--read-only" in script
    assert set(re.findall(r"--tmpfs ([^\s:]+)", script)) == TMPFS
    assert set(re.findall(r"target=(/app/\w+)\"", script)) == MOUNTS
