"""The `mlops` command: run local AWS, deploy the stack and operate the pipeline."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from . import ops
from .deploy import STACK_NAME, DeployError
from .deploy import deploy as deploy_stack
from .localaws import LocalAws, LocalAwsError

ROOT = Path(__file__).resolve().parent.parent

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)


class CliError(Exception):
    """An error shown to the operator as one line plus a hint, not a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _local_aws() -> LocalAws:
    return LocalAws(ROOT, log=lambda msg: typer.echo(msg, err=True))


@app.command()
def setup() -> None:
    """Install local AWS (LocalStack's own virtualenv and the Lambda runtimes); idempotent."""
    _local_aws().install()
    typer.echo("local AWS installed")


@app.command()
def up() -> None:
    """Start local AWS (LocalStack on the host, functions as local processes)."""
    typer.echo(_local_aws().up().describe())


@app.command()
def down() -> None:
    """Stop the local AWS that `up` started (an external one is left alone)."""
    stopped = _local_aws().down()
    typer.echo("local AWS stopped" if stopped else "nothing to stop: local AWS was not started by this project")


@app.command()
def deploy(
    target: str = typer.Option("localstack", help="localstack (local AWS on this machine) or aws (your account)"),
) -> None:
    """Deploy the stack (bootstraps local AWS first if needed); writes the stack outputs file."""
    if target not in ("localstack", "aws"):
        raise CliError(f"unknown target {target!r}", "use --target localstack or --target aws")
    started = time.monotonic()
    outputs = deploy_stack(ROOT, target=target, log=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"deployed {STACK_NAME} to {target} in {time.monotonic() - started:.0f} s")
    for key in ("DataBucket", "ModelsBucket", "ScoringQueueUrl"):
        typer.echo(f"  {key}: {outputs.get(key)}")


def _pipeline(target: str) -> ops.Pipeline:
    return ops.Pipeline.connect(ROOT, target)


def _progress(label: str):
    """A one-line progress display for long waits (stderr, so stdout stays clean for scripts)."""

    def show(elapsed: float) -> None:
        typer.echo(f"\r  {label}... {elapsed:4.0f} s", nl=False, err=True)

    return show


TargetOption = typer.Option("localstack", "--target", help="localstack or aws")


@app.command()
def train(
    reason: str = typer.Option("started by hand", help="recorded with the run"),
    wait: bool = typer.Option(True, help="wait for the run to finish"),
    target: str = TargetOption,
) -> None:
    """Start a training run now (skips the cooldown; never runs two at once)."""
    pipeline = _pipeline(target)
    result = ops.start_training(pipeline, reason)
    if not result.get("started"):
        raise CliError(f"no run started: {result.get('reason')} (run {result.get('run_id')})",
                       "wait for the running training to finish; see `mlops status`")  # fmt: skip
    typer.echo(f"training run {result['run_id']} started")
    if not wait:
        return
    run = ops.wait_for_run(pipeline, result["run_id"], progress=_progress("training"))
    typer.echo("", err=True)
    if run["status"] == "failed":
        raise CliError(f"training run {run['run_id']} failed: {run.get('error')}", "the champion is unchanged")
    decision = run.get("decision", {})
    verdict = "promoted to champion" if run.get("promoted") else "not promoted"
    reasons = "; ".join(decision.get("reasons", []))
    typer.echo(f"version {run['version']} {verdict} in {run.get('seconds')} s: {reasons}")


@app.command()
def status(target: str = TargetOption, as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Champion and its metrics, versions, alarms, queue depths, recent runs and promotion decisions."""
    state = ops.status(_pipeline(target))
    if as_json:
        typer.echo(json.dumps(state, indent=2, default=str))
        return
    champion = state["champion"]
    typer.echo(f"champion: {champion['version']}  {_metrics(champion['metrics'])}" if champion else "champion: none")
    typer.echo(f"versions ({len(state['versions'])}):")
    for v in state["versions"]:
        typer.echo(f"  {v['version']}  {_metrics(v['metrics'])}")
    typer.echo("alarms:")
    for name, value in sorted(state["alarms"].items()):
        typer.echo(f"  {value:<17} {name}")
    q = state["queues"]
    typer.echo(f"queue: {q['queue']} waiting, {q['queue_in_flight']} in flight; dead-letter queue: {q['dlq']}")
    typer.echo("recent training runs:")
    for run in state["runs"]:
        typer.echo(f"  {run['run_id']}  {run.get('status'):<9} {run.get('version', '')}  "
                   f"{run.get('trigger', {}).get('source', '')}")  # fmt: skip
    typer.echo("recent decisions:")
    for d in state["decisions"]:
        typer.echo(f"  {d.get('at', d.get('created_at', ''))}  {d.get('kind', ''):<8} {d.get('version', '')}  "
                   f"{'; '.join(d.get('reasons', []))}")  # fmt: skip


def _metrics(metrics: dict) -> str:
    return "  ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))


@app.command()
def rollback(version: str, target: str = TargetOption) -> None:
    """Make an earlier model version the champion again (its checksum is verified first)."""
    pipeline = _pipeline(target)
    registry = pipeline.registry()
    known = [m["version"] for m in registry.versions()]
    if version not in known:
        raise CliError(f"unknown model version {version!r}",
                       f"known versions: {', '.join(known[-5:]) or 'none'} (see `mlops status`)")  # fmt: skip
    registry.rollback(version, reason="rollback by operator")
    typer.echo(f"champion is now {version}")


@app.command()
def redrive(target: str = TargetOption) -> None:
    """Move the dead-letter queue's messages back to the scoring queue (after fixing the cause)."""
    moved = ops.redrive(_pipeline(target))
    typer.echo(f"moved {moved} message(s) back to the scoring queue")


@app.command("local-status")
def local_status() -> None:
    """Whether local AWS is running, and who started it."""
    typer.echo(_local_aws().status().describe())


def main() -> None:
    """Console-script entry point: expected failures print one line and a hint."""
    try:
        app(standalone_mode=False)
    except (CliError, LocalAwsError, DeployError, ops.OpsError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        hint = getattr(exc, "hint", "")
        if hint:
            typer.echo(f"hint: {hint}", err=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        if hasattr(exc, "show"):
            exc.show()
        sys.exit(code)
