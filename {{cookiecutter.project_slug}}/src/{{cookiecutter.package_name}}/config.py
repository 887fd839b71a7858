"""Paths and environment resolution: the only module that reads environment variables."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from slugify import slugify

from . import pii
from .errors import PipelineError

ENVIRONMENTS = ("dev", "ci", "staging", "prod")
SHARED_ENVIRONMENTS = ("staging", "prod")

# Settings the environments read. dev and ci have safe defaults; staging and prod
# must be given explicitly so that nothing shared is ever written by accident.
DUCKDB_PATH_VAR = "DBT_DUCKDB_PATH"
RAW_DATA_DIR_VAR = "RAW_DATA_DIR"
THREADS_VAR = "DBT_THREADS"
PROJECT_DIR_VAR = "DBT_PROJECT_DIR"
PR_NUMBER_VAR = "PR_NUMBER"
# Names one more isolated instance of an environment (`run-many` gives each parameter set one).
INSTANCE_VAR = "PIPELINE_INSTANCE"
# Slim CI: the production manifest to compare against, and the production database to defer to.
STATE_DIR_VAR = "DBT_STATE_DIR"
DEFER_DUCKDB_PATH_VAR = "DBT_DEFER_DUCKDB_PATH"
DEFER_DATABASE_VAR = "DBT_DEFER_DATABASE"
# The key of the PII mask (HMAC-SHA-256, pii.py): dev and ci default to a public key, staging needs its
# own, prod stores clear values. dbt's connection reads it too (pii_plugin.py, through `pii_key`).
PII_KEY_VAR = "PII_HASH_KEY"
# Fault injection for the write-audit-publish tests only (e.g. kill-during-publish); never set it elsewhere.
FAULT_VAR = "PIPELINE_FAULT"
FAULTS = ("kill-during-publish",)
# What GitHub Actions sets in every job (`ephemeral_database` says what each means), and the opt-out of that check.
GITHUB_ACTIONS_VAR = "GITHUB_ACTIONS"
RUNNER_ENVIRONMENT_VAR = "RUNNER_ENVIRONMENT"
RUNNER_TEMP_VAR = "RUNNER_TEMP"
WORKSPACE_VAR = "GITHUB_WORKSPACE"
ALLOW_EPHEMERAL_VAR = "PIPELINE_ALLOW_EPHEMERAL_DUCKDB"
# How long publish waits for a lock on a published table that another session holds (a consumer's open
# transaction, a LOCK TABLE) before it gives up with a sentence; a server warehouse's publish only (a DuckDB
# file refuses at once). A number and a unit: `500ms`, `30s`, `2min`.
LOCK_TIMEOUT_VAR = "PIPELINE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_MS = 30_000
_LOCK_TIMEOUT_UNITS = {"ms": 1, "s": 1000, "min": 60_000}
MAX_LOCK_TIMEOUT_MS = 24 * 3_600_000
# Every variable this package reads; the hostile-values test feeds each of them.
VARIABLES = (
    DUCKDB_PATH_VAR, RAW_DATA_DIR_VAR, THREADS_VAR, PROJECT_DIR_VAR, PR_NUMBER_VAR, INSTANCE_VAR,
    STATE_DIR_VAR, DEFER_DUCKDB_PATH_VAR, FAULT_VAR, PII_KEY_VAR,
    "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_REF",
    GITHUB_ACTIONS_VAR, RUNNER_ENVIRONMENT_VAR, RUNNER_TEMP_VAR, WORKSPACE_VAR, ALLOW_EPHEMERAL_VAR,
    LOCK_TIMEOUT_VAR,
)  # fmt: skip
# A server warehouse's instance schemas (profiles.yml's `schema`, the sources' `schema`), set per instance.
SCHEMA_VAR = "DBT_SCHEMA"
RAW_SCHEMA_VAR = "DBT_RAW_SCHEMA"
# What profiles.yml reads that the pipeline sets itself for each dbt call (the warehouse's `dbt_env`).
PIPELINE_SET = (DUCKDB_PATH_VAR, THREADS_VAR, DEFER_DUCKDB_PATH_VAR, DEFER_DATABASE_VAR, SCHEMA_VAR, RAW_SCHEMA_VAR)
# `env_var('NAME')` with no default: dbt stops when NAME is unset (a default makes it optional).
_ENV_VAR_CALL = re.compile(r"""env_var\(\s*(['"])([^'"]+)\1\s*\)""")
# `env_var('NAME', ...)`, with a default or without.
_ENV_VAR_ANY_CALL = re.compile(r"""env_var\(\s*(['"])([^'"]+)\1""")
# More dbt threads than this is a typo, not a plan: DuckDB has one writer.
MAX_THREADS = 256

# Where dev and ci read raw files (staging and prod read $RAW_DATA_DIR); the README's layout names it too.
{%- if cookiecutter.include_example == "yes" %}
SAMPLE_DIR = Path("data") / "raw" / "sample"
{%- else %}
SAMPLE_DIR = Path("data") / "raw"
{%- endif %}
WAREHOUSE_DIR = Path("warehouse")


@dataclass(frozen=True)
class Settings:
    """Where one environment reads raw data and builds its tables."""

    env: str
    name: str
    project_dir: Path
    duckdb_path: Path
    raw_dir: Path
    threads: int
    state_dir: Path | None = None
    defer_path: Path | None = None
    fault: str = ""
    owner: str = ""  # who the instance belongs to, in words (`branch 'feat/a'`), for `env list`
    # $PII_HASH_KEY as given; `pii_key` checks it when a step needs it, so `env`/`report` run without it.
    pii_key_text: str = field(default="", repr=False)
    # $PIPELINE_LOCK_TIMEOUT in milliseconds: how long publish waits for a consumer's lock (`lock_timeout`).
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS

    @property
    def audit_path(self) -> Path:
        """Write-audit-publish: everything is built and checked here; consumers read `duckdb_path`.

        `<stem>__audit.duckdb` beside the published file. dbt-duckdb names the database after the
        file's stem and writes that name into SQL text unquoted, so a stem that is not a plain
        identifier (`o'brien`, a crafted $DBT_DUCKDB_PATH) becomes a readable, safe one plus a short
        hash of the exact stem: the path stays a path, and two different stems never share a file.
        """
        stem = self.duckdb_path.stem
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stem):
            stem = f"{sanitize(stem)}_{hashlib.sha256(stem.encode()).hexdigest()[:8]}"
        return self.duckdb_path.with_name(f"{stem}__audit.duckdb")

    @property
    def reports_dir(self) -> Path:
        """One folder per run of this instance: JUnit XML, markdown, HTML, JSON."""
        return self.project_dir / "reports" / self.name

    @property
    def target_dir(self) -> Path:
        """Dbt artifacts (manifest, run results) of this environment instance, never shared."""
        return self.project_dir / "target" / self.name

    @property
    def log_dir(self) -> Path:
        return self.project_dir / "logs" / self.name

    @property
    def pii_key(self) -> bytes | None:
        """The key ingest masks `pii` columns with (None in prod: clear); PipelineError if staging has none."""
        return pii.resolve_key(self.env, self.pii_key_text, PII_KEY_VAR)

    @property
    def is_shared(self) -> bool:
        return self.env in SHARED_ENVIRONMENTS


# Instance names become DuckDB file stems and, on a server warehouse, schema names: Postgres allows
# 63 bytes, and the audit copy adds `__audit`, so a name keeps to 56 lowercase ASCII characters.
NAME_BYTES = 63
AUDIT_SUFFIX = "__audit"
# A server warehouse keeps an instance's raw tables in `<name>__raw`.
RAW_SUFFIX = "__raw"
MAX_NAME = NAME_BYTES - len(AUDIT_SUFFIX)
HASH_LENGTH = 8
READABLE_LENGTH = 40
# What `current_branch` returns without a branch: texts no git branch can be (git refuses spaces), each
# with its fixed instance; a branch named like one of those instances is hashed to stay apart.
DETACHED, NO_GIT = "(detached HEAD)", "(no git repository)"
_WITHOUT_BRANCH = {DETACHED: "detached", NO_GIT: "local"}
# How much of a user's value a message repeats: a 10,000-character value must not become the message.
_SHOWN_LENGTH = 60


def shown(value: str) -> str:
    """`value` quoted for a message: control characters escaped as Python does, clipped to ~60 characters."""
    text = value.encode("unicode_escape", "backslashreplace").decode("ascii") if not value.isprintable() else value
    if len(text) > _SHOWN_LENGTH:
        text = f"{text[:_SHOWN_LENGTH]}... ({len(value):,} characters)"
    return f"'{text}'"


def digest(text: str) -> str:
    """A short, stable hash of the exact text (8 hex digits of SHA-256) that tells apart names a slug merges."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def readable(text: str, max_length: int = READABLE_LENGTH) -> str:
    """The readable part of a name: transliterated, lowercase ASCII words joined by `_` (`Café/B` -> `cafe_b`).

    May be empty (`???`); different texts may share it, which is why `distinct` adds a hash.
    """
    return slugify(text, separator="_", max_length=max_length, lowercase=True)


def sanitize(name: str, max_length: int = READABLE_LENGTH) -> str:
    """Turn a name into a safe file or schema word: `feat/New-Thing` -> `feat_new_thing`, `???` -> `detached`."""
    return readable(name, max_length) or "detached"


def _looks_hashed(name: str) -> bool:
    """A name ending like `_3f2a9c1d` is hashed too, so no branch can pose as another branch's hashed name."""
    tail = name.rsplit("_", 1)[-1]
    return len(tail) == HASH_LENGTH and all(char in "0123456789abcdef" for char in tail)


def distinct(text: str, max_length: int = MAX_NAME) -> str:
    """A valid name for `text` that no other text gets (at most `max_length` characters).

    The text itself when it already is one (`feat_a`), else its readable form plus `_<hash of the exact
    text>` (`feat/a` -> `feat_a_3f2a9c1d`), so names a slug would merge or cut stay apart.
    """
    slug = readable(text, min(READABLE_LENGTH, max_length - HASH_LENGTH - 1))
    if slug == text and len(text) <= max_length and not _looks_hashed(text) and text not in _WITHOUT_BRANCH.values():
        return text
    return f"{slug}_{digest(text)}" if slug else digest(text)


def fit(name: str) -> str:
    """`name`, or when it is longer than MAX_NAME its first characters plus a hash of the whole name."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[: MAX_NAME - HASH_LENGTH - 1].rstrip('_')}_{digest(name)}"


def current_branch(project_dir: Path, environ: Mapping[str, str]) -> str:
    """The git branch being worked on; CI's checkout is detached, so its variables win.

    Returns DETACHED for a detached HEAD and NO_GIT outside a git repository.
    """
    for var in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        if environ.get(var):
            return environ[var]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return NO_GIT
    branch = result.stdout.strip()
    return DETACHED if branch == "HEAD" else branch


_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_MAX_DIGITS = 30  # int() of thousands of digits is slow, and Python refuses over 4,300


def integer(text: str, name: str, example: int, minimum: int, maximum: int, *, what: str = "a whole number") -> int:
    """`text` as a whole number in [minimum, maximum], written in ASCII digits; else a PipelineError naming `name`.

    `str.isdigit()` and `int()` accept `²` and `٣`; a setting is plain digits 0-9 or refused.
    """
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped) or len(stripped) > _MAX_DIGITS or not minimum <= int(stripped) <= maximum:
        raise PipelineError(
            f"{name}={shown(text)} must be {what} from {minimum:,} to {maximum:,} in digits 0-9, e.g. {name}={example}."
        )
    return int(stripped)


def _integer(
    environ: Mapping[str, str], var: str, example: int, *, minimum: int, maximum: int, what: str = "a whole number"
) -> int | None:
    """The whole-number variable `var`, None when unset or blank."""
    text = environ.get(var)
    if text is None or not text.strip():
        return None
    return integer(text, var, example, minimum, maximum, what=what)


# Linux refuses a path longer than 4096 bytes or holding a name longer than 255 bytes (ENAMETOOLONG). A
# relative path gets the project folder in front and the pipeline adds suffixes to names
# (`__audit.duckdb.wal`, `.owner.json`), so a given path keeps to 3000 bytes and 200 per name.
_PATH_BYTES, _COMPONENT_BYTES = 3000, 200


def path(text: str, name: str, example: str) -> Path:
    """`text` as a path, or a PipelineError naming `name` when no filesystem accepts it.

    Refused: blank, a NUL character, text the file system cannot encode, or too long (see _PATH_BYTES).
    Leading and trailing spaces are dropped, as a copied value often has them.
    """
    value = text.strip()
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError:
        encoded = b"\x00"  # a lone surrogate: no file name can hold it
    if (
        not encoded
        or b"\x00" in encoded
        or len(encoded) > _PATH_BYTES
        or any(len(part) > _COMPONENT_BYTES for part in encoded.split(b"/"))
    ):
        raise PipelineError(
            f"{name}={shown(text)} is not a usable path (blank, a NUL or undecodable character, or longer "
            f"than {_PATH_BYTES} bytes or {_COMPONENT_BYTES} per name); use e.g. {name}={example}."
        )
    return Path(value)


def _path(environ: Mapping[str, str], var: str, example: str) -> Path | None:
    """The path variable `var`, None when unset or blank."""
    text = environ.get(var)
    if text is None or not text.strip():
        return None
    return path(text, var, example)


def lock_timeout(environ: Mapping[str, str]) -> int:
    """$PIPELINE_LOCK_TIMEOUT in milliseconds (DEFAULT_LOCK_TIMEOUT_MS when unset or blank).

    A whole number and a unit (ms, s or min), from 1 ms to 24 h: `500ms`, `30s`, `2min`. Anything else is a
    PipelineError naming the variable; 0 is refused, as it would mean waiting for ever.
    """
    text = environ.get(LOCK_TIMEOUT_VAR, "")
    if not text.strip():
        return DEFAULT_LOCK_TIMEOUT_MS
    match = re.fullmatch(r"\s*([0-9]{1,9})\s*(ms|s|min)\s*", text, re.ASCII)
    value = int(match[1]) * _LOCK_TIMEOUT_UNITS[match[2]] if match else 0
    if not 1 <= value <= MAX_LOCK_TIMEOUT_MS:
        raise PipelineError(
            f"{LOCK_TIMEOUT_VAR}={shown(text)} must be a whole number with a unit (ms, s or min) from 1ms to 24 hours, "
            f"e.g. {LOCK_TIMEOUT_VAR}=30s."
        )
    return value


# A pull request number as GitHub gives it; 9 digits leave room for every repository there is.
_MAX_PR = 999_999_999


def pr_number(environ: Mapping[str, str]) -> int | None:
    """The pull request being built: $PR_NUMBER, or GitHub's `refs/pull/<n>/merge` ref.

    Normalised (`007` is PR 7); anything but a number from 1 is a PipelineError naming the variable.
    """
    number = _integer(environ, PR_NUMBER_VAR, 42, minimum=1, maximum=_MAX_PR, what="a pull request number")
    if number is None:
        match = re.fullmatch(r"refs/pull/([0-9]{1,9})/merge", environ.get("GITHUB_REF", ""), re.ASCII)
        number = int(match[1]) if match and int(match[1]) >= 1 else None
    return number


def instance_name(env: str, project_dir: Path, environ: Mapping[str, str]) -> str:
    """The isolated instance of an environment: dev per branch, ci per pull request.

    Two different branch names never share an instance: `feat_a` -> `dev__feat_a`, `feat/a` and
    `feat-a` -> `dev__feat_a_<hash of the exact name>`.
    """
    if env == "dev":
        branch = current_branch(project_dir, environ)
        return f"dev__{_WITHOUT_BRANCH.get(branch) or distinct(branch, MAX_NAME - len('dev__'))}"
    if env == "ci":
        number = pr_number(environ)
        return f"ci_pr_{number}" if number else "ci"
    return env


def owner(env: str, project_dir: Path, environ: Mapping[str, str]) -> str:
    """Who an instance belongs to, in words for `env list`: `branch 'feat/a'`, `pull request 7`, ..."""
    given = environ.get(INSTANCE_VAR, "").strip()
    if env == "dev":
        branch = current_branch(project_dir, environ)
        source = branch if branch in _WITHOUT_BRANCH else f"branch {shown(branch)}"
    elif env == "ci":
        number = pr_number(environ)
        source = f"pull request {number}" if number else "ci without a pull request"
    else:
        source = env
    return f"{source}, {INSTANCE_VAR}={shown(given)}" if given else source


def find_project_dir(start: Path, environ: Mapping[str, str]) -> Path:
    """The dbt project root: $DBT_PROJECT_DIR, or the nearest folder up with dbt_project.yml."""
    given = _path(environ, PROJECT_DIR_VAR, "/path/to/project")
    if given is not None:
        folder = given.resolve()
        if not (folder / "dbt_project.yml").is_file():
            raise PipelineError(
                f"{PROJECT_DIR_VAR}={shown(str(given))} has no dbt_project.yml; point it at the dbt project's folder."
            )
        return folder
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    raise PipelineError(
        f"no dbt_project.yml in {start} or any folder above it; "
        f"run this from inside the project or set {PROJECT_DIR_VAR}."
    )


def pii_key(env: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The PII mask key of `env` from $PII_HASH_KEY (None in prod); PipelineError if staging has none."""
    environ = os.environ if environ is None else environ
    return pii.resolve_key(env, environ.get(PII_KEY_VAR, ""), PII_KEY_VAR)


def profile_variables(project_dir: Path, target: str) -> list[str]:
    """The env vars dbt's `target` output reads with no default (`env_var('NAME')`), in file order.

    Read from `<project_dir>/profiles.yml` (the pipeline's --profiles-dir), profile named by
    dbt_project.yml's `profile:`. [] when a file, the profile or the target is missing or unreadable:
    dbt then says so itself.
    """
    return _profile_calls(project_dir, target, _ENV_VAR_CALL)


def blank_profile_variables(project_dir: Path, target: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The env vars dbt's `target` output reads (with a default or without) that are set but blank in `environ`.

    dbt's `env_var('PGPORT', '5432')` takes a set variable as it is, so an empty one (a GitHub workflow's
    `vars.PGPORT` of an undefined variable) would replace the default with ''; the pipeline
    unsets these for its dbt calls (build.py), as it reads blank as unset everywhere else. `environ` defaults
    to the process's; names in file order.
    """
    environ = os.environ if environ is None else environ
    return [
        name
        for name in _profile_calls(project_dir, target, _ENV_VAR_ANY_CALL)
        if name in environ and not environ[name].strip()
    ]


def _profile_calls(project_dir: Path, target: str, pattern: re.Pattern[str]) -> list[str]:
    """The variable names `pattern` (group 2) finds in the values of `target`'s output in profiles.yml."""
    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
        profiles = yaml.safe_load((project_dir / "profiles.yml").read_text(encoding="utf-8"))
        output = profiles[project["profile"]]["outputs"][target]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return []
    found: list[str] = []
    values: list[object] = [output]
    while values:
        value = values.pop(0)
        if isinstance(value, dict):
            values += value.values()
        elif isinstance(value, list):
            values += value
        elif isinstance(value, str):
            found += [name for _, name in pattern.findall(value) if name not in found]
    return found


def _missing(env: str, needed: dict[str, str]) -> PipelineError:
    """One sentence naming every setting a shared environment lacks, with an example of each."""
    # "its own": the public dev key that dev and ci use does not count (pii.resolve_key refuses it).
    names = [f"its own {var}" if var == PII_KEY_VAR else var for var in needed]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    verb = "is" if len(names) == 1 else "are"
    exports = " ".join(f"{var}={example}" for var, example in needed.items())
    return PipelineError(
        f"environment '{env}' needs {listed}, which {verb} not set; "
        f"export {exports} (dev and ci have defaults, {env} does not)."
    )


def _needed(env: str, project_dir: Path, connects: bool, uses_raw: bool = True, keyed: bool = True) -> dict[str, str]:
    """Each setting a shared environment must be given, with an example value for the error message."""
    needed = {RAW_DATA_DIR_VAR: "/data/raw"} if uses_raw else {}
    # Where the published database is, for a warehouse whose profile names a file (a server's names no path).
    if DUCKDB_PATH_VAR in profile_variables(project_dir, env):
        needed = {DUCKDB_PATH_VAR: f"/data/{env}.duckdb", **needed}
    if connects:
        if env == "staging" and keyed:  # prod stores clear values and needs no key (pii.resolve_key)
            needed[PII_KEY_VAR] = "$(openssl rand -hex 32)"
        for var in profile_variables(project_dir, env):
            if var not in PIPELINE_SET:
                needed.setdefault(var, '"<value>"')
    return needed


def ephemeral_database(env: str, given: Path | None, project_dir: Path, environ: Mapping[str, str]) -> None:
    """Refuse staging's or prod's DuckDB file where the GitHub Actions job would lose it; PipelineError if so.

    `given` is $DBT_DUCKDB_PATH as typed (relative to `project_dir`, the checkout, when not absolute).
    Only inside a GitHub Actions job, told by GitHub's default variables (docs.github.com, "Variables
    reference" > "Default environment variables"): GITHUB_ACTIONS is `true` in every job;
    RUNNER_ENVIRONMENT is `github-hosted` (a fresh machine per job, discarded after it: every path is
    lost) or `self-hosted`; RUNNER_TEMP "is emptied at the beginning and end of each job"; and
    GITHUB_WORKSPACE is the checkout, which actions/checkout cleans with `git clean -ffdx` (its default
    `clean: true`) at the next job, deleting untracked files such as `warehouse/*.duckdb`. So on a
    self-hosted runner the file must lie outside both, given as an absolute path. dev and ci are
    throwaway instances and never checked. $PIPELINE_ALLOW_EPHEMERAL_DUCKDB=true skips the check, for
    a job that copies the database files (the published file and its `__audit` copy) out and back
    itself, or whose staging or prod is a throwaway of its own (benchmarks/slim_ci.py); any value but
    `true`, `false` or blank is refused.
    """
    allow = environ.get(ALLOW_EPHEMERAL_VAR, "").strip()
    if allow not in ("", "true", "false"):
        raise PipelineError(
            f"{ALLOW_EPHEMERAL_VAR}={shown(allow)} must be true or false, e.g. {ALLOW_EPHEMERAL_VAR}=true."
        )
    if env not in SHARED_ENVIRONMENTS or given is None or allow == "true":
        return
    if environ.get(GITHUB_ACTIONS_VAR, "").strip() != "true":
        return
    runner = f"this GitHub Actions job ({GITHUB_ACTIONS_VAR}=true)"
    if environ.get(RUNNER_ENVIRONMENT_VAR, "").strip() == "github-hosted":
        where = (
            f"{runner} runs on a GitHub-hosted runner ({RUNNER_ENVIRONMENT_VAR}=github-hosted), "
            "which is discarded after the job"
        )
    elif not given.is_absolute():
        where = f"it is relative, so inside the checkout of {runner}, which the next job's actions/checkout cleans"
    else:
        where = ""
        lost = {RUNNER_TEMP_VAR: "emptied after every job", WORKSPACE_VAR: "cleaned by the next job's actions/checkout"}
        for var, what in lost.items():
            folder = _path(environ, var, "/home/runner/work/_temp")
            if folder is not None and given.resolve().is_relative_to(folder.resolve()):
                where = f"it is inside {var} of {runner}, {what}"
                break
        if not where:
            return
    raise PipelineError(
        f"{DUCKDB_PATH_VAR}={shown(str(given))} would lose {env}'s database: {where}; run the job on a self-hosted "
        f"runner (the repository variable PIPELINE_RUNNER) with {DUCKDB_PATH_VAR} an absolute path on its "
        f"persistent disk outside the workspace, e.g. /srv/pipeline/{env}.duckdb, or set {ALLOW_EPHEMERAL_VAR}=true "
        "if the job copies the database out itself."
    )


def reserved_suffix(name: str) -> str | None:
    """`__audit` or `__raw` when `name` holds it, else None: no instance name may.

    An instance's schemas are `<name>__audit[_<custom>]` and `<name>__raw`: a name holding either suffix could be
    taken for another instance's schema (and dropped with it).
    """
    return next((suffix for suffix in (AUDIT_SUFFIX, RAW_SUFFIX) if suffix in name), None)


def _instance(env: str, project_dir: Path, environ: Mapping[str, str]) -> str:
    """The instance name: $PIPELINE_INSTANCE as given (run-many's sets), else derived from branch or PR.

    A given name is the derived one or a set of it (`<derived>__<label>`, as run-many names them): `--env dev` with
    PIPELINE_INSTANCE=prod would write the dev sample into prod, and `env drop` would drop it without
    `--allow-shared`; another branch's or pull request's instance is not this checkout's either.
    """
    derived = instance_name(env, project_dir, environ)
    given = environ.get(INSTANCE_VAR, "").strip()
    if not given:
        return derived
    if not re.fullmatch(r"[a-z0-9_]+", given, re.ASCII):
        raise PipelineError(
            f"{INSTANCE_VAR}={shown(given)} must be lowercase letters, digits and underscores, e.g. dev__main__eu."
        )
    suffix = reserved_suffix(given)
    if suffix:
        raise PipelineError(
            f"{INSTANCE_VAR}={shown(given)} holds {suffix}, which names an instance's "
            f"{'audit copy' if suffix == AUDIT_SUFFIX else 'raw tables'}; choose another name."
        )
    if given != derived and not given.startswith(f"{derived}__"):
        raise PipelineError(
            f"{INSTANCE_VAR}={shown(given)} is not an instance of --env {env} here, whose instance is {derived}: "
            f"name {derived} or a set of it ({derived}__<label>), or unset {INSTANCE_VAR}."
        )
    return fit(given)


def check_raw_dir(folder: Path, given: str) -> None:
    """Refuse a raw folder that does not exist or is a file; PipelineError naming `given` (`--raw-dir X`) and the fix.

    `folder` is the resolved path, `given` how the user named it (`--raw-dir 'x'` or `RAW_DATA_DIR='x'`). Called
    before a command that ingests opens its warehouse, so a mistyped folder leaves no instance, lock or run behind.
    A declared raw file missing from an existing folder is ingest's to report.
    """
    if folder.is_dir():
        return
    if folder.exists():
        raise PipelineError(f"{given} is a file, not a folder; name the folder that holds the raw files.")
    raise PipelineError(f"{given} does not exist; name the folder that holds the raw files, e.g. {SAMPLE_DIR}.")


def resolve(
    env: str,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    raw_dir: Path | None = None,
    *,
    connects: bool = False,
    uses_raw: bool = True,
    ingests: bool = False,
    keyed: bool = True,
) -> Settings:
    """Settings for `env`, read from the environment with defaults for dev and ci only.

    Every variable is checked here, so bad values fail as one PipelineError naming the variable and an
    example, before anything runs: whole numbers are ASCII digits in range, paths are ones a filesystem
    accepts, and a staging or prod run names every missing setting at once. `connects`: the command
    ingests or starts dbt, so staging's $PII_HASH_KEY and every variable the target's profile reads
    without a default (`profile_variables`) are among those settings; `env` and `report` need neither.
    `uses_raw`: the command reads the raw folder, so staging and prod demand $RAW_DATA_DIR (`env` does not).
    `keyed`: a command that `connects` writes or builds rows that may hold pii, so staging demands its
    $PII_HASH_KEY; `env` connects (to create or drop an instance where the profile says) but masks nothing.
    `ingests`: the command loads raw files, so a raw folder the user named (`raw_dir`, else $RAW_DATA_DIR) must
    exist and be a folder (`check_raw_dir`); the committed sample folder may be absent in a project whose sources
    declare no raw file, and a declared file missing from it is ingest's to name.
    """
    environ = os.environ if environ is None else environ
    if env not in ENVIRONMENTS:
        raise PipelineError(f"unknown environment {shown(env)}; use one of {', '.join(ENVIRONMENTS)}.")
    project_dir = find_project_dir(cwd or Path.cwd(), environ)
    name = _instance(env, project_dir, environ)

    duckdb_path = _path(environ, DUCKDB_PATH_VAR, f"/data/{env}.duckdb")
    raw_named = f"--raw-dir {shown(str(raw_dir))}" if raw_dir is not None else ""
    raw_dir = raw_dir if raw_dir is not None else _path(environ, RAW_DATA_DIR_VAR, "/data/raw")
    if env in SHARED_ENVIRONMENTS:
        given = {DUCKDB_PATH_VAR: duckdb_path, RAW_DATA_DIR_VAR: raw_dir}
        needed = _needed(env, project_dir, connects, uses_raw or ingests, keyed)
        missing = {var: example for var, example in needed.items() if not given.get(var, environ.get(var, "").strip())}
        if missing:
            raise _missing(env, missing)
        if connects and keyed:
            pii.resolve_key(env, environ.get(PII_KEY_VAR, ""), PII_KEY_VAR)  # set, but too short or the dev key
    ephemeral_database(env, duckdb_path, project_dir, environ)  # a database a GitHub job would lose
    state_dir = _path(environ, STATE_DIR_VAR, "prod-state")
    defer_path = _path(environ, DEFER_DUCKDB_PATH_VAR, "/data/prod.duckdb")
    # dbt-duckdb writes the attach alias (the file's stem) into its ATTACH statement unquoted.
    if defer_path is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", defer_path.stem):
        raise PipelineError(
            f"{DEFER_DUCKDB_PATH_VAR}={shown(str(defer_path))} must name a file whose name before .duckdb is "
            "letters, digits and underscores (it becomes the database name), e.g. /data/prod.duckdb."
        )
    threads = _integer(environ, THREADS_VAR, 4, minimum=1, maximum=MAX_THREADS)
    fault = environ.get(FAULT_VAR, "").strip()
    if fault and fault not in FAULTS:
        raise PipelineError(f"{FAULT_VAR}={shown(fault)} is not a known fault; use one of {', '.join(FAULTS)}.")

    if ingests and raw_dir is not None:  # a folder the user named; the default one may be absent (nothing to load)
        check_raw_dir(project_dir / raw_dir, raw_named or f"{RAW_DATA_DIR_VAR}={shown(str(raw_dir))}")

    return Settings(
        env=env,
        name=name,
        project_dir=project_dir,
        duckdb_path=(project_dir / (duckdb_path or WAREHOUSE_DIR / f"{name}.duckdb")).resolve(),
        raw_dir=(project_dir / (raw_dir or SAMPLE_DIR)).resolve(),
        threads=4 if threads is None else threads,
        state_dir=(project_dir / state_dir).resolve() if state_dir else None,
        defer_path=(project_dir / defer_path).resolve() if defer_path else None,
        fault=fault,
        owner=owner(env, project_dir, environ),
        pii_key_text=environ.get(PII_KEY_VAR, ""),
        lock_timeout_ms=lock_timeout(environ),
    )
