"""Checks with severities, from dbt's results and the pipeline's own rules, at every stage.

Three severities: **error** stops the line (the run fails and nothing is published),
**warn** flags (the run passes; the report and CI summary show it), **info** only reports.
dbt knows warn and error; a dbt test is info when its config has `meta: {severity: info}`
(with `severity: warn`, so dbt never fails on it). Stages: input, business, joins, output,
pii, performance, regression, trend; a test may name its own with `meta: {stage: ...}`.
"""

from __future__ import annotations

import csv
import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from . import sql
from .warehouses import MissingRelation, Session, WarehouseError

# The command line the messages name (the `contract` command writes a mart's column list).
CLI = "{{ cookiecutter.project_slug }}"
SEVERITIES = ("error", "warn", "info")
FAILING = ("fail", "warn", "error", "runtime error")
# Share of a raw file's rows that may be quarantined before the input check flags or stops.
QUARANTINE_WARN_SHARE = 0.01
QUARANTINE_ERROR_SHARE = 0.05


@dataclass(frozen=True)
class Check:
    stage: str
    name: str
    severity: str
    status: str  # pass | fail
    message: str = ""
    observed: float | None = None
    expected: str | None = None

    @property
    def stops_the_line(self) -> bool:
        return self.severity == "error" and self.status == "fail"

    @property
    def flagged(self) -> bool:
        return self.severity == "warn" and self.status == "fail"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON artifact (dbt's manifest, run results; a data manifest) as a dict; {} when absent."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _meta(node: Mapping[str, Any]) -> dict[str, Any]:
    config = node.get("config") or {}
    return {**(node.get("meta") or {}), **(config.get("meta") or {})}


def _stage(node: Mapping[str, Any], nodes: Mapping[str, Any]) -> str:
    """Where in the value pipeline a dbt test sits, from its meta or from what it tests."""
    parents = (node.get("depends_on") or {}).get("nodes", [])
    # A generic test belongs to the model it is attached to (a relationship also reads its target).
    tested = [node["attached_node"]] if node.get("attached_node") else parents
    folders = {part for parent in tested for part in nodes.get(parent, {}).get("fqn", [])}
    rules = [
        (bool(_meta(node).get("stage")), str(_meta(node).get("stage"))),
        (node.get("resource_type") == "unit_test", "business"),
        ((node.get("test_metadata") or {}).get("name") == "no_fanout", "joins"),
        (any(parent.startswith("source.") for parent in parents), "input"),
        (not node.get("test_metadata"), "business"),  # singular tests state business rules
        ("staging" in folders, "input"),
        ("intermediate" in folders, "joins"),
    ]
    return next((stage for applies, stage in rules if applies), "output")


def _severity(node: Mapping[str, Any]) -> str:
    declared = str(_meta(node).get("severity") or (node.get("config") or {}).get("severity") or "error").lower()
    return declared if declared in SEVERITIES else "error"


def from_dbt(target_dir: Path) -> list[Check]:
    """One check per dbt test, unit test, failed model and source freshness result."""
    manifest = read_json(target_dir / "manifest.json")
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    checks = []
    for result in read_json(target_dir / "run_results.json").get("results", []):
        unique_id, status = result["unique_id"], str(result["status"])
        node = nodes.get(unique_id, {})
        message = str(result.get("message") or "")
        if unique_id.startswith(("test.", "unit_test.")):
            # A test that could not run at all is an error whatever its declared severity.
            severity = "error" if status == "error" else _severity(node)
            checks.append(
                Check(
                    stage=_stage(node, nodes),
                    name=str(node.get("name") or unique_id.split(".")[-1]),
                    severity=severity,
                    status="fail" if status in FAILING else "pass",
                    message=message if status in FAILING else "",
                    observed=float(result["failures"]) if result.get("failures") is not None else None,
                )
            )
        elif status == "error":
            checks.append(Check("build", unique_id.split(".")[-1], "error", "fail", message))
    for result in read_json(target_dir / "sources.json").get("results", []):
        status = str(result.get("status"))
        source = result["unique_id"].removeprefix("source.").split(".", 1)[-1]
        age = result.get("max_loaded_at_time_ago_in_s")
        empty = _never_loaded(result)
        checks.append(
            Check(
                stage="input",
                name=f"freshness of {source}",
                severity="error" if status in ("error", "runtime error") else "warn",
                status="fail" if status in FAILING or empty else "pass",
                message=f"{source} has no rows: nothing was loaded into it"
                if empty
                else f"last loaded {age or 0:.0f} s ago",
                observed=None if empty else age,
            )
        )
    return checks


# dbt reports an empty source as loaded at its minimum timestamp (year 1, ~63.9e9 s ago); no real load
# is a century old.
_CENTURY_SECONDS = 100 * 365.25 * 86400


def _never_loaded(result: Mapping[str, Any]) -> bool:
    """Whether a source freshness result (sources.json) describes a table with no rows at all."""
    if result.get("max_loaded_at") is None and "max_loaded_at" in result:
        return True
    if str(result.get("max_loaded_at") or "").startswith("0001-"):
        return True
    return float(result.get("max_loaded_at_time_ago_in_s") or 0.0) > _CENTURY_SECONDS


def quarantine_checks(
    loaded: Mapping[str, int],
    quarantined: Mapping[str, int],
    warn_share: float = QUARANTINE_WARN_SHARE,
    error_share: float = QUARANTINE_ERROR_SHARE,
) -> list[Check]:
    """The share of each raw file sent to quarantine, against a warning and an error threshold."""
    checks = []
    for table in sorted(loaded):
        bad = quarantined.get(table, 0)
        total = loaded[table] + bad
        share = bad / total if total else 0.0
        severity = "error" if share > error_share else "warn"
        checks.append(
            Check(
                stage="input",
                name=f"quarantined share of {table}",
                severity=severity,
                status="fail" if share > warn_share else "pass",
                message=f"{bad:,} of {total:,} rows ({share:.1%}) quarantined",
                observed=round(share, 6),
                expected=f"<= {warn_share:.0%} (error above {error_share:.0%})",
            )
        )
    return checks


def budget_checks(target_dir: Path) -> list[Check]:
    """Each model's runtime against its `meta.budget_seconds` (severity `meta.budget_severity`, default warn)."""
    manifest = read_json(target_dir / "manifest.json")
    nodes = manifest.get("nodes", {})
    checks = []
    for result in read_json(target_dir / "run_results.json").get("results", []):
        node = nodes.get(result["unique_id"], {})
        meta = _meta(node)
        if node.get("resource_type") != "model" or "budget_seconds" not in meta:
            continue
        budget, seconds = float(meta["budget_seconds"]), float(result.get("execution_time") or 0.0)
        checks.append(
            Check(
                stage="performance",
                name=f"runtime of {node['name']}",
                severity=str(meta.get("budget_severity", "warn")),
                status="fail" if seconds > budget else "pass",
                message=f"{seconds:.2f} s against a budget of {budget:g} s",
                observed=round(seconds, 3),
                expected=f"<= {budget:g} s",
            )
        )
    return checks


def contract_checks(target_dir: Path) -> list[Check]:
    """A warning for each mart (a model under models/marts/) whose contract is not enforced.

    Reads `target/manifest.json`. A mart without a contract builds; consumers then get whatever columns
    and types its SQL happens to return, so the report names it: declare its columns (name, data_type)
    in its YAML and set `contract: {enforced: true}`, which the `contract` command writes from the built table.
    """
    checks = []
    for node in read_json(target_dir / "manifest.json").get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("fqn", [None, None])[1:2] != ["marts"]:
            continue
        enforced = bool(node.get("config", {}).get("contract", {}).get("enforced"))
        checks.append(
            Check(
                stage="output",
                name=f"contract of {node['name']}",
                severity="warn",
                status="pass" if enforced else "fail",
                message="enforced"
                if enforced
                else f"{node['name']} has no contract: `{CLI} contract {node['name']}` writes its columns "
                "(name, data_type) from the built table into its YAML and sets `contract: {enforced: true}`",
            )
        )
    return checks


def verdict(checks: Iterable[Check]) -> tuple[int, int, int]:
    """(errors that stop the line, warnings flagged, info results) of a set of checks."""
    checks = list(checks)
    return (
        sum(c.stops_the_line for c in checks),
        sum(c.flagged for c in checks),
        sum(c.severity == "info" and c.status == "fail" for c in checks),
    )


# Row counts may move this much against production before a change is flagged.
REGRESSION_ROW_TOLERANCE = 0.10
REGRESSION_METRIC_TOLERANCE = 0.01


def _relative_change(new: float, old: float) -> float:
    if old == 0:
        return 0.0 if new == 0 else float("inf")
    return (new - old) / abs(old)


# The aggregates a mart may declare as a regression metric; anything else is refused, never spliced.
AGGREGATES = ("sum", "avg", "min", "max", "count")


def _not_compared(stage: str, name: str, model: str) -> Check:
    return Check(stage, name, "info", "pass", f"not compared: {model} was not built or deferred to by this run")


def _numbers(rows: Sequence[Sequence[Any]]) -> tuple[float | None, ...]:
    """The first row of an aggregate query as floats (None stays None); WarehouseError for a non-number."""
    try:
        return tuple(None if value is None else float(value) for value in (rows[0] if rows else ()))
    except (TypeError, ValueError) as error:
        raise WarehouseError(f"an aggregate is not a number ({error})") from None


def regression_checks(audit: Session, target_dir: Path, built: Iterable[str]) -> list[Check]:
    """Compare what this run built with production: row counts and declared key metrics, with tolerances.

    A mart declares its key metrics as `meta: {regression: {metrics: {net_amount: sum}, tolerance: 0.01}}`
    (aggregates: sum, avg, min, max, count). Only marts in `built` (unique ids of models this run built)
    are judged: a mart this run did not build may hold an older run's rows, or none. `audit` is a Session on
    the audit location; production is what it reads through `production_relation`. A mart production lacks
    (MissingRelation) is info, not comparable; any other failure to read either side is a warning that fails,
    never a pass.
    """
    if not audit.production():
        return [
            Check("regression", "compared with production", "info", "pass", "no production database to compare with")
        ]
    nodes = read_json(target_dir / "manifest.json").get("nodes", {})
    found = []
    for unique_id in sorted(set(built)):
        node = nodes.get(unique_id, {})
        if node.get("resource_type") != "model" or "marts" not in node.get("fqn", []):
            continue
        settings = _meta(node).get("regression") or {}
        metrics = dict(settings.get("metrics") or {})
        unknown = sorted(str(how) for how in metrics.values() if str(how).lower() not in AGGREGATES)
        if unknown:
            found.append(
                Check("regression", f"{node['name']} against production", "error", "fail",
                      f"meta.regression.metrics names {', '.join(unknown)}; use one of {', '.join(AGGREGATES)}")
            )  # fmt: skip
            continue
        measures = {"rows": "count(*)"} | {
            f"{how}({column})": f"{str(how).lower()}({sql.identifier(str(column))})" for column, how in metrics.items()
        }
        # Plain aggregates, made numbers here: a cast's type name is not portable (`double` is DuckDB's and
        # Databricks', PostgreSQL spells it `double precision`, BigQuery `float64`).
        select = ", ".join(measures.values())
        try:
            new = _numbers(audit.query(f"select {select} from {audit.relation(node['schema'], node['alias'])}"))
            old = _numbers(
                audit.query(f"select {select} from {audit.production_relation(node['schema'], node['alias'])}")
            )
        except MissingRelation as error:  # a mart new on this branch has no production yet
            found.append(
                Check("regression", f"{node['name']} against production", "info", "pass", f"not comparable: {error}")
            )
            continue
        except WarehouseError as error:  # any other failure is not a pass: it would hide the check for good
            found.append(
                Check("regression", f"{node['name']} against production", "warn", "fail",
                      f"could not compare with production: {error}; fix the query or the mart's meta.regression")
            )  # fmt: skip
            continue
        for (label, _), new_value, old_value in zip(measures.items(), new, old, strict=True):
            tolerance = (
                REGRESSION_ROW_TOLERANCE
                if label == "rows"
                else float(settings.get("tolerance", REGRESSION_METRIC_TOLERANCE))
            )
            change = _relative_change(new_value or 0.0, old_value or 0.0)
            found.append(
                Check(
                    stage="regression",
                    name=f"{node['name']} {label} against production",
                    severity=str(settings.get("severity", "warn")),
                    status="fail" if abs(change) > tolerance else "pass",
                    message=f"{old_value or 0:,.2f} in production, {new_value or 0:,.2f} now ({change:+.1%})",
                    observed=round(change, 6) if change != float("inf") else None,
                    expected=f"within ±{tolerance:.0%}",
                )
            )
    return found


RECONCILIATIONS = Path("data") / "reference" / "reconciliations.yml"


def _reference_rows(path: Path, keys: list[str], figures: list[str]) -> dict[tuple[str, ...], list[float]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            tuple(row[key] for key in keys): [float(row[figure]) for figure in figures]
            for row in csv.DictReader(handle)
        }


def _same_source(reference_dir: Path, raw_dir: Path) -> str:
    """Why the reference does not describe this run's raw data, or '' when it does (or cannot tell)."""
    reference, raw = read_json(reference_dir / "manifest.json"), read_json(raw_dir / "manifest.json")
    if not reference or not raw:
        return ""
    made = (reference.get("seed"), reference.get("scale"))
    here = (raw.get("seed"), raw.get("scale"))
    if made == here:
        return ""
    return (
        f"the reference describes raw data of seed {made[0]} at scale {made[1]}; "
        f"this run's is seed {here[0]} at scale {here[1]}"
    )


def _relations(audit: Session, nodes: Mapping[str, Any], built: set[str], deferred_to: bool) -> dict[str, str]:
    """Model name -> quoted relation a check may read: built by this run here, or deferred to in production.

    A deferred model (slim CI, `deferred_to`) carries dbt's `defer_relation` in the manifest; the session names
    it in production (`Session.production_relation`; DuckDB attaches production read-only under that
    relation's database name, as the ci target attaches it for dbt).
    """
    relations = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") != "model":
            continue
        deferred = node.get("defer_relation") or {}
        if unique_id in built:
            relations[node["name"]] = audit.relation(node["schema"], node.get("alias") or node["name"])
        elif deferred and deferred_to and audit.production():
            relations[node["name"]] = audit.production_relation(
                deferred["schema"], deferred.get("alias") or node["name"], str(deferred.get("database") or "")
            )
    return relations


def reconciliation_checks(
    audit: Session,
    project_dir: Path,
    raw_dir: Path,
    target_dir: Path,
    *,
    built: Iterable[str] = (),
    deferred: bool = False,
) -> list[Check]:
    """Figures of the warehouse against reference reports, as `data/reference/reconciliations.yml` declares.

    `audit` is a Session on the audit location. `built` holds the unique ids of the models this run built
    (run_results.json); `deferred`: a slim build deferred the others to production (the session's). A query
    naming a model that is neither is "not compared" (info): an older run's rows, or an empty table left by
    `unit-test`, prove nothing.
    """
    declared = project_dir / RECONCILIATIONS
    if not declared.is_file():
        return []
    entries = (yaml.safe_load(declared.read_text(encoding="utf-8")) or {}).get("reconciliations") or []
    nodes = read_json(target_dir / "manifest.json").get("nodes", {})
    known = {node["name"] for node in nodes.values() if node.get("resource_type") == "model"}
    relations = _relations(audit, nodes, set(built), deferred)
    elsewhere = _same_source(declared.parent, raw_dir)
    found = []
    for entry in entries:
        name, severity = f"reconciliation {entry['name']}", str(entry.get("severity", "error"))
        if elsewhere:
            found.append(Check("business", name, "info", "pass", f"not compared: {elsewhere}"))
            continue
        keys, figures = list(entry["keys"]), list(entry["figures"])
        tolerance = float((entry.get("tolerance") or {}).get("absolute", 0.0))
        named = [field for _, field, _, _ in string.Formatter().parse(entry["query"]) if field]
        unknown = [model for model in named if model not in known]
        if unknown:
            found.append(Check("business", name, "error", "fail", f"query names an unknown model '{unknown[0]}'"))
            continue
        absent = [model for model in named if model not in relations]
        if absent:
            found.append(_not_compared("business", name, absent[0]))
            continue
        try:
            columns, rows = audit.query_with_names(entry["query"].format_map(relations))
        except MissingRelation as error:  # a relation dbt reported built is gone: say so, do not pass
            found.append(Check("business", name, "error", "fail", f"could not read the warehouse: {error}"))
            continue
        warehouse = {
            tuple(str(row[columns.index(key)]) for key in keys): [float(row[columns.index(f)] or 0) for f in figures]
            for row in rows
        }
        reference = _reference_rows(declared.parent / entry["reference"], keys, figures)
        differences = []
        for key in sorted(set(warehouse) | set(reference)):
            if key not in warehouse or key not in reference:
                differences.append(
                    (float("inf"), f"{'/'.join(key)} only in the {'reference' if key in reference else 'warehouse'}")
                )
                continue
            for figure, ours, theirs in zip(figures, warehouse[key], reference[key], strict=True):
                if abs(ours - theirs) > tolerance:
                    differences.append(
                        (
                            abs(ours - theirs),
                            f"{'/'.join(key)} {figure}: {ours:,.2f} here, {theirs:,.2f} in the reference",
                        )
                    )
        worst = max((gap for gap, _ in differences), default=0.0)
        message = (
            f"{len(differences)} of {len(reference)} rows differ beyond ±{tolerance:g}: "
            + "; ".join(m for _, m in differences[:3])
            if differences
            else f"{len(reference)} rows agree within ±{tolerance:g}"
        )
        found.append(
            Check("business", name, severity, "fail" if differences else "pass", message,
                  observed=None if worst == float("inf") else round(worst, 6), expected=f"within ±{tolerance:g}")
        )  # fmt: skip
    return found
