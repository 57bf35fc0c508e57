"""A batch's data quality beside its drift, for `mlops score` and the HTML report: per feature, the missing and
unknown shares against the reference's, the share outside the reference range, and the new categories.

Reads a drift report's `quality`, `quality_drifted_features` and `new_categories`
(mlops_core.monitoring.quality); a report from a model version that predates them has none, and gets no lines.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

NEW_VALUES_SHOWN = 5  # per feature, on one line


def quality_rows(drift: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per feature with something to say (a blank, an unknown value, a value out of range, now or in
    the reference): its shares, whether the rule flagged it, its new values (most frequent first)."""
    flagged, new = set(drift.get("quality_drifted_features") or []), drift.get("new_categories") or {}
    rows = []
    for name, q in (drift.get("quality") or {}).items():
        shares = [q.get(k) or 0.0 for k in ("missing_share", "reference_missing_share", "unknown_share")]
        shares += [q.get("reference_unknown_share") or 0.0, q.get("outside_range_share") or 0.0]
        if any(shares) or name in new:
            rows.append({"feature": name, **q, "flagged": name in flagged, "new_values": new.get(name, [])})
    return rows


def _share(row: Mapping[str, Any], kind: str) -> str:
    return f"{row[f'{kind}_share']:.1%} (reference {row[f'reference_{kind}_share']:.1%})"


def _cells(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(missing, unknown, outside range, new values) as text; "-" where the feature has no such share."""
    unknown = _share(row, "unknown") if "unknown_share" in row else "-"
    outside = f"{row['outside_range_share']:.1%}" if "outside_range_share" in row else "-"
    values = ", ".join(f"{v['value']} ({v['rows']:,})" for v in row["new_values"][:NEW_VALUES_SHOWN]) or "-"
    return _share(row, "missing"), unknown, outside, values


def quality_lines(drift: Mapping[str, Any]) -> list[str]:
    """`mlops score`'s data quality lines: one per feature with blanks, unknown or out-of-range values."""
    rows = quality_rows(drift)
    if not drift.get("quality"):
        return []
    if not rows:
        return ["data quality: no blanks, unknown categories or values outside the reference range"]
    lines = ["data quality (batch against the reference; ! = changed beyond what the batch size explains):"]
    for row in rows:
        missing, unknown, outside, values = _cells(row)
        parts = [f"missing {missing}"]
        parts += [f"unknown {unknown}"] if unknown != "-" else []
        parts += [f"outside the reference range {outside}"] if outside != "-" else []
        parts += [f"new values: {values}"] if values != "-" else []
        lines.append(f"  {'!' if row['flagged'] else ' '} {row['feature']}: " + "; ".join(parts))
    return lines


def quality_table(drift: Mapping[str, Any]) -> str:
    """The HTML report's data quality table for a batch ("" when its report has no quality)."""
    if not drift.get("quality"):
        return ""
    rows = quality_rows(drift)
    if not rows:
        return "<p>No blanks, unknown categories or values outside the reference range.</p>"
    body = "".join(
        f"<tr><td>{html.escape(row['feature'])}{' <b>(changed)</b>' if row['flagged'] else ''}</td>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(row))
        + "</tr>"
        for row in rows
    )
    return (
        "<table><tr><th>feature</th><th>missing (reference)</th><th>unknown categories (reference)</th>"
        f"<th>outside the reference range</th><th>new values (rows)</th></tr>{body}</table>"
    )
