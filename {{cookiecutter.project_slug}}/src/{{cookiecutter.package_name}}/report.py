"""The run report: one folder per run with JSON, markdown, JUnit XML and HTML, and the terminal summary."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import sql, warehouses
from .checks import Check, read_json
from .config import Settings
from .history import MIN_RUNS, NOT_JUDGED, Control
from .ingest import IngestResult

# What a check means for the run, in report order, with the words every format uses. One function
# (`outcome`) decides it and one (`tally`) counts it, so the check step, the terminal summary, the
# markdown, the JUnit file and the HTML strip never disagree.
OUTCOMES = {
    "error": "error(s) failed",
    "warn": "warning(s)",
    "info": "info",
    "not compared": "not compared",
    "not judged": "not judged yet",
    "pass": "passed",
}
NOT_COMPARED = "not compared"
SUMMARY_REASONS = 3  # quarantine reasons per raw table in the run summary and the markdown (report.html: all kept)
# Info checks that could not compare (no production database, a relation this run did not build).
_NOT_COMPARED_MESSAGES = ("not compared", "not comparable", "no production database")
_DBT_RESULTS = re.compile(r"^Got (\d+) results?, configured to \w+ if .*$")


def _field(check: Check | Mapping[str, Any], key: str) -> Any:
    return check.get(key) if isinstance(check, Mapping) else getattr(check, key, None)


def outcome(check: Check | Mapping[str, Any]) -> str:
    """One of OUTCOMES' keys for a check (a Check or its `as_dict()`).

    An info check only reports, so it is "info" whether dbt called it pass or fail, unless it could not
    compare at all ("not compared"); a trend check outside limits set by too few runs is "not judged".
    Failed error and warn checks are "error" and "warn"; everything else passed.
    """
    severity = str(_field(check, "severity") or "error")
    status = str(_field(check, "status") or "pass")
    message = str(_field(check, "message") or "").lower()
    if status in (NOT_COMPARED, "skipped") or (severity == "info" and message.startswith(_NOT_COMPARED_MESSAGES)):
        return "not compared"
    if status == NOT_JUDGED:
        return "not judged"
    if severity == "info":
        return "info"
    if status == "pass":
        return "pass"
    return "warn" if severity == "warn" else "error"


def tally(checks: Iterable[Check | Mapping[str, Any]]) -> Counter[str]:
    """How many checks have each outcome (every OUTCOMES key present, zeros included)."""
    counts: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    counts.update(outcome(check) for check in checks)
    return counts


def count_line(checks: Iterable[Check | Mapping[str, Any]]) -> str:
    """`131 checks: 1 error(s) failed, 2 warning(s), 1 info, 0 not compared, 0 not judged yet, 127 passed`."""
    counts = tally(checks)
    return f"{counts.total()} checks: " + ", ".join(f"{counts[key]} {words}" for key, words in OUTCOMES.items())


def finding(check: Check | Mapping[str, Any]) -> str:
    """What a check found, in words: an info dbt test says "60 rows found", not dbt's "configured to warn"."""
    message = str(_field(check, "message") or "")
    if str(_field(check, "severity")) == "info":
        matched = _DBT_RESULTS.match(message)
        if matched:
            rows = int(matched.group(1))
            return f"{rows:,} row{'' if rows == 1 else 's'} found (info: reported, never fails the run)"
    return message


