"""Several parameter sets at once: each runs the whole pipeline in its own environment instance.

`run-many --set eu:--var region=eu --set big:--scale 0.1` starts one pipeline process per
set, concurrently, each in instance `<instance>__<label>` (its own database, artifacts and
report folder), then prints one combined summary. Exit code 1 if any set failed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import warehouses
from .config import INSTANCE_VAR, PROJECT_DIR_VAR, Settings, reserved_suffix, sanitize, shown
from .errors import PipelineError


@dataclass(frozen=True)
class ParameterSet:
    label: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    label: str
    instance: str
    returncode: int
    document: dict[str, object]
    output: str


def parse_set(text: str) -> ParameterSet:
    """`label:args...` -> a parameter set; the label names the instance, the args go to `run`."""
    label, sep, args = text.partition(":")
    # `audit` or `raw` would name the set's instance like the main instance's audit copy or raw tables.
    if not sep or not label or sanitize(label) != label or reserved_suffix(f"__{label}"):
        raise PipelineError(
            f"--set {shown(text)} must be LABEL:ARGS with a label of lowercase letters and digits "
            "(not starting with `audit` or `raw`), e.g. eu:--var region=eu"
        )
    try:
        return ParameterSet(label, tuple(shlex.split(args)))
    except ValueError as error:  # an unclosed quote or a trailing backslash
        raise PipelineError(f"--set {shown(text)}: the arguments after ':' do not parse ({error}).") from None


def _run_one(settings: Settings, parameters: ParameterSet, package: str) -> Outcome:
    instance = f"{settings.name}__{parameters.label}"
    env = {**os.environ, INSTANCE_VAR: instance, PROJECT_DIR_VAR: str(settings.project_dir)}
    env.update(warehouses.for_settings(settings).sibling_env(instance))  # where a shared instance's set lives
    command = [sys.executable, "-m", package, "run", "--env", settings.env, *parameters.args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    reports = sorted((settings.project_dir / "reports" / instance).glob("*/report.json"))
    document = json.loads(reports[-1].read_text(encoding="utf-8")) if reports else {}
    return Outcome(parameters.label, instance, result.returncode, document, result.stdout + result.stderr)


def run_sets(settings: Settings, sets: Sequence[ParameterSet], package: str, say: Callable[[str], None] = print) -> int:
    """Run every set concurrently, then print one line per set and return 1 if any failed."""
    labels = [p.label for p in sets]
    if len(set(labels)) != len(labels):
        raise PipelineError(f"every --set needs its own label; got {', '.join(labels)}")
    say(f"==> {len(sets)} parameter sets in parallel: {', '.join(labels)}")
    with ThreadPoolExecutor(max_workers=len(sets)) as pool:
        outcomes = list(pool.map(lambda p: _run_one(settings, p, package), sets))
    say(f"{'set':<12} {'instance':<36} {'status':<10} {'errors':>6} {'warnings':>8}  marts")
    for outcome in outcomes:
        found = outcome.document.get("checks", [])
        checks = found if isinstance(found, list) else []
        errors = sum(c["severity"] == "error" and c["status"] == "fail" for c in checks)
        warnings = sum(c["severity"] == "warn" and c["status"] == "fail" for c in checks)
        models = outcome.document.get("models", [])
        marts = ", ".join(
            f"{m['name']} {int(m['rows']):,}"
            for m in (models if isinstance(models, list) else [])
            if m.get("rows") is not None
        )
        status = str(outcome.document.get("status", "crashed" if outcome.returncode else "?"))
        say(f"{outcome.label:<12} {outcome.instance:<36} {status:<10} {errors:>6} {warnings:>8}  {marts}")
        if outcome.returncode:
            say("\n".join(f"    {line}" for line in outcome.output.strip().splitlines()[-15:]))
    failed = [o.label for o in outcomes if o.returncode]
    say(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} sets passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0
