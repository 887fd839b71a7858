"""Run a baked project's GitHub workflows on this machine, step by step, as a GitHub runner would.

GitHub cannot be reached and `act` needs Docker, so this is a small runner of its own: it orders jobs by
`needs`, expands matrices, evaluates `${{ }}` expressions and `if:` conditions, runs each `run:` step with
the step's shell in the checked-out repository with the environment GitHub sets, and carries
GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and the step summary from step to step. Each `uses:` is mapped to a
local equivalent (below, ACTIONS); an action it does not know, or an input that action does not take, stops
the run with an error instead of being skipped. `gh` is a fake that answers from the runs and artifacts
this runner recorded. Jobs share one workspace: each checkout resets it to the event's commit and removes
untracked files except KEEP (the nox virtualenvs, a warm cache; `warehouse/`, the databases that outlive
a job as a server warehouse would). This machine stands in for `ubuntu-*` (a GitHub-hosted runner) and for the
label `self-hosted` (a runner of the team's own): `runs-on` is evaluated, and the job sees RUNNER_ENVIRONMENT
`github-hosted` or `self-hosted` accordingly.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# --- Expressions: the subset of GitHub's expression language these workflows use, and a little more ---


class ExpressionError(ValueError):
    """An expression this evaluator cannot read: a syntax error or an unknown function."""


TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,*])|(?P<name>[A-Za-z_][\w-]*))"
)
STATUS_FUNCTION = re.compile(r"\b(success|failure|always|cancelled)\s*\(", re.IGNORECASE)
TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        position = match.end()
        kind = match.lastgroup
        value = match[kind] if kind else ""
        if kind == "string":
            tokens.append(("value", value[1:-1].replace("''", "'")))
        elif kind == "number":
            tokens.append(("value", float(int(value, 16)) if value.startswith("0x") else float(value)))
        elif kind == "name" and value in ("true", "false", "null"):
            tokens.append(("value", {"true": True, "false": False, "null": None}[value]))
        else:
            tokens.append((kind or "", value))
    return tokens


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: Any) -> str:
    """A value as GitHub interpolates it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def equal(left: Any, right: Any) -> bool:
    """GitHub's loose equality: strings ignore case, mixed types compare as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return left is right
    if type(left) is type(right) and not isinstance(left, (int, float)):
        return bool(left == right)
    return to_number(left) == to_number(right)


def member(value: Any, key: Any) -> Any:
    """`a.b` or `a['b']` or `a[0]`: a missing member is null, never an error (GitHub's rule)."""
    if isinstance(value, list):
        if isinstance(key, str):
            return None
        index = int(to_number(key)) if not math.isnan(to_number(key)) else -1
        return value[index] if 0 <= index < len(value) else None
    if isinstance(value, dict):
        if key in value:
            return value[key]
        folded = {str(name).casefold(): item for name, item in value.items()}
        return folded.get(to_string(key).casefold())
    return None


def format_string(template: str, *args: Any) -> str:
    return (
        re.sub(r"\{(\d+)\}", lambda match: to_string(args[int(match[1])]), template)
        .replace("{{", "{")
        .replace("}}", "}")
    )


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda haystack, needle: (
        any(equal(item, needle) for item in haystack)
        if isinstance(haystack, list)
        else to_string(needle).casefold() in to_string(haystack).casefold()
    ),
    "startswith": lambda text, prefix: to_string(text).casefold().startswith(to_string(prefix).casefold()),
    "endswith": lambda text, suffix: to_string(text).casefold().endswith(to_string(suffix).casefold()),
    "format": format_string,
    "join": lambda items, sep=",": (
        to_string(sep).join(map(to_string, items)) if isinstance(items, list) else to_string(items)
    ),
    "tojson": lambda value: json.dumps(value, indent=2),
    "fromjson": lambda text: json.loads(text),
}


class Parser:
    """Recursive descent over the tokens, evaluating as it goes (GitHub's functions have no side effects)."""

    def __init__(self, text: str, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]):
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.context = context
        self.functions = {**FUNCTIONS, **{name.lower(): function for name, function in functions.items()}}

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", None)

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token[0] != kind or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or kind} at {token[1]!r} in {self.text!r}")
        self.position += 1
        return token[1]

    def accept(self, *ops: str) -> str | None:
        kind, value = self.peek()
        if kind == "op" and value in ops:
            self.position += 1
            return str(value)
        return None

    def parse(self) -> Any:
        value = self.or_()
        if self.peek()[0] != "end":
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.accept("||"):
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.equality()
        while self.accept("&&"):
            right = self.equality()
            value = right if truthy(value) else value
        return value

    def equality(self) -> Any:
        value = self.comparison()
        while op := self.accept("==", "!="):
            right = self.comparison()
            value = equal(value, right) == (op == "==")
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while op := self.accept("<", "<=", ">", ">="):
            right = self.unary()
            if isinstance(value, str) and isinstance(right, str):
                left_key, right_key = value.casefold(), right.casefold()
            else:
                left_key, right_key = to_number(value), to_number(right)  # type: ignore[assignment]
            value = {"<": left_key < right_key, "<=": left_key <= right_key, ">": left_key > right_key}.get(
                op, left_key >= right_key
            )
        return value

    def unary(self) -> Any:
        if self.accept("!"):
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while True:
            if self.accept("."):
                if self.accept("*"):
                    value = list(value.values()) if isinstance(value, dict) else []
                else:
                    value = member(value, self.take("name"))
            elif self.accept("["):
                key = self.or_()
                self.take("op", "]")
                value = member(value, key)
            else:
                return value

    def primary(self) -> Any:
        kind, value = self.peek()
        if kind == "value":
            self.position += 1
            return value
        if self.accept("("):
            inner = self.or_()
            self.take("op", ")")
            return inner
        name = self.take("name")
        if self.accept("("):
            args = []
            if not self.accept(")"):
                args.append(self.or_())
                while self.accept(","):
                    args.append(self.or_())
                self.take("op", ")")
            function = self.functions.get(name.lower())
            if function is None:
                raise ExpressionError(f"unknown function {name}() in {self.text!r}")
            return function(*args)
        if name not in self.context:
            raise ExpressionError(f"unknown context {name!r} in {self.text!r}")
        return self.context[name]


