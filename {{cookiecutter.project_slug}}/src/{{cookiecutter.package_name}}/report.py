"""A short run summary from dbt's artifacts and the warehouse: what ran, what passed, what landed."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .config import Settings
from .ingest import QUARANTINE

# dbt's unique_id prefixes, as a person says them.
KIND_NAMES = {
    "model": "models",
    "test": "data tests",
    "unit_test": "unit tests",
    "seed": "seeds",
    "snapshot": "snapshots",
}


@dataclass(frozen=True)
class Summary:
    env: str
    ran: bool = False
    statuses: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    mart_rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _read_json(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _mart_relations(manifest: dict[str, object]) -> dict[str, str]:
    """Name -> relation of every model in a `marts` folder that exists in the warehouse."""
    nodes = manifest.get("nodes", {})
    relations = {}
    if isinstance(nodes, dict):
        for node in nodes.values():
            if node.get("resource_type") == "model" and "marts" in node.get("fqn", []) and node.get("relation_name"):
                relations[node["name"]] = node["relation_name"]
    return dict(sorted(relations.items()))


def _counts(settings: Settings, relations: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    if not settings.duckdb_path.is_file():
        return {}, {}
    mart_rows: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    # Not read_only: dbt-duckdb keeps its connection open in this process, and DuckDB
    # refuses a second connection to the same file with a different configuration.
    with duckdb.connect(str(settings.duckdb_path)) as con:
        for name, relation in relations.items():
            try:
                row = con.execute(f"select count(*) from {relation}").fetchone()
            except duckdb.CatalogException:
                continue
            mart_rows[name] = int(row[0]) if row else 0
        with contextlib.suppress(duckdb.CatalogException):  # no ingest has run yet
            quarantined = dict(
                con.execute(f"select source_table, count(*) from raw.{QUARANTINE} group by 1 order by 1").fetchall()
            )
    return mart_rows, quarantined


def summarize(settings: Settings) -> Summary:
    """Read the last dbt run of this environment and count what it produced."""
    run_results = _read_json(settings.target_dir / "run_results.json")
    results = run_results.get("results", [])
    results = results if isinstance(results, list) else []
    statuses = Counter(str(r["status"]) for r in results)
    kinds = Counter(str(r["unique_id"]).split(".")[0] for r in results)
    failures = [
        f"{r['unique_id']}: {r.get('message') or r['status']}"
        for r in results
        if r["status"] in ("error", "fail", "runtime error")
    ]
    elapsed = run_results.get("elapsed_time", 0.0)
    mart_rows, quarantined = _counts(settings, _mart_relations(_read_json(settings.target_dir / "manifest.json")))
    return Summary(
        env=settings.env,
        ran=bool(run_results),
        statuses=dict(statuses),
        kinds=dict(kinds),
        elapsed=float(elapsed) if isinstance(elapsed, int | float) else 0.0,
        mart_rows=mart_rows,
        quarantined=quarantined,
        failures=failures,
    )


def render(summary: Summary) -> str:
    """The summary as a few lines of text for a terminal or a CI log."""
    if not summary.ran:
        return f"Run summary ({summary.env}): no dbt run found yet; run the `build` or `run` command first."
    if not summary.statuses:
        return f"Run summary ({summary.env}): the last dbt run had nothing to build; add models under models/."
    kinds = ", ".join(f"{count} {KIND_NAMES.get(kind, kind)}" for kind, count in sorted(summary.kinds.items()))
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(summary.statuses.items()))
    lines = [
        f"Run summary ({summary.env}): {'OK' if summary.ok else 'FAILED'}",
        f"  dbt         {kinds}: {statuses} in {summary.elapsed:.1f} s",
        f"  quarantine  {sum(summary.quarantined.values()):,} rows"
        + (" (" + ", ".join(f"{t} {n}" for t, n in summary.quarantined.items()) + "); see raw._quarantine"
           if summary.quarantined else ""),
    ]  # fmt: skip
    for name, rows in summary.mart_rows.items():
        lines.append(f"  mart        {name:<28} {rows:>10,} rows")
    lines += [f"  failed      {failure}" for failure in summary.failures]
    return "\n".join(lines)


def render_markdown(summary: Summary) -> str:
    """The summary as markdown, for a CI job summary or a pull request comment."""
    icon = "✅" if summary.ok else "❌"
    lines = [f"### {icon} Run summary: `{summary.env}`", ""]
    if not summary.ran:
        return "\n".join([*lines, "No dbt run found.", ""])
    lines += ["| what | count |", "|---|---:|"]
    lines += [f"| {KIND_NAMES.get(kind, kind)} | {count} |" for kind, count in sorted(summary.kinds.items())]
    lines += [f"| result: {status} | {count} |" for status, count in sorted(summary.statuses.items())]
    lines += [f"| quarantined rows: {table} | {rows:,} |" for table, rows in summary.quarantined.items()]
    lines += [f"| rows in mart `{name}` | {rows:,} |" for name, rows in summary.mart_rows.items()]
    if summary.failures:
        lines += ["", "**Failures**", ""] + [f"- `{failure}`" for failure in summary.failures]
    return "\n".join([*lines, ""])
