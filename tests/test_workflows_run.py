"""The baked workflows run, every step, on this machine: from a feature branch's pull request to production.

tests/workflow_runner.py plays GitHub: it runs each job's steps with the environment a runner sets, maps
each action to a local equivalent and fakes `gh` over its own runs and artifacts. The fast tests here
check the runner itself, and run deploy.yml and pipeline.yml with PIPELINE_IMAGE set (`docker` a fake that
plays the container); the slow one walks the branch flow of the baked README: deploy main to staging and
production, open a pull request (its CI defers to the production manifest), build and run the image, run
the pipeline by hand, close the pull request.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from container_engine import engine_and_base
from test_workflows import FAKE_DOCKER, IMAGE, MOUNTS, TMPFS, docker_run
from workflow_runner import (
    Environment,
    Event,
    ExpressionError,
    Runner,
    RunResult,
    UnsupportedWorkflow,
    condition,
    evaluate,
    interpolate,
)

from conftest import TEMPLATE, bake, git

PR = 17
FEATURE = "feature/customer-notes"
TEMPLATE_WORKFLOWS = TEMPLATE / "{{cookiecutter.project_slug}}" / ".github" / "workflows"


# --- The runner itself (fast) ---

CONTEXT: dict[str, Any] = {
    "github": {"event": {"pull_request": {"number": PR}}, "ref": "refs/heads/main", "token": "ghs_x"},
    "inputs": {"environment": "", "vars": "start_date=2025-01-01"},
    "secrets": {"DBT_DUCKDB_PATH": "/data/prod.duckdb"},
    "vars": {"RAW_DATA_DIR": "/data/raw"},
    "matrix": {"session": "lint"},
    "steps": {"nox": {"outcome": "failure", "outputs": {"version": "3.11"}}},
    "runner": {"os": "Linux"},
    "env": {},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.event.pull_request.number", PR),
        ("${{ github.token }}", "ghs_x"),
        ("secrets.DBT_DUCKDB_PATH", "/data/prod.duckdb"),
        ("secrets.MISSING", None),
        ("vars.RAW_DATA_DIR", "/data/raw"),
        ("inputs.environment || 'prod'", "prod"),
        ("(inputs.environment || 'prod') == 'prod' && 'production' || 'staging'", "production"),
        ("matrix.session == 'lint'", True),
        ("matrix.session == 'typecheck'", False),
        ("steps.nox.outcome != 'skipped'", True),
        ("steps.python.outputs.version", None),
        ("steps['nox'].outputs.version", "3.11"),
        ("github.ref == 'REFS/HEADS/MAIN'", True),  # strings compare ignoring case
        ("'1' == 1", True),
        ("!contains('lint typecheck', 'TESTS')", True),
        ("startsWith(github.ref, 'refs/heads/')", True),
        ("format('{0}-{1}', runner.os, 3)", "Linux-3"),
        ("hashFiles('nothing-matches') == ''", True),
    ],
)
def test_the_evaluator_reads_what_the_workflows_write(expression: str, expected: Any) -> None:
    assert evaluate(expression, CONTEXT, {"hashFiles": lambda *_: ""}) == expected


def test_templates_keep_a_whole_expressions_type_and_join_several_into_text() -> None:
    assert interpolate("${{ github.event.pull_request.number }}", CONTEXT) == PR
    assert interpolate("pr-${{ github.event.pull_request.number }}-${{ runner.os }}", CONTEXT) == "pr-17-Linux"
    assert interpolate({"env": ["${{ inputs.vars }}"]}, CONTEXT) == {"env": ["start_date=2025-01-01"]}


@pytest.mark.parametrize("expression", ["fromage('x')", "github.", "a ==", "unknown_context.x", "'open"])
def test_the_evaluator_refuses_what_it_cannot_read(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, CONTEXT)


@pytest.mark.parametrize(
    ("expression", "failed", "expected"),
    [
        (None, False, True),
        (None, True, False),
        ("matrix.session == 'lint'", True, False),  # an implicit success() &&
        ("always()", True, True),
        ("always() && steps.nox.outcome != 'skipped'", True, True),
        ("failure()", True, True),
        ("${{ failure() }}", False, False),
    ],
)
def test_an_if_without_a_status_function_also_needs_success(
    expression: str | None, failed: bool, expected: bool
) -> None:
    functions = {"success": lambda: not failed, "failure": lambda: failed, "always": lambda: True}
    assert condition(expression, CONTEXT, functions) is expected


SAMPLE = """\
name: sample
on: [push]
defaults:
  run:
    shell: bash