def evaluate(
    expression: str, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
) -> Any:
    """The value of one expression, written with or without its `${{ }}`."""
    text = expression.strip()
    whole = TEMPLATE.fullmatch(text)
    return Parser(whole[1] if whole else text, context, functions or {}).parse()


def interpolate(
    value: Any, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]] | None = None
) -> Any:
    """A YAML value with its `${{ }}` replaced: one whole expression keeps its type, several make a string."""
    if isinstance(value, dict):
        return {key: interpolate(item, context, functions) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, context, functions) for item in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    whole = TEMPLATE.fullmatch(value.strip())
    if whole:
        return evaluate(whole[1], context, functions)
    return TEMPLATE.sub(lambda match: to_string(evaluate(match[1], context, functions)), value)


def condition(expression: Any, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]) -> bool:
    """An `if:` as GitHub reads it: without a status function it means `success() && (...)`."""
    if expression is None or expression == "":
        return bool(functions["success"]())
    if isinstance(expression, bool):
        return bool(functions["success"]()) and expression
    text = str(expression).strip()
    whole = TEMPLATE.fullmatch(text)
    text = whole[1] if whole else text
    if not STATUS_FUNCTION.search(text):
        text = f"success() && ({text})"
    return truthy(evaluate(text, context, functions))


# --- Results ---


@dataclass
class StepResult:
    index: int
    id: str | None
    name: str
    outcome: str  # success, failure or skipped, before continue-on-error
    conclusion: str
    seconds: float = 0.0
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    workflow: str
    job_id: str
    name: str
    matrix: dict[str, Any]
    result: str = "success"  # success, failure or skipped
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    summary: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        combination = ", ".join(f"{key}={value}" for key, value in self.matrix.items())
        return f"{self.workflow} / {self.job_id}" + (f" ({combination})" if combination else "")

    def step(self, key: str) -> StepResult:
        """A step by its id or name."""
        for step in self.steps:
            if key in (step.id, step.name):
                return step
        raise KeyError(f"{self.label}: no step {key!r} in {[s.id or s.name for s in self.steps]}")

    def report(self, lines: int = 200) -> str:
        """The failed steps, each with the last lines of its output."""
        parts = [f"{self.label}: {self.result}"]
        for step in self.steps:
            if step.outcome == "failure":
                tail = "\n".join(step.log.splitlines()[-lines:])
                parts.append(f"--- step {step.index + 1} {step.name!r} failed; last {lines} lines:\n{tail}")
        return "\n".join(parts)


@dataclass
class RunResult:
    run_id: int
    workflow: str
    event: Event
    jobs: list[JobResult] = field(default_factory=list)

    @property
    def conclusion(self) -> str:
        return "failure" if any(job.result == "failure" for job in self.jobs) else "success"

    def job(self, job_id: str, **matrix: Any) -> JobResult:
        for job in self.jobs:
            if job.job_id == job_id and all(job.matrix.get(key) == value for key, value in matrix.items()):
                return job
        raise KeyError(f"{self.workflow}: no job {job_id} {matrix or ''}")

    def report(self) -> str:
        failed = [job.report() for job in self.jobs if job.result == "failure"]
        outcomes = ", ".join(f"{job.label}: {job.result}" for job in self.jobs)
        return f"{self.workflow} run {self.run_id} on {self.event.name}: {outcomes}\n" + "\n".join(failed)


# --- Events and settings ---


@dataclass
class Event:
    """What triggered a run: its name, the ref and commit checked out, the payload, dispatch inputs."""

    name: str
    ref: str
    sha: str
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    head_ref: str = ""
    base_ref: str = ""

    @property
    def action(self) -> str | None:
        return self.payload.get("action")

    @property
    def branch(self) -> str:
        """The branch gh reports for the run (headBranch)."""
        return self.head_ref or self.ref.removeprefix("refs/heads/")


@dataclass
class Environment:
    """A GitHub environment (Settings > Environments): its secrets and variables."""

    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)


class UnsupportedWorkflow(RuntimeError):
    """The workflow needs something this runner does not do (an action, an input, a shell): it stops, loudly."""


# The nox virtualenvs act as a warm cache; warehouse/ holds databases that outlive a job.
KEEP = (".nox", "warehouse")
# The variables of the machine this runs on that must not reach a step: a runner sets its own.
DROPPED = re.compile(
    r"(GITHUB_|RUNNER_|ACTIONS_).*|VIRTUAL_ENV|UV_PYTHON|UV_PROJECT_ENVIRONMENT|CONDA_PREFIX|PYTHONHOME|NOX_.*"
)
DEFAULT_PR_TYPES = ("opened", "synchronize", "reopened")


