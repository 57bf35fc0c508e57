"""An HTML drift report with PNG charts, built from the per-batch drift reports and the registry.

Per feature: the champion's reference distribution next to the latest batch's, and PSI over the
batches; then the prediction-score drift, and the champion history. Stored under reports/html/ in
the data bucket and written locally.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files
import matplotlib.pyplot as plt

from mlops_core.config import load_config
from mlops_core.monitoring.verdict import verdict_line
from mlops_core.storage import layout

from .data_quality import quality_table
from .leaderboard import last_search, search_table
from .present import (
    PERFORMANCE,
    chart_bars,
    metrics_text,
    performance_points,
    prediction_chart,
    recall_table,
    text_line,
)
from .stack import Pipeline
from .standing import challenger_standing


def drift_reports(pipeline: Pipeline, limit: int = 200) -> list[dict[str, Any]]:
    """The per-batch drift reports, oldest first."""
    s3, keys = pipeline.s3, []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.data_bucket, Prefix=layout.DRIFT_REPORTS):
        keys += page.get("Contents", [])
    keys = sorted(keys, key=lambda o: o["LastModified"])[-limit:]
    return [json.loads(s3.get_object(Bucket=pipeline.data_bucket, Key=o["Key"])["Body"].read()) for o in keys]


def _feature_chart(
    name: str,
    spec: dict[str, Any],
    *,
    latest: list[float] | None,
    history: list[tuple[str, float]],
    path: Path,
    other: bool = True,
) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    labels, expected, batch = chart_bars(spec, latest, other=other)
    x = range(len(labels))
    left.bar([i - 0.2 for i in x], expected, width=0.4, label="reference (champion)")
    if batch:
        left.bar([i + 0.2 for i in x], batch, width=0.4, label="latest batch")
    left.set_xticks(list(x), labels, rotation=35, ha="right", fontsize=7)
    left.set_ylabel("share of rows")
    left.set_title(f"{name}: distribution")
    left.legend(fontsize=7)
    _history(right, history, line=1.0, line_label="drift (PSI = its threshold for the batch size)")
    right.set_ylabel("PSI / threshold")
    right.set_title(f"{name}: drift score per batch")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _history(ax: Any, history: list[tuple[str, float]], *, line: float, line_label: str) -> None:
    if not history:
        return
    ax.plot(range(len(history)), [v for _, v in history], marker="o")
    ax.axhline(line, color="red", linestyle="--", label=line_label)
    ax.set_xticks(range(len(history)), [t for t, _ in history], rotation=35, ha="right", fontsize=6)
    ax.legend(fontsize=7)


def _performance_chart(reports: list[dict[str, Any]], kind: str, path: Path) -> bool:
    """Binary: estimated (label-free) and realized accuracy per batch; multiclass: the labeled batches'
    accuracy; regression: their MAE. False when there is nothing to draw."""
    points = performance_points(reports, kind)
    if not points:
        return False
    ylabel, title, _, _ = PERFORMANCE.get(kind, PERFORMANCE["binary"])
    fig, ax = plt.subplots(figsize=(11, 3.4))
    x = range(len(points))
    estimated = [(i, p[1]) for i, p in enumerate(points) if p[1] is not None]
    if estimated:
        ax.plot(
            [i for i, _ in estimated], [v for _, v in estimated], marker="o", label="estimated without labels (CBPE)"
        )
    realized = [(i, float(p[2])) for i, p in enumerate(points) if p[2] is not None]
    style = "s" if estimated else "s-"
    ax.plot(
        [i for i, _ in realized], [v for _, v in realized], style, color="black", label="realized (labeled batches)"
    )
    ax.set_xticks(list(x), [p[0] for p in points], rotation=35, ha="right", fontsize=6)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _performance_section(reports: list[dict[str, Any]], profile: dict[str, Any] | None, out_dir: Path) -> str:
    """The report's performance heading, chart and (multiclass) per-class recall table."""
    kind = (profile or {}).get("task", "binary")
    _, title, heading, empty = PERFORMANCE.get(kind, PERFORMANCE["binary"])
    alt = "estimated vs realized accuracy" if kind == "binary" else title
    body = (
        f'<img src="performance.png" alt="{html.escape(alt)}">'
        if _performance_chart(reports, kind, out_dir / "performance.png")
        else f"<p>{empty}</p>"
    )
    if kind == "multiclass":
        classes = (profile or {}).get("prediction", {}).get("categories", [])
        body += recall_table(reports, classes) or "<p>No labeled batch has per-class recall yet.</p>"
    return f"<h2>{html.escape(heading)}</h2>{body}"


def _score_of(report: dict[str, Any], key: str) -> float | None:
    """A batch's drift score (PSI / threshold) for a feature or "prediction"; None in reports that predate scores."""
    drift = report["drift"]
    if key == "prediction":
        return (drift.get("prediction") or {}).get("score")
    return (drift.get("feature_scores") or {}).get(key)


