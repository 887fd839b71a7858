"""The run report as one self-contained HTML page: inline CSS and SVG charts, nothing fetched from anywhere.

It opens from disk or a CI artifact in any browser, offline. Every field of `report.json` may be missing (a first
run has no history, a failed run may have no models), and each section then says so instead of drawing nothing.
Checks are classified and counted by `report.outcome` / `report.tally`, the same functions the terminal summary,
markdown and JUnit use, so the numbers agree everywhere. Units: seconds, rows, and percentages for shares and
relative changes (never a bare fraction).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .history import MIN_RUNS, SIGMAS, WINDOW
from .ingest import REASONS_SHOWN
from .report import OUTCOMES, finding, outcome, reason_lines, tally

STAGES = ("input", "business", "joins", "output", "pii", "performance", "regression", "trend")
# CSS class and table pill of each outcome (report.OUTCOMES); info checks never fail a run, so never a ✗.
CLASSES = {"error": "error", "warn": "warn", "info": "info", "not compared": "skipped", "not judged": "waiting",
           "pass": "pass"}  # fmt: skip
PILLS = {"error": "✗ failed", "warn": "⚠ warning", "info": "● info", "not compared": "○ not compared",
         "not judged": "… not judged yet", "pass": "✓ pass"}  # fmt: skip
NOTABLE = {"error": "failed error", "warn": "failed warning", "info": "info", "not compared": "not compared",
           "not judged": "not judged yet"}  # fmt: skip
SECTIONS = (
    "Checks by stage and severity",
    "Model runtimes against budgets",
    "Quarantined rows",
    "Trends over previous runs",
    "All checks",
)
STATUS_LINES = {
    "published": "Every error-level check passed and the run was published.",
    "passed": "Every error-level check passed, but nothing was published.",
    "failed": "An error-level check failed, so nothing was published.",
}
# The bar charts share one layout so their bars line up down the page.
LABEL_W, PLOT_W, NOTE_W, ROW_H, BAR_H = 180, 480, 340, 30, 18
LABEL_CHARS = 24  # what fits in LABEL_W at 12 px; longer names lose their middle, never their start
AXIS_STEPS = 5  # at most this many gridlines after zero
TREND_W, TREND_H = 320.0, 150.0
MIN_HISTORY = 2  # the history ends with this run, so a trend needs one more
CSS = """
:root { --pass: #2f855a; --warn: #d97706; --error: #c53030; --info: #3b6fb6; --ink: #1f2933; --muted: #6b7785;
  --line: #e3e8ee; --bg: #f5f7fa; --track: #cfd8e3; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
header, section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px;
  margin-bottom: 18px; }
h1 { font-size: 22px; margin: 0 0 8px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 0 0 4px; }
.badge { font-size: 13px; font-weight: 700; letter-spacing: .06em; text-transform: uppercase; color: #fff;
  padding: 3px 10px; border-radius: 999px; background: var(--muted); }
.badge.published, .badge.passed { background: var(--pass); }
.badge.failed { background: var(--error); }
.lead { margin: 0 0 6px; font-size: 16px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 16px; margin: 10px 0 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.strip { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 12px; }
.tile { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 8px;
  padding: 10px 14px; }
.tile b { display: block; font-size: 26px; line-height: 1.1; }
.tile span { color: var(--muted); font-size: 13px; }
.tile.t-error { border-left-color: var(--error); } .tile.t-warn { border-left-color: var(--warn); }
.tile.t-info { border-left-color: var(--info); } .tile.t-pass { border-left-color: var(--pass); }
.tile.t-error.some b { color: var(--error); } .tile.t-warn.some b { color: var(--warn); }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; color: var(--muted); margin: 0 0 6px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 5px;
  vertical-align: -1px; }