env:
  LEVEL: workflow
jobs:
  first:
    strategy:
      matrix:
        flavour: [a, b]
    runs-on: ubuntu-latest
    steps:
      - id: out
        run: |
          echo "word=hello" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=carried" >> "$GITHUB_ENV"
          echo "# summary of ${{ matrix.flavour }}" >> "$GITHUB_STEP_SUMMARY"
      - id: use
        env:
          WORD: ${{ steps.out.outputs.word }}
        run: test "$WORD/$FROM_ENV/$LEVEL/$CI/$GITHUB_REF" = "hello/carried/workflow/true/refs/heads/main"
      - id: only-b
        if: matrix.flavour == 'b'
        run: echo b
      - id: pipefail
        run: false | true
      - id: after
        run: echo never
      - id: report
        if: always()
        env:
          OUTCOME: ${{ steps.pipefail.outcome }}
        run: test "$OUTCOME" = failure
      - id: handled
        if: failure()
        run: echo handled
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""


PUSH = Event("push", "refs/heads/main", "0" * 40)


def sample_runner(tmp_path: Path, workflow: str, name: str = "sample.yml") -> tuple[Runner, Path, Event]:
    """A runner over a workspace that is not a repository: enough for workflows without checkout."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    path = repo / ".github" / "workflows" / name
    path.write_text(workflow, encoding="utf-8")
    return Runner(repo, tmp_path / "runner"), path, PUSH


def test_the_runner_honours_if_outputs_env_and_matrix(tmp_path: Path) -> None:
    runner, path, event = sample_runner(tmp_path, SAMPLE)
    run = runner.run(path, event)
    outcomes = {
        job.matrix.get("flavour", job.job_id): {step.id: step.outcome for step in job.steps} for job in run.jobs
    }
    expected = {"out": "success", "use": "success", "pipefail": "failure", "after": "skipped"}
    expected |= {"report": "success", "handled": "success"}
    assert outcomes == {
        "a": {**expected, "only-b": "skipped"},
        "b": {**expected, "only-b": "success"},
        "second": {},
    }, run.report()
    assert [job.result for job in run.jobs] == ["failure", "failure", "skipped"]
    assert run.job("first", flavour="b").summary == "# summary of b\n"
    assert run.conclusion == "failure"


TEMP_PROBE = """\
name: probe
on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - id: temp
        run: python3 -c 'import tempfile; print("dir=" + tempfile.gettempdir())' >> "$GITHUB_OUTPUT"
"""


def test_a_jobs_temp_folder_is_the_runners_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's pytest never shares `<TMPDIR>/pytest-of-<user>` with the test run driving the runner, which it
    would prune: the job's TMPDIR is its runner's temp folder, as on a hosted runner."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "outer"))
    runner, path, event = sample_runner(tmp_path, TEMP_PROBE)

    run = runner.run(path, event)

    assert run.conclusion == "success", run.report()
    assert run.job("probe").step("temp").outputs["dir"] == str(runner.home / "temp")


@pytest.mark.parametrize(
    "step",
    ["uses: actions/some-action@v1", "uses: actions/cache@v4\n        with: {path: x, key: k, typo: 1}"],
    ids=["unknown-action", "unknown-input"],
)
def test_the_runner_stops_at_an_action_it_cannot_stand_in_for(tmp_path: Path, step: str) -> None:
    workflow = f"on: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n      - {step}\n"
    runner, path, event = sample_runner(tmp_path, workflow)
    with pytest.raises(UnsupportedWorkflow):
        runner.run(path, event)


def test_the_runner_refuses_an_event_the_workflow_does_not_listen_to(tmp_path: Path) -> None:
    runner, path, _ = sample_runner(tmp_path, SAMPLE)
    with pytest.raises(UnsupportedWorkflow, match="does not run on pull_request"):
        runner.run(path, Event("pull_request", f"refs/pull/{PR}/merge", "0" * 40, {"action": "opened"}))


UPLOAD = """\
name: deploy
on: push
jobs:
  production:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p target/prod && echo '{}' > target/prod/manifest.json && touch target/prod/.hidden
      - uses: actions/upload-artifact@v4
        with:
          name: prod-manifest
          path: target/prod/manifest.json
          if-no-files-found: error
      - id: missing
        uses: actions/upload-artifact@v4
        with:
          name: nothing
          path: target/nowhere/
          if-no-files-found: error
