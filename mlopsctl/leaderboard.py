"""How `mlops status`, `mlops train` and the HTML report show a model search: pure functions from a run record's
`search` (training/search.py writes it) to text, testable without AWS."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

LEADERS = 5  # candidates shown, best first


def last_search(runs: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The model search of the newest successful run (runs newest first), with its run id and version; None
    when that run searched nothing (a single configured model) or no run succeeded."""
    for run in runs:
        if run.get("status") == "succeeded":
            search = run.get("search")
            return {**search, "run_id": run.get("run_id"), "version": run.get("version")} if search else None
    return None


def search_lines(search: Mapping[str, Any] | None, *, top: int = LEADERS) -> list[str]:
    """A model search's leaderboard: what was searched and its cost, then a line per candidate, best first:
    `1. LogisticRegression  roc_auc 0.8245 ± 0.0123  C=1.0  (3 point(s), 15 fits, 2.1 s)  <- chosen`."""
    if not search:
        return []
    metric = search["metric"]
    lines = [heading(search) + ":"]
    for e in search["leaderboard"][:top]:
        chosen = "  <- chosen" if e["name"] == search.get("chosen") else ""
        lines.append(
            f"  {e['rank']}. {e['name']}  {metric} {e['mean']:.4f} ± {e['std']:.4f}  {point_text(e['best'])}  "
            f"({e['points']} point(s), {e['fits']} fits, {e['seconds']:.1f} s){chosen}"
        )
    if len(search["leaderboard"]) > top:
        lines.append(f"  ... and {len(search['leaderboard']) - top} more (`mlops status --json` has them all)")
    return lines


def heading(search: Mapping[str, Any]) -> str:
    """What was searched, on what, at what cost, and which way the metric is better."""
    direction = "higher" if search.get("higher_is_better", True) else "lower"
    run = f" of run {search['run_id']} ({search.get('version')})" if search.get("run_id") else ""
    return (
        f"model search{run}: {search['method']}, {search['cv_folds']}-fold cross-validation on "
        f"{search['rows']:,} training rows, {search['cv_fits']} fits in {search['seconds']:.1f} s; "
        f"{search['metric']}, {direction} is better"
    )


def point_text(params: Mapping[str, Any]) -> str:
    """A grid point as `C=1.0, max_depth=4`; `(fixed params)` for a candidate without a grid."""
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(fixed params)"


def search_table(search: Mapping[str, Any] | None, *, top: int = LEADERS) -> str:
    """The leaderboard as a small HTML table after a line that says what was searched ("" without a search)."""
    if not search:
        return ""
    rows = []
    for e in search["leaderboard"][:top]:
        name = e["name"] + (" (chosen)" if e["name"] == search.get("chosen") else "")
        cells = [e["rank"], name, f"{e['mean']:.4f}", f"{e['std']:.4f}", point_text(e["best"]), e["fits"]]
        cells.append(f"{e['seconds']:.1f}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = ["rank", "candidate", f"mean {search['metric']}", "spread (std)", "best point", "fits", "seconds"]
    return (
        f"<p>{html.escape(heading(search))}.</p><table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + f"</tr>{''.join(rows)}</table>"
    )