def _mart_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Name -> quoted relation (database.schema.alias from dbt's manifest) of every model in a `marts` folder.

    Spark has no database level (dbt-spark's manifest gives `database` None): there it is schema.alias.
    """
    nodes = manifest.get("nodes", {})
    relations = {}
    if isinstance(nodes, dict):
        for node in nodes.values():
            database, schema, alias = node.get("database"), node.get("schema"), node.get("alias") or node.get("name")
            # No relation_name: an ephemeral model, which has no table to count.
            is_mart = node.get("resource_type") == "model" and "marts" in node.get("fqn", [])
            if is_mart and node.get("relation_name") and schema and alias:
                relations[node["name"]] = sql.relation(*(str(part) for part in (database, schema, alias) if part))
    return dict(sorted(relations.items()))


# ---- the run report: one folder per run with report.json, summary.md, junit.xml, report.html ----


def metrics(settings: Settings) -> dict[str, float]:
    """What statistical process control watches: rows per mart (as built) and seconds per model.

    Keys are `<kind>:<name>` (`rows:fct_invoices`, `model_seconds:fct_invoices`); the run's own
    duration is the plain key `seconds`, added by the pipeline.
    """
    values: dict[str, float] = {}
    relations = _mart_relations(read_json(settings.target_dir / "manifest.json"))
    warehouse = warehouses.for_settings(settings)
    if warehouse.exists(warehouses.AUDIT):
        with warehouse.session(warehouses.AUDIT) as session:
            for name, relation in relations.items():
                try:
                    rows = session.query(f"select count(*) from {relation}")
                except warehouses.InUse:
                    raise
                except warehouses.WarehouseError:
                    continue
                values[f"rows:{name}"] = float(rows[0][0]) if rows else 0.0
    results = read_json(settings.target_dir / "run_results.json").get("results", [])
    for result in results if isinstance(results, list) else []:
        if str(result.get("unique_id", "")).startswith("model.") and result.get("status") == "success":
            values[f"model_seconds:{result['unique_id'].split('.')[-1]}"] = round(float(result["execution_time"]), 3)
    return values


def _models(settings: Settings, run_metrics: Mapping[str, float]) -> list[dict[str, object]]:
    manifest = read_json(settings.target_dir / "manifest.json")
    nodes = manifest.get("nodes", {})
    models = []
    for node in nodes.values() if isinstance(nodes, dict) else []:
        name = node.get("name")
        if node.get("resource_type") != "model" or f"model_seconds:{name}" not in run_metrics:
            continue
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        models.append(
            {
                "name": name,
                "seconds": run_metrics[f"model_seconds:{name}"],
                "budget_seconds": meta.get("budget_seconds"),
                "rows": run_metrics.get(f"rows:{name}"),
            }
        )
    return sorted(models, key=lambda model: str(model["name"]))


def _run_history(run: Mapping[str, Any]) -> dict[str, Any]:
    metrics = run.get("metrics") or {}

    def kind(prefix: str) -> dict[str, float]:
        return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}

    return {
        "run_id": run["run_id"],
        "started_at": run["started_at"],
        "status": run["status"],
        "seconds": run["seconds"],
        "rows": kind("rows:"),
        "model_seconds": kind("model_seconds:"),  # the keys `metrics()` writes
    }


def _publish_note(settings: Settings, status: str) -> str:
    """Where the run published, or that it published nothing and why (never a file that was not written)."""
    if status == "published":
        return f"to {warehouses.for_settings(settings).where()}"
    if status == "failed":
        return "nothing: the run failed, so consumers keep the previous tables"
    return "nothing: this run built no relation that is published, so consumers keep the previous tables"


def document(
    *,
    settings: Settings,
    run_id: str,
    started_at: str,
    seconds: float,
    status: str,
    parameters: Mapping[str, object],
    checks: Sequence[Check],
    ingested: IngestResult | None,
    history: Sequence[Mapping[str, Any]],
    control: Sequence[Control],
    not_loaded: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything about one run, as the JSON every other format is rendered from (`report.json`).

    `history` is `history.load()`'s list ending with this run; `control` the limits `history.control()`
    set for this run's metrics. `seconds` are wall-clock seconds; `started_at` is ISO 8601 in UTC. Keys:
    run_id, env, instance, started_at, finished_at, seconds, status (published | passed | failed),
    published (bool), publish_note (where to, or "nothing: <why>"), parameters, checks (Check.as_dict
    each), counts (outcome -> checks, see OUTCOMES), models ([{name, seconds, budget_seconds, rows}]),
    loaded and quarantine (raw table -> rows), quarantine_relations (where the bad rows are, e.g.
    ["raw._quarantine"], see IngestResult.quarantines), quarantine_reasons (raw table -> [{reason, rows,
    first_row_number}], most rows first, see TableResult.reasons), quarantine_withheld (the raw tables
    whose reasons a prod run keeps out of reports: pii columns, clear values), reused (raw table -> the
    run whose load of the unchanged file was kept, for the tables ingest did not load again), not_loaded
    (the raw tables, `schema.table`, a slim run did not load because its selection reads none of them),
    history ([{run_id, started_at, status, seconds, rows: {mart: rows}, model_seconds: {model: seconds}}]),
    control (Control.as_dict each), min_runs.
    """
    run_metrics = history[-1]["metrics"] if history else {}
    return {
        "run_id": run_id,
        "env": settings.env,
        "instance": settings.name,
        "started_at": started_at,
        "finished_at": (datetime.fromisoformat(started_at) + timedelta(seconds=seconds)).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "status": status,
        "published": status == "published",
        "publish_note": _publish_note(settings, status),
        "parameters": dict(parameters),
        "checks": [check.as_dict() for check in checks],
        "counts": dict(tally(checks)),
        "models": _models(settings, run_metrics),
        "loaded": {t.table: t.loaded_rows for t in ingested.tables} if ingested else {},
        "quarantine": {t.table: t.quarantined_rows for t in ingested.tables} if ingested else {},
        "quarantine_relations": ingested.quarantines if ingested else [],
        "quarantine_reasons": _reasons(ingested),
        "quarantine_withheld": [t.table for t in ingested.tables if t.withheld] if ingested else [],
        "reused": {t.table: t.reused_from for t in ingested.tables if t.reused_from} if ingested else {},
        "not_loaded": list(not_loaded),
        "history": [_run_history(run) for run in history],
        "control": [limit.as_dict() for limit in control],
        "min_runs": MIN_RUNS,
    }


def _reasons(ingested: IngestResult | None) -> dict[str, list[dict[str, Any]]]:
    """Each raw table's quarantine reasons as report.json holds them (tables with none left out)."""
    tables = ingested.tables if ingested else ()
    return {t.table: [dataclasses.asdict(reason) for reason in t.reasons] for t in tables if t.reasons}


def reason_lines(document: Mapping[str, Any], per_table: int) -> list[tuple[str, str]]:
    """The quarantine's reasons as lines: (raw table, text) pairs from report.json's keys.

    The first `per_table` reasons of each table (`2 rows from row 4: balance 'lots' is not …`), then one
    line per table for its other rows, or for a table whose reasons were withheld (prod, pii) or reused.
    """
    lines = []
    quarantined = document.get("quarantine") or {}
    reasons = document.get("quarantine_reasons") or {}
    withheld = set(document.get("quarantine_withheld") or ())
    reused = document.get("reused") or {}
    for table, rows in quarantined.items():
        if not rows:
            continue
        listed = reasons.get(table, [])
        for reason in listed[:per_table]:
            first = reason["first_row_number"]
            lines.append((table, f"{_rows(reason['rows'])} from row {first}: {printable(reason['reason'])}"))
        rest = rows - sum(reason["rows"] for reason in listed[:per_table])
        if table in withheld:
            lines.append((table, f"{_rows(rest)}: reasons not copied into reports in prod (pii columns)"))
        elif table in reused and not listed:
            lines.append((table, f"{_rows(rest)}: reasons in the report of run {reused[table]}, which loaded the file"))
        elif rest and listed:
            lines.append((table, f"{_rows(rest)} more, for other reasons"))
    return lines


def printable(text: str) -> str:
    r"""`text` with each control character (a newline, an ANSI escape, NUL) shown as its Python escape (`\x1b`).

    A reason quotes a raw value as it was: in a terminal, a log or a page it must stay one inert line.
    """
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def _code(text: str, limit: int = 300) -> str:
    """`text` as one markdown code span (nothing in it is markup: `|`, `<img>`, `**`), cut at `limit` with `…`."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def _see(document: Mapping[str, Any]) -> str:
    """`; see raw._quarantine`: where the run's bad rows are ('' for a report written before it was recorded)."""
    relations = document.get("quarantine_relations") or []
    return f"; see {', '.join(relations)}" if relations else ""


def render_document(document: Mapping[str, Any]) -> str:
    """The run in a few lines for a terminal or a CI log: counts, publish, quarantine, marts, findings."""
    found = document["checks"]
    trend = sum(c["stage"] == "trend" for c in found)
    lines = [
        f"Run summary ({document['instance']}): {document['status'].upper()} in {document['seconds']:.1f} s",
        f"  checks      {count_line(found)}"
        + (f" ({trend} of them trend checks added by the report step)" if trend else ""),
    ]
    if document.get("publish_note"):
        lines.append(f"  published   {document['publish_note']}")
    quarantined = document["quarantine"]
    if quarantined:
        lines.append(
            f"  quarantine  {sum(quarantined.values()):,} rows ("
            + ", ".join(f"{table} {rows:,}" for table, rows in quarantined.items())
            + ")"
            + _see(document)
        )
        lines += [f"    {table}: {text}" for table, text in reason_lines(document, SUMMARY_REASONS)]
    if document.get("not_loaded"):
        lines.append(f"  not loaded  {', '.join(document['not_loaded'])} (not read by the slim selection)")
    for model in document["models"]:
        if model["rows"] is not None:
            lines.append(f"  mart        {model['name']:<28} {int(model['rows']):>10,} rows")
    for check in found:
        kind = outcome(check)
        if kind in ("error", "warn") or (kind == "info" and finding(check)):
            lines.append(f"  {kind:<10}  [{check['stage']}] {check['name']}: {finding(check)}".rstrip())
    return "\n".join(lines)


def _cell(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")[:200]


def markdown(document: Mapping[str, Any]) -> str:
    """The run as markdown: the CI job summary and pull request comments reuse it."""
    found = document["checks"]
    icon = "❌" if document["status"] == "failed" else "✅"
    lines = [
        f"### {icon} `{document['instance']}` run {document['run_id']}: {document['status']}",
        "",
        f"{count_line(found)}. Errors stop the line; warnings and info only report.",
        "",
    ]
    if document.get("publish_note"):
        lines += [f"Published {document['publish_note']}.", ""]
    notable = [c for c in found if outcome(c) in ("error", "warn", "info") and (outcome(c) != "info" or finding(c))]
    if notable:
        lines += ["| outcome | stage | check | result |", "|---|---|---|---|"]
        lines += [
            f"| {outcome(c)} | {c['stage']} | `{c['name']}` | {_cell(finding(c))} |"
            for c in sorted(notable, key=lambda c: list(OUTCOMES).index(outcome(c)))
        ]
        lines.append("")
    compared = [c for c in found if c["stage"] == "regression" and outcome(c) in ("error", "warn", "pass")]
    if compared:  # every difference with production, not only those beyond tolerance
        lines += ["**Against production**", "", "| check | result | tolerance |", "|---|---|---|"]
        lines += [f"| `{c['name']}` | {_cell(c['message'])} | {c['expected'] or ''} |" for c in compared]
        lines.append("")
    skipped = [c for c in found if outcome(c) in ("not compared", "not judged")]
    if skipped:
        lines += ["**Not compared or not judged yet**", ""]
        lines += [f"- `{c['name']}`: {_cell(c['message'])}" for c in skipped]
        lines.append("")
    models = [m for m in document["models"] if m["rows"] is not None]
    if models:
        lines += ["| mart | rows | seconds |", "|---|---:|---:|"]
        lines += [f"| `{m['name']}` | {int(m['rows']):,} | {m['seconds']:.2f} |" for m in models]
        lines.append("")
    if document["quarantine"]:
        lines.append("Quarantined: " + ", ".join(f"{t} {n:,}" for t, n in document["quarantine"].items()) + ".")
        lines.append("")
        listed = reason_lines(document, SUMMARY_REASONS)
        lines += [f"- `{table}`: {_code(text)}" for table, text in listed] + ([""] if listed else [])
    return "\n".join(lines)


def junit(document: Mapping[str, Any]) -> str:
    """JUnit XML for CI test tabs: one suite per stage.

    Only failed error-level checks are `<failure>`s; warnings and info pass with a note in `<system-out>`;
    checks that were not compared or not judged yet are `<skipped>` with the reason.
    """
    suites = ET.Element("testsuites", name=f"{document['instance']} {document['run_id']}")
    by_stage: dict[str, list[Mapping[str, Any]]] = {}
    for check in document["checks"]:
        by_stage.setdefault(check["stage"], []).append(check)
    for stage, stage_checks in sorted(by_stage.items()):
        counts = tally(stage_checks)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=stage,
            tests=str(len(stage_checks)),
            failures=str(counts["error"]),
            errors="0",
            skipped=str(counts["not compared"] + counts["not judged"]),
        )
        for check in stage_checks:
            case = ET.SubElement(suite, "testcase", classname=f"{stage}.{check['severity']}", name=check["name"])
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="severity", value=check["severity"])
            ET.SubElement(properties, "property", name="outcome", value=outcome(check))
            kind, text = outcome(check), finding(check)
            if kind == "error":
                ET.SubElement(case, "failure", message=text[:500], type="error")
            elif kind in ("not compared", "not judged"):
                ET.SubElement(case, "skipped", message=f"{OUTCOMES[kind]}: {text}"[:500])
            elif kind in ("warn", "info") and text:
                ET.SubElement(case, "system-out").text = f"{check['severity'].upper()}: {text}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write(settings: Settings, document: Mapping[str, Any]) -> Path:
    """Write the run's folder under reports/<instance>/<run_id>/ and return it."""
    folder = settings.reports_dir / str(document["run_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    (folder / "summary.md").write_text(markdown(document), encoding="utf-8")
    (folder / "junit.xml").write_text(junit(document), encoding="utf-8")
    from . import report_html  # noqa: PLC0415 - the HTML renderer is the largest part; load it last

    (folder / "report.html").write_text(report_html.render_html(document), encoding="utf-8")
    return folder


def latest(settings: Settings) -> Path | None:
    """The most recent run folder of this instance, if any."""
    runs = sorted(path for path in settings.reports_dir.glob("*/report.json")) if settings.reports_dir.is_dir() else []
    return runs[-1].parent if runs else None
