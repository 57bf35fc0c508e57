"""The champion and the challenger: status, challenge, rollback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from mlops_core.registry.store import ArtifactIntegrityError

from .. import leaderboard, present, standing
from ..stack import OpsError
from . import common
from .common import CliError, TargetOption
from .tracking import keeps_mlflow_current

app = typer.Typer()


@app.command()
@keeps_mlflow_current
def status(target: str = TargetOption, as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Champion and its metrics, versions, alarms, queue depths, recent runs and promotion decisions."""
    state = standing.status(common.connect(target))
    if as_json:
        typer.echo(json.dumps(state, indent=2, default=str))
        return
    _show_models(state)
    _show_stack(state)


def _show_models(state: dict[str, Any]) -> None:
    """The champion, the candidates awaiting approval, the challenger and every version."""
    champion = state["champion"]
    if champion:
        typer.echo(f"champion: {champion['version']}  {present.metrics_text(champion['metrics'])}")
        typer.echo(f"  task: {present.task_text(champion.get('task') or {})}")
    else:
        typer.echo("champion: none")
    if state.get("pending"):
        typer.echo(f"awaiting approval ({len(state['pending'])}): `mlops approve VERSION` or `mlops reject VERSION`")
        for record in state["pending"]:
            typer.echo(f"  {present.pending_line(record, datetime.now(UTC))}")
    for line in present.challenger_lines(state.get("challenger")):
        typer.echo(line)
    typer.echo(f"versions ({len(state['versions'])}):")
    for v in state["versions"]:
        typer.echo(f"  {v['version']}  {present.metrics_text(v['metrics'])}")


def _show_stack(state: dict[str, Any]) -> None:
    """The alarms, the queues, the recent training runs (and the last model search) and decisions."""
    typer.echo("alarms:")
    for name, value in sorted(state["alarms"].items()):
        typer.echo(f"  {value:<17} {name}")
    q = state["queues"]
    typer.echo(f"queue: {q['queue']} waiting, {q['queue_in_flight']} in flight; dead-letter queue: {q['dlq']}")
    typer.echo("recent training runs:")
    for run in state["runs"]:
        typer.echo(
            f"  {run['run_id']}  {run.get('status'):<9} {run.get('version', '')}  "
            f"{run.get('trigger', {}).get('source', '')}"
        )
    common.echo_lines(leaderboard.search_lines(leaderboard.last_search(state["runs"])))
    common.echo_lines(present.online_lines(state.get("online")))
    typer.echo("recent decisions:")
    for d in state["decisions"]:
        typer.echo(
            f"  {d.get('at', d.get('created_at', ''))}  {d.get('kind', ''):<8} {d.get('version', '')}  "
            f"{'; '.join(d.get('reasons', []))}"
        )


@app.command()
@keeps_mlflow_current
def challenge(
    version: str,
    mode: str = typer.Option(None, help="shadow or split (default: promotion.challenger)"),
    target: str = TargetOption,
) -> None:
    """Start a registered version as the challenger of the champion (needs promotion.challenger on)."""
    try:
        record = standing.start_challenge(common.connect(target), version, mode=mode)
    except OpsError as exc:
        raise CliError(str(exc), exc.hint) from exc
    share = f" on {record['share']:.0%} of rows by {record['id_column']}" if record["mode"] == "split" else ""
    typer.echo(f"{version} challenges champion {record['champion']} ({record['mode']}{share})")


@app.command()
@keeps_mlflow_current
def rollback(version: str, target: str = TargetOption) -> None:
    """Make an earlier model version the champion again (its checksum is verified first)."""
    pipeline = common.connect(target)
    registry = pipeline.registry()
    known = [m["version"] for m in registry.versions()]
    if version not in known:
        raise CliError(
            f"unknown model version {version!r}",
            f"known versions: {', '.join(known[-5:]) or 'none'} (see `mlops status`)",
        )
    try:
        registry.rollback(version, reason="rollback by operator")
    except ArtifactIntegrityError as exc:
        raise CliError(
            str(exc).split(": refusing")[0] + ": refusing to make it champion",
            "roll back to another version (`mlops status` lists them)",
        ) from exc
    typer.echo(f"champion is now {version}")