def read_file_command(path: Path) -> dict[str, str]:
    """NAME=value lines and NAME<<DELIMITER blocks, as steps write GITHUB_OUTPUT and GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    iterator = iter(lines)
    for line in iterator:
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = list(itertools.takewhile(lambda text, end=delimiter: text != end, iterator))
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise UnsupportedWorkflow(f"cannot read {line!r} in {path.name}")
    return values


def matrix_combinations(strategy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every combination of a job's matrix, with `exclude` removed and `include` added (GitHub's rules, simplified)."""
    declared = (strategy or {}).get("matrix") or {}
    if isinstance(declared, str) or any(isinstance(values, str) for values in declared.values()):
        raise UnsupportedWorkflow(f"a matrix built by an expression: {declared!r}")
    matrix = dict(declared)
    include = matrix.pop("include", None) or []
    exclude = matrix.pop("exclude", None) or []
    keys = list(matrix)
    combinations = [dict(zip(keys, values, strict=True)) for values in itertools.product(*matrix.values())]
    combinations = [
        combo for combo in combinations if not any(all(combo.get(k) == v for k, v in ex.items()) for ex in exclude)
    ]
    for extra in include:
        matched = [combo for combo in combinations if all(combo.get(k, v) == v for k, v in extra.items() if k in keys)]
        if matched and keys:
            for combo in matched:
                combo.update(extra)
        else:
            combinations.append(dict(extra))
    return combinations or [{}]


