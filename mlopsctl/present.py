"""How the CLI and the HTML report show each task's results: pure functions from records to text.

The records are the pipeline's JSON (a training run's per-file data accounting, a receipt's or a
drift report's `labeled` metrics, a manifest's schema and metrics), so everything here is testable
without AWS. A record's task is read from its own keys where it has no `task`: `mae` is regression,
`f1_macro` or `recall` is multiclass, anything else is binary.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from mlops_core.config.task import Task
from mlops_core.monitoring.text import bin_names
from mlops_core.registry.approval import APPROVING, metrics_against

SKIP_REASONS = ("bad_feature", "bad_label", "missing_label")  # as training/data.py counts them, in this order
SHOWN = 8  # class names, recalls or label values listed before "and N more"


# ---------------------------------------------------------------------------- training data
def file_line(entry: Mapping[str, Any]) -> str:
    """One training file's accounting: rows used and skipped per reason (bad label values listed), or
    why the file was rejected, e.g. `training/iris.csv: 118 used; skipped 2 (bad_label 2: 'virginca' x2)`."""
    key = entry.get("key", "?")
    if "rejected" in entry:
        problem = entry["rejected"]
        read = entry.get("skipped_rows") or 0
        dropped = f" ({read:,} rows read before it are not used)" if read else ""
        fix = f"; fix: {problem['fix']}" if problem.get("fix") else ""
        return f"{key}: rejected ({problem.get('kind', '?')}): {problem.get('error', '')}{dropped}{fix}"
    line = f"{key}: {entry.get('rows', 0):,} used"
    if entry.get("source") == "holdout":
        line = f"{key}: {entry.get('rows', 0):,} in the reference holdout"
    skipped = entry.get("skipped_rows") or 0
    if skipped:
        line += f"; skipped {skipped:,} ({_reasons(entry)})"
    if entry.get("capped_rows"):
        line += f"; left out {entry['capped_rows']:,} (feedback bound: training.max_feedback_share / max_file_share)"
    return line


def _reasons(entry: Mapping[str, Any]) -> str:
    counts = entry.get("skipped") or {}
    parts = []
    for reason in [*SKIP_REASONS, *sorted(set(counts) - set(SKIP_REASONS))]:
        if not counts.get(reason):
            continue
        part = f"{reason} {counts[reason]:,}"
        if reason == "bad_label" and entry.get("bad_labels"):
            part += ": " + _counted(entry["bad_labels"])
        parts.append(part)
    return ", ".join(parts) or "reason not recorded"


def accounting_lines(files: Iterable[Mapping[str, Any]]) -> list[str]:
    """A line per training file (see `file_line`) and a total line; no lines when nothing was recorded."""
    files = list(files)
    if not files:
        return []
    used = sum(f.get("rows") or 0 for f in files)
    skipped = sum(f.get("skipped_rows") or 0 for f in files)
    rejected = sum(1 for f in files if "rejected" in f)
    total = f"total: {used:,} rows used, {skipped:,} skipped, from {len(files)} file(s)"
    if rejected:
        total += f"; {rejected} rejected"
    return [*(file_line(f) for f in files), total]


# ---------------------------------------------------------------------------- labeled batches
def task_kind_of(metrics: Mapping[str, Any]) -> str:
    """The task a metrics record belongs to, from its keys (see the module's docstring)."""
    if "task" in metrics:
        return str(metrics["task"])
    if "mae" in metrics or "rmse" in metrics:
        return "regression"
    if "f1_macro" in metrics or isinstance(metrics.get("recall"), Mapping):
        return "multiclass"
    return "binary"


def labeled_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A receipt's or drift report's labeled-batch metrics (`accuracy` in records written before tasks)."""
    return record.get("labeled") or record.get("accuracy") or None


def labeled_brief(labeled: Mapping[str, Any] | None) -> str:
    """The batch's headline metric: `accuracy 0.812` (classification), `MAE 1.23` (regression); "" without labels."""
    if not labeled:
        return ""
    if task_kind_of(labeled) == "regression":
        return f"MAE {labeled['mae']:.4g}"
    return f"accuracy {labeled['accuracy']:.3f}"


def labeled_lines(labeled: Mapping[str, Any] | None) -> list[str]:
    """The labeled rows' metrics in the task's terms, then a warning when labels held unseen classes."""
    if not labeled:
        return []
    rows = f"labeled rows: {labeled.get('rows', 0):,}"
    kind = task_kind_of(labeled)
    if kind == "regression":
        lines = [f"{rows}; MAE {labeled['mae']:.4g}, RMSE {labeled['rmse']:.4g}, R² {_number(labeled.get('r2'))}"]
    elif kind == "multiclass":
        lines = [f"{rows}; accuracy {labeled['accuracy']:.3f}, macro F1 {_number(labeled.get('f1_macro'))}"]
        if labeled.get("recall"):
            lines.append(f"recall per class: {compact(labeled['recall'], sep=' ')}")
    else:
        auc = f", ROC AUC {labeled['roc_auc']:.3f}" if labeled.get("roc_auc") is not None else ""
        lines = [f"{rows}; accuracy {labeled['accuracy']:.3f}{auc}"]
    return lines + unseen_lines(labeled)


def unseen_lines(labeled: Mapping[str, Any]) -> list[str]:
    """A warning naming the labels the model does not know (they count as wrong predictions)."""
    unseen = labeled.get("unseen_classes") or {}
    if not unseen:
        return []
    rows = sum(unseen.values())
    return [
        f"warning: {rows:,} labeled row(s) hold classes the model does not know ({_counted(unseen)}); "
        "they count as wrong predictions: retrain on data that has them, or fix the labels"
    ]


# ---------------------------------------------------------------------------- models
def metrics_text(metrics: Mapping[str, Any]) -> str:
    """A model's metrics on one line: `name=0.9123` per number, a dict (per-class recall) as `recall[a=1.00 b=0.93]`."""
    parts = []
    for name, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{name}={value:.4f}")
        elif isinstance(value, Mapping) and value and all(_is_number(v) for v in value.values()):
            parts.append(f"{name}[{compact(value, sep=' ', digits=2, joiner='=')}]")
    return "  ".join(parts)


def task_text(schema: Mapping[str, Any]) -> str:
    """A model's task from its manifest schema, e.g. `binary, classes 0, 1 (positive 1)`."""
    task = Task.from_schema(schema)
    if not task.is_classification:
        return task.kind
    text = f"{task.kind}, {len(task.classes)} classes: {_listed(task.classes)}"
    if task.kind == "binary" and task.classes:
        text += f" (positive {task.positive})"
    return text + ("; found in the training data" if task.found_in_data else "")


def pending_line(record: Mapping[str, Any], now: datetime) -> str:
    """A candidate awaiting approval: `v2  against champion v1: roc_auc 0.8123 (champion 0.8001), ...  expires in
    6 d 23 h`."""
    decision = record.get("decision") or {}
    metrics = ", ".join(metrics_against(decision.get("candidate_metrics") or {}, decision.get("champion_metrics")))
    champion = f"against champion {record.get('champion')}" if record.get("champion") else "no champion yet"
    return f"{record['version']}  {champion}: {metrics}  {_expiry(record, now)}"


def _expiry(record: Mapping[str, Any], now: datetime) -> str:
    if record.get("state") == APPROVING:
        return "being approved now"
    left = datetime.fromisoformat(record["expires_at"]) - now
    if left <= timedelta(0):
        return f"expired {_span(-left)} ago (approving or rejecting it records that)"
    return f"expires in {_span(left)}"


def _span(delta: timedelta) -> str:
    """A duration to the minute, largest units first: `6 d 23 h`, `2 h 5 min`, `0 min`."""
    minutes = int(delta.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def compact(values: Mapping[str, Any], *, sep: str = ", ", digits: int = 3, joiner: str = " ") -> str:
    """Per-class numbers in a short line: `a 1.000 b 0.933`, the first few then `... and N more`."""
    shown = [f"{k}{joiner}{_number(v, digits)}" for k, v in itertools.islice(values.items(), SHOWN)]
    more = f"{sep}... and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return sep.join(shown) + more


def _counted(counts: Mapping[str, Any]) -> str:
    """Values with their counts, most first: `'virginca' x2, '' x1`."""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{value!r} x{n:,}" for value, n in ordered[:SHOWN])
    return shown + (f", and {len(ordered) - SHOWN} more" if len(ordered) > SHOWN else "")


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    more = f", ... and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "n/a"


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------- HTML report
PREDICTION_TITLES = {"binary": "prediction score", "multiclass": "predicted class", "regression": "predicted value"}
# Per task: the performance chart's y label, title, the report's heading and what it says without points.
PERFORMANCE = {
    "binary": (
        "accuracy",
        "Accuracy per batch: estimated vs realized",
        "Accuracy: estimated and realized",
        "No batch has a label-free estimate yet.",
    ),
    "multiclass": (
        "accuracy",
        "Accuracy per labeled batch",
        "Accuracy and per-class recall of labeled batches",
        "No labeled batch yet.",
    ),
    "regression": (
        "mean absolute error",
        "Mean absolute error per labeled batch",
        "Error of labeled batches",
        "No labeled batch yet.",
    ),
}


def bin_labels(spec: Mapping[str, Any]) -> list[str]:
    """A column spec's bin labels: the categories and "other", a text's word bins, or the numeric ranges."""
    if spec.get("type") == "text":
        return bin_names(spec)
    if spec.get("type") == "categorical":
        return [*spec["categories"], "other"]
    edges = spec["edges"]
    return (
        [f"<={edges[0]:.3g}", *(f"{a:.3g}-{b:.3g}" for a, b in itertools.pairwise(edges)), f">{edges[-1]:.3g}"]
        if edges
        else ["all"]
    )


def chart_bars(
    spec: Mapping[str, Any], latest: list[float] | None, *, other: bool = True
) -> tuple[list[str], list[float], list[float] | None]:
    """Bin labels, reference shares and the latest batch's shares of a chart; `other` False drops the
    categorical "other" bin (a model predicts only its own classes)."""
    labels = bin_labels(spec)
    categorical = spec.get("type") == "categorical"
    expected = list(spec["proportions"]) + ([0.0] if categorical else [])
    batch = list(latest[: len(labels)]) if latest else None
    if categorical and not other:
        labels, expected, batch = labels[:-1], expected[:-1], batch[:-1] if batch else None
    return labels, expected, batch


def prediction_chart(profile: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """The prediction chart's title, spec, and whether it shows an "other" bin: the positive class's
    probability (binary), the predicted classes' shares (multiclass), the predicted values (regression)."""
    kind = profile.get("task", "binary")
    spec = {"type": "numeric", **profile["prediction"]}  # profiles from before tasks have no type
    return PREDICTION_TITLES.get(kind, "prediction score"), spec, kind != "multiclass"


def performance_points(reports: Iterable[Mapping[str, Any]], kind: str) -> list[tuple[str, float | None, float | None]]:
    """(time, label-free estimate, realized value) per batch: binary, the batches with an estimate and
    their accuracy when labeled; multiclass, the labeled batches' accuracy; regression, their MAE."""
    points: list[tuple[str, float | None, float | None]] = []
    for r in reports:
        labeled, at = labeled_of(r) or {}, str(r.get("at", ""))[11:19]
        if kind == "binary":
            drift = r.get("drift") or {}
            estimate = (drift.get("performance") or {}).get("estimated_accuracy")
            if drift.get("verdict") is not None and estimate is not None:
                points.append((at, float(estimate), labeled.get("accuracy")))
            continue
        value = labeled.get("mae" if kind == "regression" else "accuracy")
        if _is_number(value):
            points.append((at, None, float(value)))
    return points


def recall_table(reports: Iterable[Mapping[str, Any]], classes: Iterable[str], *, shown: int = 30) -> str:
    """An HTML table of the labeled batches' per-class recall, newest first ("" when none was labeled)."""
    labeled = [(r, m) for r in reports if (m := labeled_of(r)) and isinstance(m.get("recall"), Mapping)][-shown:]
    if not labeled:
        return ""
    names = list(dict.fromkeys([*classes, *(c for _, m in labeled for c in m["recall"])]))
    head = "".join(f"<th>recall {html.escape(c)}</th>" for c in names)
    rows = []
    for r, m in reversed(labeled):
        cells = "".join(f"<td>{_number(m['recall'].get(c))}</td>" for c in names)
        unseen = _counted(m["unseen_classes"]) if m.get("unseen_classes") else ""
        rows.append(
            f"<tr><td>{html.escape(str(r.get('at', ''))[:19])}</td><td>{html.escape(str(r.get('key', '')))}</td>"
            f"<td>{m.get('rows', 0):,}</td><td>{_number(m.get('accuracy'))}</td><td>{_number(m.get('f1_macro'))}</td>"
            f"{cells}<td>{html.escape(unseen)}</td></tr>"
        )
    return (
        "<table><tr><th>time</th><th>file</th><th>labeled rows</th><th>accuracy</th><th>macro F1</th>"
        f"{head}<th>unseen classes</th></tr>{''.join(rows)}</table>"
    )


def challenger_lines(challenger: Mapping[str, Any] | None) -> list[str]:
    """The challenger beside the champion in `mlops status`: who, how, its holdout metrics, the live evidence
    and what the rule says now (or how it ended)."""
    if not challenger:
        return ["challenger: none"]
    c = challenger
    share = f", {c.get('share', 0):.0%} of rows by {c.get('id_column')}" if c.get("mode") == "split" else ""
    lines = [
        f"challenger: {c['version']}  {c.get('status')} ({c.get('mode')}{share}) against champion {c.get('champion')}",
        f"  holdout: {metrics_text(c.get('metrics') or {})}",
    ]
    evidence = c.get("evidence") or {}
    lines.append(
        f"  live: {evidence.get('jobs', 0)} labeled batch(es); "
        + "; ".join((c.get("ruling") or {}).get("reasons", []) or c.get("reasons", []))
    )
    return lines


def online_lines(online: Mapping[str, Any] | None) -> list[str]:
    """The online endpoint in `mlops status`: its URL and its closed windows of the last hour (nothing without
    an endpoint)."""
    if not online:
        return []
    t = online["last_hour"]
    lines = [f"online endpoint: {online['endpoint']}predict"]
    if not t["requests"]:
        return [*lines, f"  last hour: no requests in {t['windows']} closed window(s)"]
    return [
        *lines,
        f"  last hour: {t['requests']} request(s) in {t['windows']} window(s), {t['error_rate']:.1%} answered 4xx/5xx, "
        f"latency p50 {t['latency_p50_ms']:.1f} ms, p99 {t['latency_p99_ms']:.1f} ms (the worst window's)",
        f"  labels: {t['labels']} posted, {t['unmatched_labels']} matched no captured record",
    ]


def text_line(text: Mapping[str, Any]) -> str:
    """A text feature's drift in the latest batch: both PSIs, the unknown words' share, the new words."""
    share = text.get("oov_share")
    new = ", ".join(text.get("new_words") or []) or "none"
    return (
        f"words PSI {text['words_psi']:.3f}, length PSI {text['length_psi']:.3f}; words not in the reference "
        f"vocabulary: {'n/a' if share is None else f'{share:.1%}'} (reference {text['reference_oov_share']:.1%}); "
        f"new words: {new}"
    )