"""


def test_the_fake_gh_hands_the_last_deploys_manifest_to_the_ci_fetch_step(tmp_path: Path) -> None:
    """The build job's own fetch script, against runs this runner recorded: none yet, a failed one, a good one."""
    ci = yaml.safe_load((TEMPLATE_WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
    fetch = next(step for step in ci["jobs"]["build"]["steps"] if "gh run download" in step.get("run", ""))
    check = {"if": "always()", "run": 'echo "state=${DBT_STATE_DIR:-none}" >> "$GITHUB_OUTPUT"', "id": "check"}
    workflow = {"on": "pull_request", "jobs": {"build": {"runs-on": "ubuntu-latest", "steps": [fetch, check]}}}
    runner, deploy_path, push = sample_runner(tmp_path, UPLOAD, "deploy.yml")
    ci_path = deploy_path.with_name("ci.yml")
    ci_path.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    opened = Event(
        "pull_request", f"refs/pull/{PR}/merge", "0" * 40, {"action": "opened"}, head_ref="f", base_ref="main"
    )

    def fetched() -> str:
        run = runner.run(ci_path, opened)
        assert run.conclusion == "success", run.report()
        return run.job("build").step("check").outputs["state"]

    assert fetched() == "none"  # no deploy yet
    deploy = runner.run(deploy_path, push)
    # The upload with if-no-files-found: error failed the run, so gh does not list it as a success...
    assert deploy.job("production").step("missing").outcome == "failure"
    assert fetched() == "none"
    # ...and once a deploy succeeds, its manifest (and not the hidden file) reaches state/prod.
    deploy_path.write_text(UPLOAD.split("      - id: missing")[0], encoding="utf-8")
    deploy = runner.run(deploy_path, push)
    assert deploy.conclusion == "success", deploy.report()
    assert sorted(p.name for p in runner.artifact(deploy.run_id, "prod-manifest").iterdir()) == ["manifest.json"]
    assert fetched() == "state/prod"
    assert (runner.workspace / "state" / "prod" / "manifest.json").is_file()


WHERE = """\
name: where
on: push
jobs:
  probe:
    runs-on: ${{ vars.PIPELINE_RUNNER || 'self-hosted' }}
    steps:
      - id: where
        env:
          CONTEXT: ${{ runner.environment }}
        run: echo "runner=$RUNNER_ENVIRONMENT/$CONTEXT" >> "$GITHUB_OUTPUT"
"""


@pytest.mark.parametrize(
    ("variables", "expected"),
    [({}, "self-hosted/self-hosted"), ({"PIPELINE_RUNNER": "ubuntu-24.04"}, "github-hosted/github-hosted")],
    ids=["self-hosted", "github-hosted"],
)
def test_the_runner_plays_the_runner_that_runs_on_names(
    tmp_path: Path, variables: dict[str, str], expected: str
) -> None:
    """`runs-on` is evaluated (deploy.yml picks its runner with a repository variable), and the job sees the kind
    of runner it asked for, as GitHub tells it: RUNNER_ENVIRONMENT and `runner.environment`."""
    runner, path, event = sample_runner(tmp_path, WHERE)
    runner.variables.update(variables)
    run = runner.run(path, event)
    assert run.conclusion == "success", run.report()
    assert run.job("probe").step("where").outputs["runner"] == expected


def test_the_runner_stops_at_a_runner_label_it_cannot_stand_in_for(tmp_path: Path) -> None:
    runner, path, event = sample_runner(tmp_path, WHERE)
    runner.variables["PIPELINE_RUNNER"] = "windows-latest"
    with pytest.raises(UnsupportedWorkflow, match=r"runs on \['windows-latest'\]"):
        runner.run(path, event)


# --- The pipeline steps in the image (PIPELINE_IMAGE set), docker a fake that plays the container ---


@pytest.fixture(scope="module")
def image_bake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("image-bake"))


def image_runner(project: Path, home: Path, status: int = 0) -> tuple[Runner, Path, Path]:
    """A runner whose `docker` is FAKE_DOCKER, with PIPELINE_IMAGE a repository variable and each environment's
    settings as the README says to give them for the image: DBT_DUCKDB_PATH on the self-hosted runner's own disk
    (`disk/`, outside the workspace and its temp folder), RAW_DATA_DIR a folder of the runner's."""
    raw = home / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (home / "disk").mkdir(exist_ok=True)
    calls = home / "docker-calls.jsonl"
    runner = Runner(
        project,
        home / "runner",
        repository="Acme/Shop-Analytics",
        environments={
            "staging": Environment(
                {"DBT_DUCKDB_PATH": str(home / "disk" / "staging.duckdb"), "PII_HASH_KEY": "staging-" + "k" * 32},
                {"RAW_DATA_DIR": str(raw)},
            ),
            "production": Environment(
                {"DBT_DUCKDB_PATH": str(home / "disk" / "prod.duckdb")}, {"RAW_DATA_DIR": str(raw)}
            ),
        },
        variables={"PIPELINE_IMAGE": IMAGE},
        extra_env={"DOCKER_CALLS": str(calls), "DOCKER_STATUS": str(status)},
    )
    fake = home / "fake_docker.py"
    fake.write_text(FAKE_DOCKER, encoding="utf-8")
    docker = runner.bin_dir / "docker"
    docker.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "{fake}" "$@"\n', encoding="utf-8")
    docker.chmod(0o755)
    return runner, calls, raw


def calls_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_with_pipeline_image_set_the_deploy_runs_each_step_in_the_image(image_bake: Path, tmp_path: Path) -> None:
    """deploy.yml end to end on the runner: per environment, a login to GHCR with the job's token on stdin, `run`
    and `report` in the pinned image under the run contract with that environment's secrets by name, a logout;
    the manifest the image leaves in the mounted target/ is the artifact slim CI defers to; nox never runs."""
    runner, calls, raw = image_runner(image_bake, tmp_path)
    deploy = runner.run(image_bake / ".github" / "workflows" / "deploy.yml", runner.push("main"))

    assert deploy.conclusion == "success", deploy.report()
    made = calls_of(calls)
    assert [call["argv"][0] for call in made] == ["login", "run", "run", "logout"] * 2
    for login in made[0::4]:
        assert login["argv"] == ["login", "ghcr.io", "--username", "octocat", "--password-stdin"]
        assert login["stdin"].strip() == "ghs_localRunnerToken"  # the job's token, never on a command line
    disk = tmp_path / "disk"
    secrets = {
        "staging": {"DBT_DUCKDB_PATH": str(disk / "staging.duckdb"), "PII_HASH_KEY": "staging-" + "k" * 32},
        "prod": {"DBT_DUCKDB_PATH": str(disk / "prod.duckdb")},
    }
    # Where the job runs, for the pipeline's check that the database outlives the job: a self-hosted runner.
    where = {"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted", "GITHUB_WORKSPACE": str(runner.workspace)}
    where["RUNNER_TEMP"] = str(runner.home / "temp")
    for env, (run_call, report_call) in zip(["staging", "prod"], [made[1:3], made[5:7]], strict=True):
        for call, command in (
            (run_call, ["run", "--env", env]),
            (report_call, ["report", "--env", env, "--markdown", "reports/job-summary.md"]),
        ):
            options, image, given = docker_run(call["argv"])
            assert (image, given) == (IMAGE, command)
            assert {entry.split(":")[0] for entry in options["--tmpfs"]} == TMPFS and "--read-only" in options
            assert set(options["--mount"]) == {
                *(f"type=bind,source={runner.workspace}/{name},target={path}" for name, path in MOUNTS.items()),
                f"type=bind,source={raw},target={raw},readonly",
                f"type=bind,source={disk},target={disk}",  # the database's folder, read-write, at the same path
            }
            assert call["env"] == {**secrets[env], "RAW_DATA_DIR": str(raw), **where}
            assert not [arg for arg in call["argv"] for value in secrets[env].values() if value in arg]
    for job in ("staging", "production"):
        assert "the run report, from the image" in deploy.job(job).summary, job
    assert (runner.artifact(deploy.run_id, "prod-manifest") / "manifest.json").is_file()
    assert not (image_bake / ".nox").exists()


def test_a_failing_step_in_the_image_fails_the_scheduled_pipeline(image_bake: Path, tmp_path: Path) -> None:
    """The container's exit code is the step's: the run step fails, the report step still runs (always()), and
    the job and the run fail."""
    runner, calls, _ = image_runner(image_bake, tmp_path, status=3)
    inputs = {"environment": "prod", "vars": "start_date=2025-01-01", "select": "fct_orders+"}
    run = runner.run(image_bake / ".github" / "workflows" / "pipeline.yml", runner.workflow_dispatch("main", inputs))

    assert run.conclusion == "failure"
    job = run.job("pipeline")
    assert job.step("nox").outcome == "failure" and "(exit code 3)" in job.step("nox").log
    assert job.step("Summary (the run report)").outcome == "failure"
    assert job.step("Log out of GHCR").outcome == "success"
    commands = [docker_run(call["argv"])[2] for call in calls_of(calls) if call["argv"][0] == "run"]
    assert commands == [
        ["run", "--env", "prod", "--var", "start_date=2025-01-01", "--select", "fct_orders+"],
        ["report", "--env", "prod", "--markdown", "reports/job-summary.md"],
    ]


# --- The baked workflows, from a branch to production (slow) ---


def expect_success(run: RunResult, timings: list[tuple[str, float, str]]) -> RunResult:
    timings += [(job.label, job.seconds, job.result) for job in run.jobs]
    assert run.conclusion == "success", run.report()
    return run


def output_of(run: RunResult, job_id: str, step_id: str) -> str:
    return run.job(job_id).step(step_id).log


@pytest.mark.slow
def test_the_workflows_run_from_a_branch_to_production(tmp_path: Path) -> None:
    started = time.monotonic()
    project = bake(tmp_path / "bake")
    workflows = project / ".github" / "workflows"
    # Something for slim CI to find: a changed model on a feature branch; main stays the base.
    git(project, "switch", "--quiet", "-c", FEATURE)
    model = project / "models" / "marts" / "sales" / "dim_customers.sql"
    model.write_text(model.read_text(encoding="utf-8") + "-- one row per customer, with lifetime order totals\n")
    git(project, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "--quiet", "-am", "Note a model")
    git(project, "switch", "--quiet", "main")

    # container.yml builds the image for real: an engine and a base image, or (outside CI only) its step is left out.
    try:
        image_env = engine_and_base()
    except pytest.skip.Exception as skipped:
        image_env = {}
        print(f"container.yml is not run: {skipped}")
    warehouses = tmp_path / "warehouses"
    warehouses.mkdir()
    raw = {"RAW_DATA_DIR": "data/raw/sample"}
    runner = Runner(
        project,
        tmp_path / "runner",
        repository="acme/shop-analytics",
        environments={
            "staging": Environment(
                {"DBT_DUCKDB_PATH": str(warehouses / "staging.duckdb"), "PII_HASH_KEY": "staging-" + "k" * 32}, raw
            ),
            "production": Environment({"DBT_DUCKDB_PATH": str(warehouses / "prod.duckdb")}, raw),
        },
        extra_env={"UV_COMPILE_BYTECODE": "1", **image_env},
    )
    timings: list[tuple[str, float, str]] = []

    # 1. A push to main deploys to staging, then production, which saves the manifest slim CI defers to.
    deploy = expect_success(runner.run(workflows / "deploy.yml", runner.push("main")), timings)
    assert [job.job_id for job in deploy.jobs] == ["staging", "production"]
    assert (runner.artifact(deploy.run_id, "prod-manifest") / "manifest.json").is_file()
    assert (warehouses / "prod.duckdb").is_file()
    assert (warehouses / "staging.duckdb").is_file()
    assert "### ✅ `prod` run " in deploy.job("production").summary  # the run report's markdown

    # 2. The pull request's CI: lint and typecheck, tests, a slim build deferred to production, docs.
    opened = runner.pull_request(PR, FEATURE)
    ci = expect_success(runner.run(workflows / "ci.yml", opened), timings)
    assert [(job.job_id, job.matrix) for job in ci.jobs] == [
        ("lint", {"session": "lint"}),
        ("lint", {"session": "typecheck"}),
        ("tests", {}),
        ("build", {}),
        ("docs", {}),
    ]
    build = ci.job("build")
    assert (
        f"deploy run {deploy.run_id}" in build.step("Fetch the production manifest of the last successful deploy").log
    )
    assert "state: production manifest" in build.step("nox").log, build.step("nox").log[-5000:]
    assert f"### ✅ `ci_pr_{PR}` run " in build.summary
    assert runner.artifact_names(ci.run_id) == {
        "tests-dbt-artifacts", "build-dbt-artifacts", "build-run-report", "dbt-docs",
    }  # fmt: skip
    report = runner.artifact(ci.run_id, "build-run-report") / f"ci_pr_{PR}"
    assert {path.name for path in report.glob("*/*")} >= {"junit.xml", "report.html", "summary.md", "report.json"}
    assert (runner.artifact(ci.run_id, "build-dbt-artifacts") / f"ci_pr_{PR}" / "manifest.json").is_file()
    assert (project / "warehouse" / f"ci_pr_{PR}.duckdb").is_file()

    # 3. The image: hadolint, then `nox -s container` builds it and runs the pipeline in it; publishing is for main.
    if image_env:
        container = expect_success(runner.run(workflows / "container.yml", opened), timings)
        assert container.job("image").step("nox").outcome == "success"
        assert container.job("publish").result == "skipped"

    # 4. The pipeline by hand, on staging, with dbt vars.
    inputs = {"environment": "staging", "vars": "start_date=2025-01-01", "select": ""}
    pipeline = expect_success(runner.run(workflows / "pipeline.yml", runner.workflow_dispatch("main", inputs)), timings)
    assert "--var start_date=2025-01-01" in pipeline.job("pipeline").step("nox").log
    assert "### ✅ `staging` run " in pipeline.job("pipeline").summary

    # 5. Closing the pull request drops its environment.
    closed = runner.pull_request(PR, FEATURE, action="closed")
    expect_success(runner.run(workflows / "cleanup.yml", closed), timings)
    assert not (project / "warehouse" / f"ci_pr_{PR}.duckdb").exists()

    width = max(len(label) for label, _, _ in timings)
    print(f"\n{'job'.ljust(width)}  seconds  result")
    for label, seconds, result in timings:
        print(f"{label.ljust(width)}  {seconds:7.1f}  {result}")
    print(f"{'total (with the bake)'.ljust(width)}  {time.monotonic() - started:7.1f}")


@pytest.mark.slow
def test_a_deploy_on_a_github_hosted_runner_stops_in_one_sentence_and_writes_no_database(tmp_path: Path) -> None:
    """deploy.yml with PIPELINE_RUNNER=ubuntu-latest: the runner is discarded after the job, so staging's pipeline
    refuses before writing, names the problem and the fix, and production never starts."""
    project = bake(tmp_path / "bake")
    disk = tmp_path / "disk"
    disk.mkdir()
    raw = {"RAW_DATA_DIR": "data/raw/sample"}
    runner = Runner(
        project,
        tmp_path / "runner",
        repository="acme/shop-analytics",
        environments={
            "staging": Environment(
                {"DBT_DUCKDB_PATH": str(disk / "staging.duckdb"), "PII_HASH_KEY": "staging-" + "k" * 32}, raw
            ),
            "production": Environment({"DBT_DUCKDB_PATH": str(disk / "prod.duckdb")}, raw),
        },
        variables={"PIPELINE_RUNNER": "ubuntu-latest"},
        extra_env={"UV_COMPILE_BYTECODE": "1"},
    )
    deploy = runner.run(project / ".github" / "workflows" / "deploy.yml", runner.push("main"))

    assert deploy.conclusion == "failure", deploy.report()
    log = deploy.job("staging").step("nox").log
    refusal = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(refusal) == 1 and "would lose staging's database" in refusal[0], log[-3000:]
    assert "RUNNER_ENVIRONMENT=github-hosted" in refusal[0] and "PIPELINE_RUNNER" in refusal[0]
    assert deploy.job("production").result == "skipped"
    assert list(disk.iterdir()) == []
    assert not list((project / "warehouse").glob("staging*"))