def job_order(jobs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Job ids so that each comes after everything it `needs`, otherwise in file order."""
    ordered: list[str] = []
    pending = list(jobs)
    while pending:
        ready = [job for job in pending if set(needs_of(jobs[job])) <= set(ordered)]
        if not ready:
            raise UnsupportedWorkflow(f"jobs {pending} need each other or an unknown job")
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def needs_of(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def triggers(workflow: Mapping[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on:` key as true
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {name: {} for name in on}
    return {name: value or {} for name, value in (on or {}).items()}


# --- The runner ---


class Runner:
    """Runs workflows of one repository checked out in `workspace`; keeps runs and artifacts under `home`."""

    def __init__(
        self,
        workspace: Path,
        home: Path,
        repository: str = "acme/project",
        environments: Mapping[str, Environment] | None = None,
        secrets: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.workspace = workspace.resolve()
        self.home = home.resolve()
        self.repository = repository
        self.environments = dict(environments or {})
        self.secrets = dict(secrets or {})
        self.variables = dict(variables or {})
        self.bin_dir = self.home / "bin"
        self.artifacts = self.home / "artifacts"
        self.runs_file = self.home / "runs.json"
        self.logs = self.home / "logs"
        for folder in (self.bin_dir, self.artifacts, self.logs, self.home / "temp", self.home / "toolcache"):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.runs_file.exists():
            self.runs_file.write_text("[]", encoding="utf-8")
        self.write_fake_gh()
        source = dict(os.environ if base_env is None else base_env)
        venv_bins = {str(Path(sys.executable).parent), str(Path(source.get("VIRTUAL_ENV", "/nonexistent")) / "bin")}
        path = [entry for entry in source.get("PATH", "").split(os.pathsep) if entry and entry not in venv_bins]
        self.base_env = {name: value for name, value in source.items() if not DROPPED.fullmatch(name)}
        self.base_env.update({"PATH": os.pathsep.join([str(self.bin_dir), *path]), **(extra_env or {})})
        self.next_run_id = 1000 + len(self.recorded_runs())

    # -- bookkeeping: runs and artifacts, which the fake gh reads --

    def recorded_runs(self) -> list[dict[str, Any]]:
        return list(json.loads(self.runs_file.read_text(encoding="utf-8")))

    def artifact(self, run_id: int, name: str) -> Path:
        return self.artifacts / str(run_id) / name

    def artifact_names(self, run_id: int) -> set[str]:
        folder = self.artifacts / str(run_id)
        return {path.name for path in folder.iterdir()} if folder.is_dir() else set()

    def write_fake_gh(self) -> None:
        script = FAKE_GH.replace("@RUNS@", repr(str(self.runs_file))).replace("@ARTIFACTS@", repr(str(self.artifacts)))
        script = script.replace("@REPO@", repr(self.repository))
        gh = self.bin_dir / "gh"
        gh.write_text(f"#!{sys.executable}\n{script}", encoding="utf-8")
        gh.chmod(0o755)

    # -- git helpers for events --

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.workspace,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {result.stderr}")
        return result.stdout.strip()

    def push(self, branch: str) -> Event:
        sha = self.git("rev-parse", f"refs/heads/{branch}")
        return Event("push", f"refs/heads/{branch}", sha, {"ref": f"refs/heads/{branch}", "after": sha})

    def workflow_dispatch(self, branch: str, inputs: Mapping[str, Any]) -> Event:
        sha = self.git("rev-parse", f"refs/heads/{branch}")
        return Event(
            "workflow_dispatch",
            f"refs/heads/{branch}",
            sha,
            {"ref": f"refs/heads/{branch}", "inputs": dict(inputs)},
            dict(inputs),
        )

    def pull_request(self, number: int, head: str, base: str = "main", action: str = "opened") -> Event:
        """A pull_request event; like GitHub, it checks out refs/pull/<n>/merge, head merged into base."""
        head_sha, base_sha = self.git("rev-parse", f"refs/heads/{head}"), self.git("rev-parse", f"refs/heads/{base}")
        tree = self.git("merge-tree", "--write-tree", base_sha, head_sha)
        identity = {"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com"}
        identity |= {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
        merge = self.git(
            "commit-tree",
            tree.splitlines()[0],
            "-p",
            base_sha,
            "-p",
            head_sha,
            "-m",
            f"Merge {head} into {base}",
            env=identity,
        )
        self.git("update-ref", f"refs/pull/{number}/merge", merge)
        payload = {
            "action": action,
            "number": number,
            "pull_request": {
                "number": number,
                "head": {"ref": head, "sha": head_sha},
                "base": {"ref": base, "sha": base_sha},
                "merged": False,
                "state": "closed" if action == "closed" else "open",
            },
        }
        return Event("pull_request", f"refs/pull/{number}/merge", merge, payload, head_ref=head, base_ref=base)

    # -- running --

    def run(self, workflow_path: Path, event: Event) -> RunResult:
        """One workflow run: every job in `needs` order, each matrix combination in turn."""
        workflow = yaml.safe_load(workflow_path.read_text(encoding="utf-8"))
        self.check_trigger(workflow_path.name, workflow, event)
        inputs = self.dispatch_inputs(workflow, event)
        run = RunResult(self.next_run_id, workflow_path.name, event)
        self.next_run_id += 1
        jobs = workflow.get("jobs") or {}
        done: dict[str, dict[str, Any]] = {}
        for job_id in job_order(jobs):
            results = self.run_job(run, workflow, job_id, jobs[job_id], inputs, done)
            run.jobs += results
            result = "failure" if any(r.result == "failure" for r in results) else results[0].result
            outputs = {key: value for r in results for key, value in r.outputs.items()}
            done[job_id] = {"result": result, "outputs": outputs}
        runs = self.recorded_runs()
        runs.append(
            {
                "databaseId": run.run_id,
                "workflowName": workflow.get("name", workflow_path.name),
                "path": f".github/workflows/{workflow_path.name}",
                "headBranch": event.branch,
                "headSha": event.sha,
                "event": event.name,
                "status": "completed",
                "conclusion": run.conclusion,
                "artifacts": sorted(self.artifact_names(run.run_id)),
            }
        )
        self.runs_file.write_text(json.dumps(runs, indent=2), encoding="utf-8")
        return run

    def check_trigger(self, name: str, workflow: Mapping[Any, Any], event: Event) -> None:
        """The event must be one the workflow listens to, or GitHub would not have started it."""
        on = triggers(workflow)
        if event.name not in on:
            raise UnsupportedWorkflow(f"{name} does not run on {event.name} (it runs on {', '.join(on)})")
        spec = on[event.name] or {}
        if event.name in ("pull_request", "pull_request_target"):
            types = spec.get("types") or DEFAULT_PR_TYPES
            if event.action not in types:
                raise UnsupportedWorkflow(f"{name} runs on pull_request {types}, not {event.action}")
        branches = spec.get("branches")
        branch = event.base_ref if event.name.startswith("pull_request") else event.branch
        if branches and not any(fnmatch.fnmatchcase(branch, pattern) for pattern in branches):
            raise UnsupportedWorkflow(f"{name} runs on {event.name} to {branches}, not to {branch}")

    def dispatch_inputs(self, workflow: Mapping[Any, Any], event: Event) -> dict[str, Any]:
        if event.name != "workflow_dispatch":
            return {}
        declared = (triggers(workflow)["workflow_dispatch"] or {}).get("inputs") or {}
        unknown = set(event.inputs) - set(declared)
        if unknown:
            raise UnsupportedWorkflow(f"inputs {sorted(unknown)} are not declared by the workflow")
        inputs: dict[str, Any] = {}
        for name, spec in declared.items():
            value = event.inputs.get(name, spec.get("default", ""))
            if spec.get("type") == "choice" and value not in spec.get("options", []):
                raise UnsupportedWorkflow(f"input {name}={value!r} is not one of {spec['options']}")
            if spec.get("type") == "boolean":
                value = value in (True, "true")
            inputs[name] = value
        return inputs

    def run_job(
        self,
        run: RunResult,
        workflow: Mapping[Any, Any],
        job_id: str,
        job: Mapping[str, Any],
        inputs: Mapping[str, Any],
        done: Mapping[str, Mapping[str, Any]],
    ) -> list[JobResult]:
        if "uses" in job:
            raise UnsupportedWorkflow(f"job {job_id} calls a reusable workflow ({job['uses']})")
        for key in ("container", "services"):
            if key in job:
                raise UnsupportedWorkflow(f"job {job_id} needs a Docker {key}")
        needs = {name: done[name] for name in needs_of(job)}
        github = self.github_context(run, workflow, job_id)
        base_context = {"github": github, "inputs": inputs, "vars": self.variables, "needs": needs, "env": {}}
        labels = interpolate(job.get("runs-on", "ubuntu-latest"), base_context)
        labels = [to_string(label) for label in (labels if isinstance(labels, list) else [labels])]
        if labels[:1] == ["self-hosted"]:
            environment = "self-hosted"
        elif len(labels) == 1 and labels[0].startswith("ubuntu-"):
            environment = "github-hosted"
        else:
            raise UnsupportedWorkflow(
                f"job {job_id} runs on {labels}; this machine stands in for ubuntu-* and self-hosted only"
            )
        base_context |= {"runner": self.runner_context(environment), "secrets": {}, "matrix": {}, "steps": {}}
        base_context["job"] = {}
        needs_ok = all(need["result"] == "success" for need in needs.values())
        job_functions = {
            "success": lambda: needs_ok,
            "failure": lambda: any(need["result"] == "failure" for need in needs.values()),
            "always": lambda: True,
            "cancelled": lambda: False,
        }
        results = []
        for combination in matrix_combinations(job.get("strategy")):
            context = {**base_context, "matrix": combination, "strategy": job.get("strategy") or {}}
            name = to_string(interpolate(job.get("name", job_id), context))
            result = JobResult(run.workflow, job_id, name, combination)
            results.append(result)
            if not condition(job.get("if"), context, job_functions):
                result.result = "skipped"
                continue
            started = time.monotonic()
            self.run_steps(run, workflow, job_id, job, context, result)
            result.seconds = time.monotonic() - started
        return results

    def github_context(self, run: RunResult, workflow: Mapping[Any, Any], job_id: str) -> dict[str, Any]:
        event = run.event
        ref_name = event.ref.removeprefix("refs/heads/").removeprefix("refs/tags/").removeprefix("refs/pull/")
        return {
            "action": "",
            "actor": "octocat",
            "api_url": "https://api.github.com",
            "base_ref": event.base_ref,
            "event": event.payload,
            "event_name": event.name,
            "head_ref": event.head_ref,
            "job": job_id,
            "ref": event.ref,
            "ref_name": ref_name,
            "ref_type": "tag" if event.ref.startswith("refs/tags/") else "branch",
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "run_attempt": "1",
            "run_id": str(run.run_id),
            "run_number": str(run.run_id - 999),
            "server_url": "https://github.com",
            "sha": event.sha,
            "token": "ghs_localRunnerToken",
            "triggering_actor": "octocat",
            "workflow": workflow.get("name", run.workflow),
            "workflow_ref": f"{self.repository}/.github/workflows/{run.workflow}@{event.ref}",
            "workspace": str(self.workspace),
        }

    def runner_context(self, environment: str = "github-hosted") -> dict[str, str]:
        """The `runner` context of a job on this machine; `environment`: github-hosted or self-hosted."""
        return {
            "os": "Linux",
            "arch": "X64",
            "name": "local-runner",
            "environment": environment,
            "temp": str(self.home / "temp"),
            "tool_cache": str(self.home / "toolcache"),
        }

    def github_env(self, run: RunResult, context: Mapping[str, Any], job_id: str) -> dict[str, str]:
        github = context["github"]
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_REF": github["ref"],
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_REF_TYPE": github["ref_type"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_RUN_ID": github["run_id"],
            "GITHUB_RUN_NUMBER": github["run_number"],
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": job_id,
            "GITHUB_WORKFLOW": github["workflow"],
            "GITHUB_WORKFLOW_REF": github["workflow_ref"],
            "GITHUB_ACTOR": github["actor"],
            "GITHUB_TRIGGERING_ACTOR": github["actor"],
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_API_URL": github["api_url"],
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "local-runner",
            "RUNNER_ENVIRONMENT": context["runner"]["environment"],
            "RUNNER_TEMP": str(self.home / "temp"),
            "RUNNER_TOOL_CACHE": str(self.home / "toolcache"),
            # A hosted runner's /tmp is its own: the jobs' pytest runs must not share (and prune) the
            # `pytest-of-<user>` folders of the test run that drives this runner.
            "TMPDIR": str(self.home / "temp"),
        }
        event_path = self.home / "temp" / f"event-{run.run_id}.json"
        event_path.write_text(json.dumps(run.event.payload), encoding="utf-8")
        env["GITHUB_EVENT_PATH"] = str(event_path)
        return env

    def run_steps(
        self,
        run: RunResult,
        workflow: Mapping[Any, Any],
        job_id: str,
        job: Mapping[str, Any],
        context: dict[str, Any],
        result: JobResult,
    ) -> None:
        environment_name = interpolate(job.get("environment"), context)
        if isinstance(environment_name, dict):
            environment_name = environment_name.get("name")
        environment = self.environments.get(str(environment_name), Environment()) if environment_name else Environment()
        secrets = {"GITHUB_TOKEN": context["github"]["token"], **self.secrets, **environment.secrets}
        context["secrets"] = secrets
        context["vars"] = {**self.variables, **environment.vars}
        masked = sorted((value for value in secrets.values() if len(value) > 3), key=len, reverse=True)

        env: dict[str, str] = {}
        for scope in (workflow, job):
            context["env"] = env
            env = {**env, **{k: to_string(v) for k, v in interpolate(scope.get("env") or {}, context).items()}}
        defaults = {
            **((workflow.get("defaults") or {}).get("run") or {}),
            **((job.get("defaults") or {}).get("run") or {}),
        }
        state = JobState(env_file={}, path=[], outputs={}, failed=False)
        runner_env = self.github_env(run, context, job_id)
        functions = {
            "success": lambda: not state.failed,
            "failure": lambda: state.failed,
            "always": lambda: True,
            "cancelled": lambda: False,
            "hashFiles": self.hash_files,
        }
        timeout = float(job.get("timeout-minutes", 360)) * 60
        started = time.monotonic()
        log_dir = self.logs / str(run.run_id) / re.sub(r"\W+", "_", result.label)
        log_dir.mkdir(parents=True, exist_ok=True)
        for index, step in enumerate(job.get("steps") or []):
            context["env"] = {**env, **state.env_file}
            context["job"] = {"status": "failure" if state.failed else "success"}
            context["steps"] = {
                key: {"outputs": value["outputs"], "outcome": value["outcome"], "conclusion": value["conclusion"]}
                for key, value in state.outputs.items()
            }
            step_id = step.get("id")
            name = step.get("name") or (
                f"Run {step['uses']}" if "uses" in step else f"Run {str(step.get('run', '')).strip().splitlines()[0]}"
            )
            name = to_string(interpolate(name, context, functions))
            record = StepResult(index, step_id, name, "skipped", "skipped")
            result.steps.append(record)
            if condition(step.get("if"), context, functions):
                step_started = time.monotonic()
                remaining = timeout - (step_started - started)
                step_timeout = min(remaining, float(step.get("timeout-minutes", 360)) * 60)
                try:
                    ok, log, outputs = self.run_step(
                        step, context, functions, env, state, runner_env, defaults, step_timeout
                    )
                except ExpressionError as error:
                    ok, log, outputs = False, f"expression error: {error}", {}
                for secret in masked:
                    log = log.replace(secret, "***")
                record.seconds = time.monotonic() - step_started
                record.log, record.outputs = log, outputs
                record.outcome = "success" if ok else "failure"
                continue_on_error = truthy(interpolate(step.get("continue-on-error", False), context, functions))
                record.conclusion = "success" if ok or continue_on_error else "failure"
                state.failed = state.failed or record.conclusion == "failure"
                slug = re.sub(r"[^\w.-]+", "_", name)[:60]
                (log_dir / f"{index + 1:02d}-{slug}.log").write_text(log, encoding="utf-8")
            if step_id:
                state.outputs[step_id] = {
                    "outputs": record.outputs,
                    "outcome": record.outcome,
                    "conclusion": record.conclusion,
                }
        result.result = "failure" if state.failed else "success"
        result.summary = state.summary
        context["steps"] = {key: dict(value) for key, value in state.outputs.items()}
        context["env"] = {**env, **state.env_file}
        result.outputs = {
            key: to_string(interpolate(value, context, functions)) for key, value in (job.get("outputs") or {}).items()
        }
        (log_dir / "summary.md").write_text(state.summary, encoding="utf-8")

    def hash_files(self, *patterns: str) -> str:
        digest = hashlib.sha256()
        files = sorted({path for pattern in patterns for path in self.workspace.glob(pattern)})
        for path in files:
            if path.is_file():
                digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest() if files else ""

    def run_step(
        self,
        step: Mapping[str, Any],
        context: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
        env: Mapping[str, str],
        state: JobState,
        runner_env: Mapping[str, str],
        defaults: Mapping[str, Any],
        timeout: float,
    ) -> tuple[bool, str, dict[str, str]]:
        step_env = {k: to_string(v) for k, v in interpolate(step.get("env") or {}, context, functions).items()}
        temp = self.home / "temp"
        files = {
            name: temp / f"{name.lower()}-{time.monotonic_ns()}" for name in ("OUTPUT", "ENV", "PATH", "STEP_SUMMARY")
        }
        for path in files.values():
            path.touch()
        full_env = {**self.base_env, **env, **state.env_file, **step_env, **runner_env}
        full_env |= {f"GITHUB_{name}": str(path) for name, path in files.items()}
        full_env["PATH"] = os.pathsep.join([*reversed(state.path), self.base_env["PATH"]])
        if "uses" in step:
            with_ = {k: to_string(v) for k, v in interpolate(step.get("with") or {}, context, functions).items()}
            ok, log, outputs = self.run_action(str(step["uses"]), with_, full_env, state, context)
        elif "run" in step:
            script = to_string(interpolate(step["run"], context, functions))
            shell = step.get("shell") or defaults.get("shell")
            cwd = self.workspace / str(step.get("working-directory") or defaults.get("working-directory") or ".")
            ok, log = self.run_script(script, shell, cwd, full_env, timeout)
            outputs = {}
        else:
            raise UnsupportedWorkflow(f"a step with neither run nor uses: {dict(step)}")
        outputs |= read_file_command(files["OUTPUT"])
        state.env_file |= read_file_command(files["ENV"])
        state.path += [line for line in files["PATH"].read_text(encoding="utf-8").splitlines() if line.strip()]
        state.summary += files["STEP_SUMMARY"].read_text(encoding="utf-8")
        for path in files.values():
            path.unlink()
        return ok, log, outputs

    def run_script(
        self, script: str, shell: str | None, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> tuple[bool, str]:
        temp = self.home / "temp"
        if shell in (None, ""):
            command, suffix = ["bash", "-e", "{0}"], ".sh"
        elif shell == "bash":
            command, suffix = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], ".sh"
        elif shell == "sh":
            command, suffix = ["sh", "-e", "{0}"], ".sh"
        elif shell == "python":
            command, suffix = ["python", "{0}"], ".py"
        elif "{0}" in shell:
            command, suffix = shlex.split(shell), ""
        else:
            raise UnsupportedWorkflow(f"shell {shell!r}")
        script_path = temp / f"step-{time.monotonic_ns()}{suffix}"
        script_path.write_text(script, encoding="utf-8")
        command = [str(script_path) if part == "{0}" else part for part in command]
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return False, f"{output}\n(timed out after {timeout:.0f} s)"
        finally:
            script_path.unlink(missing_ok=True)
        return process.returncode == 0, output + (
            "" if process.returncode == 0 else f"\n(exit code {process.returncode})"
        )

    # -- actions --

    def run_action(
        self, uses: str, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[bool, str, dict[str, str]]:
        action = uses.split("@", 1)[0]
        if action not in ACTIONS:
            raise UnsupportedWorkflow(f"no local equivalent for the action {uses}; add one to ACTIONS")
        inputs, required, handler = ACTIONS[action]
        unknown = set(with_) - set(inputs) - set(required)
        missing = set(required) - {key for key, value in with_.items() if value}
        if unknown or missing:
            raise UnsupportedWorkflow(f"{action}: unknown inputs {sorted(unknown)}, missing inputs {sorted(missing)}")
        try:
            log, outputs = handler(self, with_, env, state, context)
        except ActionFailed as error:
            return False, str(error), {}
        return True, log, outputs

    def checkout(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        if with_.get("repository", self.repository) != self.repository or with_.get("path", "") not in ("", "."):
            raise UnsupportedWorkflow("actions/checkout of another repository or into a path")
        ref = with_.get("ref") or context["github"]["sha"]
        self.git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", ref)
        excludes = [arg for keep in KEEP for arg in ("-e", keep)]
        cleaned = self.git("clean", "-ffdx", *excludes)
        return f"checked out {ref} in {self.workspace}\n{cleaned}", {"ref": context["github"]["ref"], "commit": ref}

    def setup_python(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        version = with_.get("python-version", "").strip()
        if not version:
            raise ActionFailed("actions/setup-python: python-version is empty (the step that reads it gave nothing)")
        find_env = {k: v for k, v in env.items() if k not in ("UV_PYTHON", "VIRTUAL_ENV")}
        found = subprocess.run(
            [self.tool("uv"), "python", "find", "--system", "--no-project", version],
            capture_output=True,
            text=True,
            env=find_env,
            check=False,
        )
        if found.returncode != 0:
            raise ActionFailed(f"actions/setup-python: no Python {version} on this machine: {found.stderr}")
        python = Path(found.stdout.strip())
        full = subprocess.run(
            [str(python), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        bin_dir = self.home / "toolcache" / "Python" / full / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            (bin_dir / name).unlink(missing_ok=True)
            (bin_dir / name).symlink_to(python)
        state.path.append(str(bin_dir))
        state.env_file["pythonLocation"] = str(bin_dir.parent)
        return f"Python {full} ({python}) for python-version {version}", {
            "python-version": full,
            "python-path": str(python),
        }

    def tool(self, name: str) -> str:
        found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        if found is None:
            raise UnsupportedWorkflow(f"{name} is not installed here")
        return found

    def setup_uv(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        bin_dir = self.home / "toolcache" / "uv" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("uv", "uvx"):
            (bin_dir / name).unlink(missing_ok=True)
            (bin_dir / name).symlink_to(self.tool(name))
        state.path.append(str(bin_dir))
        version = subprocess.run(
            [self.tool("uv"), "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        return f"uv {version} from {self.tool('uv')} (the cache is this machine's uv cache)", {
            "uv-version": version,
            "cache-hit": "false",
        }

    def cache(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        return f"cache miss for key {with_['key']} (caching is a no-op here)", {"cache-hit": "false"}

    def upload_artifact(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        name = with_.get("name") or "artifact"
        run_id = context["github"]["run_id"]
        target = self.artifacts / run_id / name
        if target.exists() and with_.get("overwrite", "false") != "true":
            raise ActionFailed(f"an artifact named {name!r} already exists in run {run_id} (v4 refuses duplicates)")
        patterns = [
            line.strip() for line in with_["path"].splitlines() if line.strip() and not line.strip().startswith("#")
        ]
        if any(p.startswith("!") for p in patterns):
            raise UnsupportedWorkflow("upload-artifact exclusions (`!pattern`)")
        matches = [match for pattern in patterns for match in self.matches(pattern)]
        hidden = with_.get("include-hidden-files", "false") == "true"
        files: list[tuple[Path, Path]] = []
        if matches:
            root = Path(os.path.commonpath([m if m.is_dir() else m.parent for m in matches]))
            for match in matches:
                for path in (p for p in match.rglob("*") if p.is_file()) if match.is_dir() else [match]:
                    relative = path.relative_to(root)
                    if hidden or not any(part.startswith(".") for part in relative.parts):
                        files.append((path, relative))
        if not files:
            behaviour = with_.get("if-no-files-found", "warn")
            message = (
                f"No files were found with the provided path: {with_['path'].strip()}. No artifacts will be uploaded."
            )
            if behaviour == "error":
                raise ActionFailed(message)
            return message, {}
        for path, relative in files:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
        return f"uploaded {len(files)} files as {name!r}", {
            "artifact-id": f"{run_id}-{name}",
            "artifact-url": str(target),
        }

    def matches(self, pattern: str) -> list[Path]:
        """What a path pattern of upload-artifact names: one path, or a glob below the workspace."""
        path = Path(pattern).expanduser()
        if path.is_absolute():
            return [path] if path.exists() else []
        return sorted(self.workspace.glob(str(path).rstrip("/") or "."))

    def download_artifact(
        self, with_: Mapping[str, str], env: Mapping[str, str], state: JobState, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        run_id = with_.get("run-id") or context["github"]["run_id"]
        destination = self.workspace / Path(with_.get("path") or ".").expanduser()
        names = [with_["name"]] if with_.get("name") else sorted(self.artifact_names(int(run_id)))
        for name in names:
            source = self.artifacts / run_id / name
            if not source.is_dir():
                raise ActionFailed(f"Artifact not found for name: {name}")
            shutil.copytree(source, destination if with_.get("name") else destination / name, dirs_exist_ok=True)
        return f"downloaded {names} to {destination}", {"download-path": str(destination)}


@dataclass
class JobState:
    """What steps leave for the steps after them."""

    env_file: dict[str, str]
    path: list[str]
    outputs: dict[str, dict[str, Any]]
    failed: bool
    summary: str = ""


class ActionFailed(RuntimeError):
    """A mapped action failed the way the real one would (its step fails, the run goes on)."""


Handler = Callable[
    [Runner, Mapping[str, str], Mapping[str, str], JobState, Mapping[str, Any]], tuple[str, dict[str, str]]
]


def words(text: str) -> list[str]:
    return text.split()


# action -> (optional inputs, required inputs, local equivalent). The inputs are the real actions' own.
ACTIONS: dict[str, tuple[Iterable[str], Sequence[str], Handler]] = {
    "actions/checkout": (
        words(
            "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user persist-credentials path clean filter"
            " sparse-checkout sparse-checkout-cone-mode fetch-depth fetch-tags show-progress lfs submodules"
            " set-safe-directory github-server-url"
        ),
        [],
        Runner.checkout,
    ),
    "actions/setup-python": (
        words(
            "python-version python-version-file cache architecture check-latest token cache-dependency-path"
            " update-environment allow-prereleases freethreaded"
        ),
        [],
        Runner.setup_python,
    ),
    "astral-sh/setup-uv": (
        words(
            "version version-file python-version activate-environment working-directory checksum github-token"
            " enable-cache cache-dependency-glob restore-cache save-cache cache-suffix cache-local-path prune-cache"
            " ignore-nothing-to-cache ignore-empty-workdir tool-dir tool-bin-dir manifest-file add-problem-matchers"
            " server-url"
        ),
        [],
        Runner.setup_uv,
    ),
    "actions/cache": (
        words("restore-keys upload-chunk-size enableCrossOsArchive fail-on-cache-miss lookup-only save-always"),
        ["path", "key"],
        Runner.cache,
    ),
    "actions/upload-artifact": (
        words("name if-no-files-found retention-days compression-level overwrite include-hidden-files"),
        ["path"],
        Runner.upload_artifact,
    ),
    "actions/download-artifact": (
        words("name path pattern merge-multiple github-token repository run-id"),
        [],
        Runner.download_artifact,
    ),
}


# The fake `gh`: exactly the two calls ci.yml makes, answered from this runner's runs and artifacts.
FAKE_GH = r'''
"""A stand-in for the GitHub CLI: `gh run list` and `gh run download`, over the local runner's records."""
import argparse, json, re, shutil, sys
from pathlib import Path

RUNS, ARTIFACTS, REPOSITORY = Path(@RUNS@), Path(@ARTIFACTS@), @REPO@


def main(argv):
    import os
    if not (os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")):
        print("gh: in a GitHub Actions workflow, set the GH_TOKEN environment variable.", file=sys.stderr)
        return 4
    if "--repo" in argv and argv[argv.index("--repo") + 1] != REPOSITORY:
        print(f"HTTP 404: Not Found (repository {argv[argv.index('--repo') + 1]})", file=sys.stderr)
        return 1
    if argv[:2] == ["run", "list"]:
        parser = argparse.ArgumentParser(prog="gh run list")
        for option in ("--repo", "--workflow", "--branch", "--status", "--json", "--jq", "--event"):
            parser.add_argument(option)
        parser.add_argument("--limit", type=int, default=20)
        args = parser.parse_args(argv[2:])
        if not args.json:
            print("gh (fake): only `gh run list --json FIELDS` is implemented", file=sys.stderr)
            return 2
        runs = sorted(json.loads(RUNS.read_text()), key=lambda run: -run["databaseId"])
        keep = [
            run for run in runs
            if args.workflow in (None, run["workflowName"], Path(run["path"]).name)
            and args.branch in (None, run["headBranch"])
            and args.event in (None, run["event"])
            and args.status in (None, run["status"], run["conclusion"])
        ][: args.limit]
        rows = [{field: run.get(field) for field in args.json.split(",")} for run in keep]
        if args.jq is None:
            print(json.dumps(rows, indent=2))
            return 0
        match = re.fullmatch(r"\.\[(\d*)\]\.(\w+)( // empty)?", args.jq.strip())
        if not match:
            print(f"gh (fake): unsupported --jq {args.jq!r}", file=sys.stderr)
            return 2
        picked = rows if match[1] == "" else rows[int(match[1]):int(match[1]) + 1]
        for row in picked or ([] if match[3] else [{}]):
            value = row.get(match[2])
            if value is None and match[3]:
                continue
            print("null" if value is None else value)
        return 0
    if argv[:2] == ["run", "download"]:
        parser = argparse.ArgumentParser(prog="gh run download")
        parser.add_argument("run_id")
        parser.add_argument("--repo")
        parser.add_argument("--name", "-n", action="append")
        parser.add_argument("--dir", "-D", default=".")
        args = parser.parse_args(argv[2:])
        runs = {str(run["databaseId"]): run for run in json.loads(RUNS.read_text())}
        if args.run_id not in runs:
            print(f"HTTP 404: Not Found (run {args.run_id})", file=sys.stderr)
            return 1
        names = args.name or sorted(p.name for p in (ARTIFACTS / args.run_id).glob("*"))
        found = [name for name in names if (ARTIFACTS / args.run_id / name).is_dir()]
        if not found:
            print("no artifact matches any of the names or patterns provided", file=sys.stderr)
            return 1
        for name in found:
            destination = Path(args.dir) if args.name and len(args.name) == 1 else Path(args.dir) / name
            shutil.copytree(ARTIFACTS / args.run_id / name, destination, dirs_exist_ok=True)
        return 0
    print(f"gh (fake): `gh {' '.join(argv)}` is not implemented", file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
'''
