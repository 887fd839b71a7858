"""The run report: one folder per run with JSON, markdown, JUnit XML and HTML, and the terminal summary."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from .checks import SEVERITIES, Check, read_json
from .config import Settings
from .history import Control
from .ingest import IngestResult

SEVERITY_ORDER = list(SEVERITIES)


def _mart_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Name -> relation of every model in a `marts` folder that exists in the warehouse."""
    nodes = manifest.get("nodes", {})
    relations = {}
    if isinstance(nodes, dict):
        for node in nodes.values():
            if node.get("resource_type") == "model" and "marts" in node.get("fqn", []) and node.get("relation_name"):
                relations[node["name"]] = node["relation_name"]
    return dict(sorted(relations.items()))


# ---- the run report: one folder per run with report.json, summary.md, junit.xml, report.html ----


def metrics(settings: Settings) -> dict[str, float]:
    """What statistical process control watches: rows per mart (as built) and seconds per model.

    Keys are `<kind>:<name>` (`rows:fct_orders`, `model_seconds:fct_orders`); the run's own
    duration is the plain key `seconds`, added by the pipeline.
    """
    values: dict[str, float] = {}
    relations = _mart_relations(read_json(settings.target_dir / "manifest.json"))
    if settings.audit_path.is_file():
        with duckdb.connect(str(settings.audit_path)) as con:
            for name, relation in relations.items():
                with contextlib.suppress(duckdb.Error):
                    row = con.execute(f"select count(*) from {relation}").fetchone()
                    values[f"rows:{name}"] = float(row[0]) if row else 0.0
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
) -> dict[str, Any]:
    """Everything about one run, as the JSON every other format is rendered from."""
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
        "parameters": dict(parameters),
        "checks": [check.as_dict() for check in checks],
        "models": _models(settings, run_metrics),
        "loaded": {t.table: t.loaded_rows for t in ingested.tables} if ingested else {},
        "quarantine": {t.table: t.quarantined_rows for t in ingested.tables} if ingested else {},
        "history": [
            {
                "run_id": run["run_id"],
                "started_at": run["started_at"],
                "status": run["status"],
                "seconds": run["seconds"],
                "rows": {k.split(":", 1)[1]: v for k, v in run["metrics"].items() if k.startswith("rows:")},
                "model_seconds": {
                    k.split(":", 1)[1]: v
                    for k, v in run["metrics"].items()
                    if k.startswith("seconds:") and k != "seconds:run"
                },
            }
            for run in history
        ],
        "control": [limit.as_dict() for limit in control],
    }


def _tally(document: Mapping[str, Any]) -> tuple[int, int, int, int]:
    found = document["checks"]
    return (
        len(found),
        sum(c["severity"] == "error" and c["status"] == "fail" for c in found),
        sum(c["severity"] == "warn" and c["status"] == "fail" for c in found),
        sum(c["severity"] == "info" and c["status"] == "fail" for c in found),
    )


def render_document(document: Mapping[str, Any]) -> str:
    """The run in a few lines for a terminal or a CI log."""
    total, errors, warnings, infos = _tally(document)
    lines = [
        f"Run summary ({document['instance']}): {document['status'].upper()} in {document['seconds']:.1f} s",
        f"  checks      {total} run: {errors} error(s), {warnings} warning(s), {infos} info",
    ]
    quarantined = document["quarantine"]
    if quarantined:
        lines.append(
            f"  quarantine  {sum(quarantined.values()):,} rows ("
            + ", ".join(f"{table} {rows:,}" for table, rows in quarantined.items())
            + "); see raw._quarantine"
        )
    for model in document["models"]:
        if model["rows"] is not None:
            lines.append(f"  mart        {model['name']:<28} {int(model['rows']):>10,} rows")
    for check in document["checks"]:
        if check["status"] == "fail":
            lines.append(f"  {check['severity']:<10}  [{check['stage']}] {check['name']}: {check['message']}".rstrip())
    return "\n".join(lines)


def markdown(document: Mapping[str, Any]) -> str:
    """The run as markdown: the CI job summary and pull request comments reuse it."""
    total, errors, warnings, infos = _tally(document)
    icon = "❌" if document["status"] == "failed" else "✅"
    lines = [
        f"### {icon} `{document['instance']}` run {document['run_id']}: {document['status']}",
        "",
        f"{total} checks: **{errors} error(s)** (stop the line), **{warnings} warning(s)**, {infos} info.",
        "",
    ]
    failed = [c for c in document["checks"] if c["status"] == "fail"]
    if failed:
        lines += ["| severity | stage | check | result |", "|---|---|---|---|"]
        lines += [
            f"| {c['severity']} | {c['stage']} | `{c['name']}` | {str(c['message']).replace('|', '/')[:200]} |"
            for c in sorted(failed, key=lambda c: SEVERITY_ORDER.index(c["severity"]))
        ]
        lines.append("")
    compared = [c for c in document["checks"] if c["stage"] == "regression" and c["severity"] != "info"]
    if compared:  # every difference with production, not only those beyond tolerance
        lines += ["**Against production**", "", "| check | result | tolerance |", "|---|---|---|"]
        lines += [f"| `{c['name']}` | {c['message']} | {c['expected'] or ''} |" for c in compared]
        lines.append("")
    models = [m for m in document["models"] if m["rows"] is not None]
    if models:
        lines += ["| mart | rows | seconds |", "|---|---:|---:|"]
        lines += [f"| `{m['name']}` | {int(m['rows']):,} | {m['seconds']:.2f} |" for m in models]
        lines.append("")
    if document["quarantine"]:
        lines.append("Quarantined: " + ", ".join(f"{t} {n:,}" for t, n in document["quarantine"].items()) + ".")
        lines.append("")
    return "\n".join(lines)


def junit(document: Mapping[str, Any]) -> str:
    """JUnit XML for CI test tabs: one suite per stage; error failures fail, warnings and info pass with a note."""
    suites = ET.Element("testsuites", name=f"{document['instance']} {document['run_id']}")
    by_stage: dict[str, list[Mapping[str, Any]]] = {}
    for check in document["checks"]:
        by_stage.setdefault(check["stage"], []).append(check)
    for stage, stage_checks in sorted(by_stage.items()):
        failures = sum(c["severity"] == "error" and c["status"] == "fail" for c in stage_checks)
        suite = ET.SubElement(
            suites, "testsuite", name=stage, tests=str(len(stage_checks)), failures=str(failures), errors="0"
        )
        for check in stage_checks:
            case = ET.SubElement(suite, "testcase", classname=f"{stage}.{check['severity']}", name=check["name"])
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="severity", value=check["severity"])
            if check["status"] != "fail":
                continue
            if check["severity"] == "error":
                ET.SubElement(case, "failure", message=str(check["message"])[:500], type="error")
            else:
                ET.SubElement(case, "system-out").text = f"{check['severity'].upper()}: {check['message']}"
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
