"""Slim CI: find the production state to compare a change with, and what to build against it.

Where the state comes from, best first:
1. the manifest saved by the last production deploy ($DBT_STATE_DIR, the CI artifact);
2. a manifest compiled from the merge-base of this branch with main (the repository's history), kept in
   target/<instance>-base with the commit it was parsed at, so the next slim run at the same merge-base
   reuses it instead of checking the commit out and parsing it again (a cold parse, ~4 s);
3. nothing: then the build is a full build.
Unchanged models are deferred to production (dbt's `--defer --favor-state`: production's relation even where
the instance holds an older copy of its own) when the warehouse has one to defer to
(`Warehouse.production`; DuckDB: the file $DBT_DEFER_DUCKDB_PATH names); otherwise the changed
models and their children are built with every parent they need.

A slim run resolves the state before ingest and loads only the raw tables its selection reads
(`sources_read`): with deferral, a mart change reads no raw table at all.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import build, warehouses
from .config import Settings

BASE_REFS = ("origin/main", "main")


@dataclass(frozen=True)
class State:
    """Where production state came from, and the dbt arguments that build against it."""

    source: str
    manifest_dir: Path | None
    args: tuple[str, ...]


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def merge_base(project_dir: Path) -> str | None:
    """The commit this branch left main at, if the repository knows main."""
    for ref in BASE_REFS:
        sha = _git(project_dir, "merge-base", "HEAD", ref)
        if sha:
            return sha
    return None


@contextmanager
def _worktree(project_dir: Path, sha: str) -> Iterator[Path]:
    """A throwaway checkout of one commit, removed afterwards."""
    top = _git(project_dir, "rev-parse", "--show-toplevel")
    prefix = _git(project_dir, "rev-parse", "--show-prefix") or ""
    with tempfile.TemporaryDirectory(prefix="merge-base-") as scratch:
        tree = Path(scratch) / "tree"
        _git(project_dir, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        try:
            yield tree / prefix
        finally:
            _git(Path(top or project_dir), "worktree", "remove", "--force", str(tree))


# Beside the merge-base's manifest.json: the commit (and target) it was parsed at.
PARSED_AT = "parsed_at.json"


def compile_merge_base(settings: Settings, sha: str) -> Path | None:
    """Parse the project as it was at `sha` into target/<name>-base; None when that fails.

    A manifest already parsed there at the same commit for the same target is reused as it is
    (target/<name>-base/parsed_at.json records which); any other is replaced.
    """
    out = settings.target_dir.with_name(f"{settings.name}-base")
    stamp = {"sha": sha, "target": settings.env}
    recorded = out / PARSED_AT
    if (out / "manifest.json").is_file() and recorded.is_file():
        try:
            if json.loads(recorded.read_text(encoding="utf-8")) == stamp:
                return out
        except ValueError:  # a half-written stamp: parse again
            pass
    recorded.unlink(missing_ok=True)
    with _worktree(settings.project_dir, sha) as base_dir:
        if not (base_dir / "dbt_project.yml").is_file():
            return None
        result = build.invoke(settings, build.dbt_args(["parse"], settings, project_dir=base_dir, target_dir=out))
    if not (result.success and (out / "manifest.json").is_file()):
        return None
    recorded.write_text(json.dumps(stamp), encoding="utf-8")
    return out


def resolve(settings: Settings, say: Callable[[str], None] = print) -> State:
    """Pick the best production state available and the selection that goes with it."""
    manifest_dir: Path | None = None
    source = ""
    if settings.state_dir is not None and (settings.state_dir / "manifest.json").is_file():
        manifest_dir, source = settings.state_dir, f"production manifest from {settings.state_dir}"
    else:
        sha = merge_base(settings.project_dir)
        if sha:
            manifest_dir = compile_merge_base(settings, sha)
            source = f"manifest compiled at merge-base {sha[:12]}"
    if manifest_dir is None:
        say("  state: no production manifest and no merge-base with main: full build")
        return State("none (full build)", None, ())

    selection: tuple[str, ...]
    production = warehouses.for_settings(settings).production()
    if production is not None:
        # `--favor-state`: an unselected parent is read from production even when this instance holds a copy of
        # its own (left by an earlier full build, maybe stale); plain `--defer` would read that copy.
        selection = ("--select", "state:modified+", "--defer", "--favor-state", "--state", str(manifest_dir))
        how = f"changed models and their children, the rest deferred to {production}"
    else:
        # `@`: the changed models, their children, and every parent those children need.
        # `cautious`: a test runs only when every relation it reads is built here; a data test across two
        # marts (e.g. a reconciliation) would otherwise read a mart that exists nowhere.
        selection = ("--select", "@state:modified", "--indirect-selection", "cautious", "--state", str(manifest_dir))
        how = "changed models with their children and all their parents (no production data to defer to)"
    say(f"  state: {source}; building {how}")
    return State(source, manifest_dir, selection)


def sources_read(manifest: Mapping[str, Any], selected: Iterable[str]) -> set[str]:
    """The source unique ids (`source.<package>.<source>.<table>`) that the `selected` nodes read.

    `manifest` is the run's parse as manifest.json holds it (`Parsed.as_dict`: `sources`, `nodes`); `selected`
    the unique ids a build selects (`build.selected`). A node reads the sources in its `depends_on.nodes`,
    and those of its ephemeral parents (dbt compiles an ephemeral model into the SQL of the node that refs it,
    so deferral cannot stand in for it). A selected source counts as read. Other unselected parents are
    deferred to production or, without deferral, selected too (`@state:modified`): their sources are theirs.
    """
    nodes = manifest.get("nodes") or {}
    sources = set(manifest.get("sources") or {})
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(selected)
    while pending:
        unique_id = pending.pop()
        if unique_id in seen:
            continue
        seen.add(unique_id)
        if unique_id in sources:
            found.add(unique_id)
            continue
        for parent in ((nodes.get(unique_id) or {}).get("depends_on") or {}).get("nodes") or []:
            if parent in sources:
                found.add(parent)
            elif ((nodes.get(parent) or {}).get("config") or {}).get("materialized") == "ephemeral":
                pending.append(parent)
    return found
