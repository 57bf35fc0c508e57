"""An HTML drift report with PNG charts, built from the per-batch drift reports and the registry.

Per feature: the champion's reference distribution next to the latest batch's, and PSI over the
batches; then the prediction-score drift, and the champion history. Stored under reports/html/ in
the data bucket and written locally.
"""

from __future__ import annotations

import html
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files
import matplotlib.pyplot as plt

from mlops_core import layout

from .ops import Pipeline


def drift_reports(pipeline: Pipeline, limit: int = 200) -> list[dict[str, Any]]:
    """The per-batch drift reports, oldest first."""
    s3, keys = pipeline.s3, []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.data_bucket, Prefix=layout.DRIFT_REPORTS):
        keys += page.get("Contents", [])
    keys = sorted(keys, key=lambda o: o["LastModified"])[-limit:]
    return [json.loads(s3.get_object(Bucket=pipeline.data_bucket, Key=o["Key"])["Body"].read()) for o in keys]


def _bin_labels(spec: dict[str, Any]) -> list[str]:
    if spec["type"] == "categorical":
        return [*spec["categories"], "other"]
    edges = spec["edges"]
    return (
        [f"<={edges[0]:.3g}", *(f"{a:.3g}-{b:.3g}" for a, b in itertools.pairwise(edges)), f">{edges[-1]:.3g}"]
        if edges
        else ["all"]
    )


def _feature_chart(
    name: str,
    spec: dict[str, Any],
    *,
    latest: list[float] | None,
    history: list[tuple[str, float]],
    threshold: float,
    path: Path,
) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    labels = _bin_labels(spec)
    expected = list(spec["proportions"]) + ([0.0] if spec["type"] == "categorical" else [])
    x = range(len(labels))
    left.bar([i - 0.2 for i in x], expected, width=0.4, label="reference (champion)")
    if latest:
        left.bar([i + 0.2 for i in x], latest[: len(labels)], width=0.4, label="latest batch")
    left.set_xticks(list(x), labels, rotation=35, ha="right", fontsize=7)
    left.set_ylabel("share of rows")
    left.set_title(f"{name}: distribution")
    left.legend(fontsize=7)
    if history:
        right.plot(range(len(history)), [v for _, v in history], marker="o")
        right.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
        right.set_xticks(range(len(history)), [t for t, _ in history], rotation=35, ha="right", fontsize=6)
        right.legend(fontsize=7)
    right.set_ylabel("PSI")
    right.set_title(f"{name}: PSI per batch")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_report(pipeline: Pipeline, out_dir: Path, *, psi_threshold: float) -> Path:
    """Write index.html and its PNGs into `out_dir`, upload them under reports/html/; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = drift_reports(pipeline)
    registry = pipeline.registry()
    champion = registry.champion()
    profile = registry.manifest(champion.version)["profile"] if champion else None
    latest = next((r for r in reversed(reports) if champion and r["model_version"] == champion.version), None)
    sections = []
    if profile:
        charts = {**profile["features"], "prediction score": {"type": "numeric", **profile["prediction"]}}
        for name, spec in charts.items():
            key = "prediction" if name == "prediction score" else name
            judged = [r for r in reports if r["drift"]["verdict"] is not None]
            history = [
                (
                    r["at"][11:19],
                    r["drift"]["prediction_psi"] if key == "prediction" else r["drift"]["feature_psi"].get(key, 0.0),
                )
                for r in judged
            ]
            actual = latest["drift"]["actual"].get(key) if latest else None
            png = out_dir / f"{key.replace(' ', '_')}.png"
            _feature_chart(name, spec, latest=actual, history=history, threshold=psi_threshold, path=png)
            sections.append(f'<h3>{html.escape(name)}</h3><img src="{png.name}" alt="{html.escape(name)}">')
    rows = "".join(
        f"<tr><td>{html.escape(str(d.get('at', ''))[:19])}</td><td>{html.escape(d.get('kind', ''))}</td>"
        f"<td>{html.escape(str(d.get('version', '')))}</td><td>{html.escape('; '.join(d.get('reasons', [])))}</td></tr>"
        for d in registry.history(limit=50)
    )
    batches = "".join(
        f"<tr><td>{html.escape(r['at'][:19])}</td><td>{html.escape(r['key'])}</td><td>{r['rows']}</td>"
        f"<td>{html.escape(r['model_version'])}</td><td>{r['drift']['worst_psi']}</td>"
        f"<td>{'drift' if r['drift']['verdict'] else ('-' if r['drift']['verdict'] is None else 'ok')}</td></tr>"
        for r in reversed(reports[-30:])
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}img{{max-width:100%}}</style></head><body>
<h1>Drift report</h1><p>Generated {generated}. Champion: <b>{html.escape(champion.version if champion else "none")}</b>.
PSI threshold {psi_threshold}; reference = the champion's training profile.</p>
<h2>Recent batches</h2><table><tr><th>time</th><th>file</th><th>rows</th><th>model</th><th>worst PSI</th>
<th>verdict</th></tr>{batches}</table>
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