def chart_file(key: str) -> str:
    """The chart's file name for a feature (or "prediction"): the name itself when it is a plain one, else its
    safe characters plus a hash of the name, so a `/`, `..` or a quote in a feature name can neither write
    outside the report's folder nor break the page, and two names never share a file."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", key)[:64]
    if slug == key:
        return f"{slug}.png"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.png"


def _feature_sections(reports: list[dict[str, Any]], profile: dict[str, Any], latest: Any, out_dir: Path) -> list[str]:
    sections = []
    title, prediction_spec, other = prediction_chart(profile)
    charts = [(name, name, spec, True) for name, spec in profile["features"].items()]
    charts.append((title, "prediction", prediction_spec, other))
    judged = [r for r in reports if r["drift"]["verdict"] is not None]
    for name, key, spec, with_other in charts:
        history = [(r["at"][11:19], v) for r in judged if (v := _score_of(r, key)) is not None]
        actual = latest["drift"]["actual"].get(key) if latest else None
        png = out_dir / chart_file(key)
        _feature_chart(name, spec, latest=actual, history=history, path=png, other=with_other)
        sections.append(f'<h3>{html.escape(name)}</h3><img src="{html.escape(png.name)}" alt="{html.escape(name)}">')
        if spec.get("type") == "text" and latest and (text := latest["drift"].get("text", {}).get(name)):
            sections.append(f"<p>{html.escape(text_line(text))}</p>")
    return sections


def _batch_rows(reports: list[dict[str, Any]]) -> str:
    return "".join(
        f"<tr><td>{html.escape(r['at'][:19])}</td><td>{html.escape(r['key'])}</td><td>{html.escape(str(r['rows']))}</td>"
        f"<td>{html.escape(r['model_version'])}</td><td>{html.escape(verdict_line(r['drift']))}</td></tr>"
        for r in reversed(reports[-30:])
    )


def _challenger_section(pipeline: Pipeline, champion_metrics: dict[str, Any]) -> str:
    """The champion and the challenger side by side: holdout metrics, and live quality on labeled batches."""
    standing = challenger_standing(pipeline)
    if standing is None:
        return ""
    evidence, live = standing["evidence"], standing["accuracy_or_error"]
    quality = "accuracy" if load_config().task.is_classification else "mean absolute error"
    cells = [
        ("champion", standing.get("champion"), champion_metrics, live["champion"], evidence["champion_rows"]),
        (
            "challenger",
            standing["version"],
            standing.get("metrics", {}),
            live["challenger"],
            evidence["challenger_rows"],
        ),
    ]
    rows = "".join(
        f"<tr><td>{role}</td><td>{html.escape(str(version))}</td><td>{html.escape(metrics_text(metrics))}</td>"
        f"<td>{'-' if value is None else f'{value:.4f}'}</td><td>{count:,}</td></tr>"
        for role, version, metrics, value, count in cells
    )
    reasons = (standing.get("ruling") or {}).get("reasons") or standing.get("reasons") or []
    return (
        f"<h2>Champion and challenger ({html.escape(str(standing.get('mode')))}, "
        f"{html.escape(str(standing.get('status')))})</h2><table><tr><th></th><th>version</th><th>holdout</th>"
        f"<th>live {quality}</th><th>labeled rows</th></tr>{rows}</table>"
        f"<p>{html.escape('; '.join(reasons))}</p>"
    )


def build_report(pipeline: Pipeline, out_dir: Path) -> Path:
    """Write index.html and its PNGs into `out_dir`, upload them under reports/html/; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = drift_reports(pipeline)
    registry = pipeline.registry()
    champion = registry.champion()
    profile = registry.manifest(champion.version)["profile"] if champion else None
    latest = next((r for r in reversed(reports) if champion and r["model_version"] == champion.version), None)
    sections = _feature_sections(reports, profile, latest, out_dir) if profile else []
    performance = _performance_section(reports, profile, out_dir)
    contest = _challenger_section(pipeline, registry.manifest(champion.version)["metrics"] if champion else {})
    search = search_table(last_search(pipeline.ledger().recent(limit=5)))
    quality = quality_table(latest["drift"]) if latest else ""
    rows = "".join(
        f"<tr><td>{html.escape(str(d.get('at', ''))[:19])}</td><td>{html.escape(d.get('kind', ''))}</td>"
        f"<td>{html.escape(str(d.get('version', '')))}</td><td>{html.escape('; '.join(d.get('reasons', [])))}</td></tr>"
        for d in registry.history(limit=50)
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}img{{max-width:100%}}</style></head><body>
<h1>Drift report</h1><p>Generated {generated}. Champion: <b>{html.escape(champion.version if champion else "none")}</b>.
Reference = the champion's training profile. The verdict is the pipeline's one drift rule (the alarms use it).</p>
<h2>Recent batches</h2><table><tr><th>time</th><th>file</th><th>rows</th><th>model</th><th>verdict</th></tr>
{_batch_rows(reports)}</table>
{contest}
{f"<h2>Model search of the last training run</h2>{search}" if search else ""}
{performance}
{f"<h2>Data quality of the latest batch</h2>{quality}" if quality else ""}
<h2>Per feature</h2>{"".join(sections) or "<p>No champion yet.</p>"}
<h2>Champion history</h2><table><tr><th>time</th><th>decision</th><th>version</th><th>reasons</th></tr>{rows}</table>
</body></html>"""
    index = out_dir / "index.html"
    index.write_text(page)
    prefix = layout.html_report_prefix(datetime.now(UTC))
    for path in out_dir.iterdir():
        content_type = "text/html" if path.suffix == ".html" else "image/png"
        pipeline.s3.upload_file(
            str(path), pipeline.data_bucket, prefix + path.name, ExtraArgs={"ContentType": content_type}
        )
    return index