svg { max-width: 100%; height: auto; display: block; }
svg text { font-size: 12px; fill: var(--ink); }
svg .tick { fill: var(--muted); font-size: 11px; }
svg .grid { stroke: var(--line); }
svg .track { fill: #f0f3f7; }
.skipped, .waiting { fill: #a0aec0; background: #a0aec0; } .pill.p-skipped, .pill.p-waiting { background: #718096; }
svg .band-line { stroke: #2f855a; stroke-width: 3; stroke-opacity: .45; }
svg circle.waiting { fill: #fff; stroke: #718096; stroke-width: 2.5; }
.pass { fill: var(--pass); background: var(--pass); } .warn { fill: var(--warn); background: var(--warn); }
.error { fill: var(--error); background: var(--error); } .info { fill: var(--info); background: var(--info); }
.loaded { fill: var(--track); background: var(--track); } .ok { fill: #5b8def; background: #5b8def; }
.over { fill: var(--error); background: var(--error); }
.legend i.budget { width: 3px; background: var(--ink); } .legend i.band { background: #2f855a33; }
svg text.over { fill: var(--error); font-weight: 700; } svg text.warned { fill: #b45309; font-weight: 600; }
svg text.inside { fill: #fff; font-size: 11px; font-weight: 700; }
.legend i.line { background: #3b6fb6; height: 3px; vertical-align: 3px; }
svg .budget { stroke: var(--ink); stroke-width: 2; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 14px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
figure.flagged { border-color: var(--error); box-shadow: 0 0 0 1px var(--error); }
figcaption { font-size: 12px; color: var(--muted); }
svg .band { fill: #2f855a; fill-opacity: .12; }
svg .mean { stroke: var(--pass); stroke-dasharray: 4 3; }
svg .series { fill: none; stroke: #3b6fb6; stroke-width: 2; }
svg circle { fill: #3b6fb6; } svg circle.current { fill: #fff; stroke: #3b6fb6; stroke-width: 2.5; }
svg circle.flagged { fill: var(--error); stroke: #fff; stroke-width: 2; }
svg text.flagged { fill: var(--error); font-weight: 700; }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td code { font-size: 12px; word-break: break-all; }
.pill { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 600; }
.pill { white-space: nowrap; } .pill.p-error { background: var(--error); } .pill.p-warn { background: var(--warn); }
.pill.p-info { background: var(--info); } .pill.p-pass { background: var(--pass); }
footer { color: var(--muted); font-size: 12px; text-align: center; }
"""


@dataclass(frozen=True)
class Bar:
    label: str
    segments: Sequence[tuple[float, str, str]]  # value, CSS class, tooltip
    note: str = ""
    marker: float | None = None  # e.g. a model's budget
    note_class: str = ""  # "over" or "warned" puts the note in colour and bold


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _dict(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _texts(doc: Mapping[str, Any], key: str) -> list[str]:
    value = doc.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fmt(value: object) -> str:
    """Numbers as people read them: thousands separated, at most two decimals; missing as a dash."""
    number = _number(value)
    if number is None:
        return "—" if value is None else str(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}".rstrip("0")


def _rows(count: float) -> str:
    return f"{count:,.0f} row{'' if count == 1 else 's'}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _axis(maximum: float) -> tuple[float, float]:
    """A round end and step for an axis up to `maximum`: a few steps of 1, 2 or 5 times a power of ten."""
    power = 10.0 ** math.floor(math.log10(maximum / AXIS_STEPS)) if maximum > 0 else 1.0
    step = next(power * f for f in (1, 2, 5, 10) if maximum / (power * f) <= AXIS_STEPS)
    return math.ceil(maximum / step) * step or step, step


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    """A label that fits its column: the middle gives way to an ellipsis, both ends stay readable."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return label[:head] + "…" + label[-(limit - 1 - head) :]


def _observed(check: Mapping[str, Any]) -> str:
    """A check's observed value in the unit of its expectation.

    A share or change against `%` is a percentage (never a bare fraction next to percentages), a runtime
    against `s` is in seconds.
    """
    number, expected = _number(check.get("observed")), str(check.get("expected") or "")
    if number is not None and "%" in expected:
        return f"{number:.1%}"
    if number is not None and expected.endswith(" s"):
        return f"{_fmt(number)} s"
    return _fmt(check.get("observed"))


def _run_label(index: int, started_at: str) -> str:
    """`#3 11-14 08:45:07`: the run's number and time, so runs on one day stay apart."""
    when = _parse_time(started_at)
    return f"#{index + 1} " + (when.strftime("%m-%d %H:%M:%S") if when else started_at[:19])


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))  # Python 3.10 does not read "Z"
    except ValueError:
        return None


# --- a tiny SVG kit: every shape takes a CSS class and an optional hover tooltip --------------------------------


def _svg(width: float, height: float, title: str, body: Sequence[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>' + "".join(body) + "</svg>"
    )


def _tip(tip: str) -> str:
    return f"<title>{_e(tip)}</title>" if tip else ""


def _rect(x: float, y: float, width: float, height: float, *, cls: str, tip: str = "") -> str:
    size = f'width="{max(width, 0):.1f}" height="{max(height, 0):.1f}"'
    return f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" {size} rx="2">{_tip(tip)}</rect>'


def _line(x1: float, y1: float, x2: float, y2: float, *, cls: str, tip: str = "") -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}">{_tip(tip)}</line>'


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", *, tip: str = "") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{_tip(tip)}{_e(text)}</text>'


def _hbars(title: str, bars: Sequence[Bar], unit: str = "", *, counts: bool = False) -> str:
    """Horizontal stacked bars on one shared axis, a label left of each bar and a note right of it."""
    top, bottom = 22, 22 + ROW_H * len(bars)
    maximum, step = _axis(max(max(sum(v for v, _, _ in bar.segments), bar.marker or 0) for bar in bars))
    scale = PLOT_W / maximum
    body = []
    for i in range(round(maximum / step) + 1):
        x = LABEL_W + step * i * scale
        body += [_line(x, top - 4, x, bottom, cls="grid"), _text(x, 12, _fmt(step * i) + unit, "tick", "middle")]
    for row, bar in enumerate(bars):
        y = top + row * ROW_H + 6
        label = _text(LABEL_W - 10, y + 13, _short(bar.label), anchor="end", tip=bar.label)
        body += [label, _rect(LABEL_W, y, PLOT_W, BAR_H, cls="track")]
        x = float(LABEL_W)
        for value, cls, tip in bar.segments:
            width = max(value * scale, 3.0) if value > 0 else 0.0  # a count of one stays visible next to thousands
            body.append(_rect(x, y, width, BAR_H, cls=cls, tip=tip))
            if counts and width >= BAR_H:  # the count inside its segment: the chart reads without the legend
                body.append(_text(x + width / 2, y + 13, _fmt(value), "inside", "middle"))
            x += width
        if bar.marker is not None:
            mx = LABEL_W + bar.marker * scale
            body.append(_line(mx, y - 4, mx, y + BAR_H + 4, cls="budget", tip=f"budget {_fmt(bar.marker)}{unit}"))
        body.append(_text(LABEL_W + PLOT_W + 12, y + 13, bar.note, bar.note_class))
    return _svg(LABEL_W + PLOT_W + NOTE_W, bottom + 6, title, body)


def _legend(*items: tuple[str, str]) -> str:
    keys = "".join(f'<span><i class="{cls}"></i>{_e(text)}</span>' for cls, text in items)
    return f'<p class="legend">{keys}</p>'


def _section(index: int, *parts: str) -> str:
    return f"<section><h2>{SECTIONS[index]}</h2>{''.join(parts)}</section>"


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


# --- the sections, in page order --------------------------------------------------------------------------------


def _header(doc: Mapping[str, Any]) -> str:
    status = str(doc.get("status") or "unknown")
    started, finished = _parse_time(doc.get("started_at")), _parse_time(doc.get("finished_at"))
    took = f", took {(finished - started).total_seconds():,.0f} s" if started and finished else ""
    params = _dict(doc, "parameters")
    select = params.get("select")
    rows = [
        ("environment", f"{doc.get('env') or '—'} ({doc.get('instance') or '—'})"),
        ("run", doc.get("run_id") or "—"),
        ("started", f"{doc.get('started_at') or '—'}{took}"),
        ("published", doc.get("publish_note") or ("yes" if doc.get("published") else "no")),
        ("select", " ".join(map(str, select)) if isinstance(select, list) and select else "everything"),
        ("vars", ", ".join(f"{k}={v}" for k, v in _dict(params, "vars").items()) or "none"),
        ("slim / scale", f"{'slim' if params.get('slim') else 'full'} / {_fmt(params.get('scale'))}"),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    lead = STATUS_LINES.get(status, "The run did not record a status.")
    return (
        f'<header><h1>Pipeline run <span class="badge {_e(status)}">{_e(status)}</span></h1>'
        f'<p class="lead">{_e(lead)}</p><dl class="meta">{meta}</dl></header>'
    )


def _summary(checks: Sequence[Mapping[str, Any]]) -> str:
    counts = tally(checks)
    tiles = [
        f'<div class="tile t-{CLASSES[key]}{" some" if counts[key] else ""}"><b>{counts[key]}</b>'
        f"<span>{_e(label)}</span></div>"
        for key, label in OUTCOMES.items()
    ]
    tiles.append(f'<div class="tile"><b>{len(checks)}</b><span>checks in all</span></div>')
    return f'<section class="strip" aria-label="Summary of checks">{"".join(tiles)}</section>'


def _checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Stage", "Check", "Severity", "Status", "Message", "Observed", "Expected"))
    rows = []
    for check in checks:
        kind = outcome(check)
        rows.append(
            f"<tr><td>{_e(check.get('stage'))}</td><td><code>{_e(check.get('name'))}</code></td>"
            f"<td>{_e(check.get('severity'))}</td>"
            f'<td><span class="pill p-{CLASSES[kind]}">{PILLS[kind]}</span></td>'
            f'<td>{_e(finding(check))}</td><td class="num">{_e(_observed(check))}</td>'
            f"<td>{_e(check.get('expected'))}</td></tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _checks_section(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return _section(0, _empty("No checks were recorded for this run."))
    named = {str(c.get("stage") or "other") for c in checks}
    bars = []
    for stage in [s for s in STAGES if s in named] + sorted(named - set(STAGES)):
        counts = tally(c for c in checks if str(c.get("stage") or "other") == stage)
        segments = [
            (float(counts[o]), CLASSES[o], f"{stage}: {counts[o]} {OUTCOMES[o]}")
            for o in ("pass", "warn", "error", "info", "not compared", "not judged")
        ]
        notes = ", ".join(_plural(counts[o], word) for o, word in NOTABLE.items() if counts[o])
        note = _plural(counts.total(), "check") + (f": {notes}" if notes else "")
        bars.append(Bar(stage, segments, note, note_class="over" if counts["error"] else ""))
    notable = sorted((c for c in checks if outcome(c) != "pass"), key=lambda c: list(OUTCOMES).index(outcome(c)))
    return _section(
        0,
        _legend(
            ("pass", "passed"),
            ("warn", "warning (failed)"),
            ("error", "error (failed)"),
            ("info", "info"),
            ("skipped", "not compared"),
            ("waiting", f"not judged yet (trend flags wait for {MIN_RUNS} runs)"),
        ),
        _hbars("Checks per stage by outcome", bars, counts=True),
        "<h3>Failed, info, not compared and not judged checks</h3>",
        _checks_table(notable) if notable else _empty("Every error and warning check passed."),
    )


def _models_section(models: Sequence[Mapping[str, Any]]) -> str:
    if not models:
        return _section(1, _empty("No models ran in this run."))
    bars = []
    for model in sorted(models, key=lambda m: -(_number(m.get("seconds")) or 0)):
        seconds = _number(model.get("seconds")) or 0.0
        budget = _number(model.get("budget_seconds"))
        budget = budget if budget and budget > 0 else None  # a zero budget means "no budget set"
        over = budget is not None and seconds > budget
        note = f"{_fmt(seconds)} s of {_fmt(budget)} s" if budget else f"{_fmt(seconds)} s, no budget"
        note = ("⚠ over budget: " if over else "") + note
        note += f" · {_fmt(model.get('rows'))} rows" if model.get("rows") is not None else ""
        segment = (seconds, "over" if over else "ok", f"{_fmt(seconds)} s")
        bars.append(Bar(str(model.get("name", "?")), [segment], note, budget, "over" if over else ""))
    return _section(
        1,
        _legend(("ok", "runtime within budget"), ("over", "over budget"), ("budget", "budget")),
        _hbars("Model runtime in seconds against its budget", bars, " s"),
    )


def _reasons_table(doc: Mapping[str, Any]) -> str:
    """Every quarantine reason report.json keeps, per raw table: rows, the first row number, the reason."""
    rows = [
        f"<tr><td><code>{_e(table)}</code></td><td>{_e(text)}</td></tr>"
        for table, text in reason_lines(doc, REASONS_SHOWN)
    ]
    head = "<tr><th>Raw table</th><th>Quarantined rows and why</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>" if rows else ""


def _quarantine_section(doc: Mapping[str, Any]) -> str:
    quarantine, loaded = _dict(doc, "quarantine"), _dict(doc, "loaded")
    relations = _texts(doc, "quarantine_relations")
    tables = sorted(set(quarantine) | set(loaded))
    if not tables:
        return _section(2, _empty("No raw tables were loaded in this run."))
    bars = []
    for table in tables:
        bad, good = _number(quarantine.get(table)) or 0.0, _number(loaded.get(table)) or 0.0
        share = " (" + format(bad / (bad + good), ".1%") + ")" if bad + good else ""
        segments = [(good, "loaded", f"{_rows(good)} loaded"), (bad, "warn", f"{_rows(bad)} quarantined")]
        note = f"{bad:,.0f} quarantined{share} · {good:,.0f} loaded"
        bars.append(Bar(str(table), segments, note, note_class="warned" if bad else ""))
    where = ", ".join(relations)
    return _section(
        2,
        _legend(("loaded", "rows loaded"), ("warn", "rows quarantined" + (f" (see {where})" if where else ""))),
        _hbars("Rows loaded and quarantined per raw table", bars),
        _reasons_table(doc),
    )


def _metric_values(history: Sequence[Mapping[str, Any]], metric: str) -> list[float | None]:
    """A metric over the runs: `seconds` is a field of each run, `rows:fct_invoices` is run["rows"]["fct_invoices"]."""
    kind, _, name = metric.partition(":")
    return [_number(_dict(run, kind).get(name) if name else run.get(kind)) for run in history]


def _judgement(control: Mapping[str, Any]) -> str:
    """A point's verdict: flagged, not judged (outside limits set by fewer than MIN_RUNS runs), or "" inside."""
    if control.get("flagged"):
        return "flagged"
    value, lower, upper = (_number(control.get(k)) for k in ("value", "lower", "upper"))
    runs = _number(control.get("runs")) or 0
    outside = None not in (value, lower, upper) and not (lower or 0) <= (value or 0) <= (upper or 0)
    return "not judged" if outside and runs < MIN_RUNS else ""


def _trend_chart(metric: str, values: Sequence[float | None], runs: Sequence[str], control: Mapping[str, Any]) -> str:
    """A small line chart of one metric, with its control band and mean; this run's point is the last.

    Every metric is a count or a duration, so the band and the axis stop at zero; a band of zero width (every
    past run had the same value) is drawn as a line; `runs` are `_run_label`s, the first and last on the axis.
    """
    left, right, top, bottom = 52.0, TREND_W - 14, 12.0, TREND_H - 26
    lower, upper, mean = (_number(control.get(k)) for k in ("lower", "upper", "mean"))
    lower = max(lower, 0.0) if lower is not None else None
    known = [v for v in (*values, lower, upper, mean) if v is not None]
    low, high = min(known), max(known)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    floor = max(low - pad, 0.0) if low >= 0 else low - pad

    def x(i: int) -> float:
        return left + (right - left) * (i / (len(values) - 1) if len(values) > 1 else 0.5)

    def y(v: float) -> float:
        return top + (bottom - top) * (high + pad - v) / (high + pad - floor)

    judged = _judgement(control)
    flagged = judged == "flagged"
    body = [_line(left, top, left, bottom, cls="grid"), _line(left, bottom, right, bottom, cls="grid")]
    if lower is not None and upper is not None:
        tip = f"control limits {_fmt(lower)} to {_fmt(upper)}"
        if y(lower) - y(upper) < 1:  # every past run had one value: a band would be invisible
            body.append(_line(left, y(upper), right, y(upper), cls="band-line", tip=tip))
        else:
            body.append(_rect(left, y(upper), right - left, y(lower) - y(upper), cls="band", tip=tip))
    if mean is not None:
        body.append(_line(left, y(mean), right, y(mean), cls="mean", tip=f"mean {_fmt(mean)}"))
    points = [(i, x(i), y(v), v) for i, v in enumerate(values) if v is not None]
    body.append('<polyline class="series" points="' + " ".join(f"{px:.1f},{py:.1f}" for _, px, py, _ in points) + '"/>')
    for i, px, py, v in points:
        last = i == len(values) - 1
        cls = ({"flagged": "flagged", "not judged": "waiting"}.get(judged, "current")) if last else ""
        tip = f"{runs[i]}: {_fmt(v)}"
        if last and flagged:
            tip += " (flagged: outside the control limits)"
        elif last and judged:
            tip += f" (outside the limits, not judged yet: needs {MIN_RUNS} runs)"
        body.append(f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="{5 if last else 3}">{_tip(tip)}</circle>')
        if last and flagged:
            body.append(_text(px - 8, py - 9, "⚠ flagged", "flagged", "end"))
    body += [
        _text(left - 6, y(high) + 4, _fmt(high), "tick", "end"),
        _text(left - 6, y(low) + 4, _fmt(low), "tick", "end") if high > low else "",
        _text(left, TREND_H - 8, runs[0], "tick"),
        _text(right, TREND_H - 8, runs[-1], "tick", "end") if len(runs) > 1 else "",
    ]
    kind, _, name = metric.partition(":")
    title = f"{name} {kind.replace('_', ' ')}" if name else f"run {kind}"
    caption = f"this run {_fmt(values[-1])}"
    caption += f" · limits {_fmt(lower)} to {_fmt(upper)}" if lower is not None and upper is not None else ""
    if flagged:
        caption += " · FLAGGED"
    elif judged:
        runs_so_far = int(_number(control.get("runs")) or 0)
        caption += f" · outside, not judged yet (needs {MIN_RUNS} runs, has {runs_so_far})"
    chart = _svg(TREND_W, TREND_H, f"{title} over the last {len(values)} runs", body)
    return (
        f'<figure class="{"flagged" if flagged else ""}"><h3 title="{_e(title)}">{_e(_short(title, 40))}</h3>{chart}'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _trends_section(history: Sequence[Mapping[str, Any]], control: Sequence[Mapping[str, Any]]) -> str:
    if len(history) < MIN_HISTORY:
        return _section(3, _empty("No previous runs yet: trends start with the second run."))
    limits = {str(c.get("metric")): c for c in control}
    marts = sorted({name for run in history for name in _dict(run, "rows")})
    runs = [_run_label(i, str(run.get("started_at") or run.get("run_id") or "")) for i, run in enumerate(history)]
    charts = []
    for metric in dict.fromkeys(["seconds", *(f"rows:{m}" for m in marts), *limits]):
        values = _metric_values(history, metric)
        if any(v is not None for v in values):
            charts.append(_trend_chart(metric, values, runs, limits.get(metric, {})))
    rule = (
        f"The band is the mean ± {SIGMAS:g} standard deviations of up to the last {WINDOW} published runs, never "
        f"below zero. A point outside it is "
        f"flagged only once {MIN_RUNS} published runs set the band; before that it is shown as not judged yet."
    )
    return _section(
        3,
        _legend(("line", "value per run"), ("band", "control limits"), ("error", "flagged this run")),
        f"<p>{_e(rule)}</p>",
        f'<div class="charts">{"".join(charts)}</div>' if charts else _empty("The runs recorded no metrics."),
    )


def render_html(doc: Mapping[str, Any]) -> str:
    """One pipeline run's `report.json` as a complete, self-contained HTML page."""
    checks = _list(doc, "checks")
    title = f"Run {doc.get('run_id', '')} · {doc.get('env', '')} · {doc.get('status', '')}"
    body = [
        _header(doc),
        _summary(checks),
        _checks_section(checks),
        _models_section(_list(doc, "models")),
        _quarantine_section(doc),
        _trends_section(_list(doc, "history"), _list(doc, "control")),
        _section(4, _checks_table(checks) if checks else _empty("No checks were recorded.")),
        f"<footer>Generated from report.json of run {_e(doc.get('run_id') or '—')}.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
