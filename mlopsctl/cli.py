"""The `mlops` command: run local AWS, deploy the stack and operate the pipeline."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from mlops_core.config.project import CONFIG_ENV, ConfigError, config_path, load_config
from mlops_core.monitoring.verdict import verdict_line
from mlops_core.registry.store import ArtifactIntegrityError
from mlops_core.storage import layout

from . import approvals, leaderboard, ops, present
from . import register as registering
from .checkrun import ModelChecker
from .datagen import generate
from .demo import run_demo
from .deploy import DeployError
from .deploy import deploy as deploy_stack
from .localaws import LocalAws, LocalAwsError
from .report import build_report

ROOT = Path(__file__).resolve().parent.parent

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)


class CliError(Exception):
    """An error shown to the operator as one line plus a hint, not a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@app.callback()
def project(
    config: Path | None = typer.Option(
        None,
        "--config",
        help="the project's config file (default: mlops.toml); each project has its own stack",
        exists=True,
        dir_okay=False,
        resolve_path=True,
    ),
) -> None:
    """Choose the project every command works on (sets MLOPS_CONFIG for this process and the CDK app)."""
    if config:
        os.environ[CONFIG_ENV] = str(config)


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
    typer.echo(f"deployed {load_config().stack_name} to {target} in {time.monotonic() - started:.0f} s")
    for key in ("DataBucket", "ModelsBucket", "ScoringQueueUrl"):
        typer.echo(f"  {key}: {outputs.get(key)}")


def _pipeline(target: str) -> ops.Pipeline:
    return ops.Pipeline.connect(ROOT, target)


def _progress(label: str):
    """A one-line progress display for long waits (stderr, so stdout stays clean for scripts)."""

    interactive = sys.stderr.isatty()
    shown = [-10.0]

    def show(elapsed: float) -> None:
        if interactive:
            typer.echo(f"\r  {label}... {elapsed:4.0f} s ", nl=False, err=True)
        elif elapsed - shown[0] >= 10:  # logs and CI: a line every 10 s
            shown[0] = elapsed
            typer.echo(f"  {label}... {elapsed:.0f} s", err=True)

    return show


def _echo_lines(lines: list[str]) -> None:
    """Each line on its own (nothing for no lines)."""
    for line in lines:
        typer.echo(line)


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
        raise CliError(
            f"no run started: {result.get('reason')} (run {result.get('run_id')})",
            "wait for the running training to finish; see `mlops status`",
        )
    typer.echo(f"training run {result['run_id']} started")
    if not wait:
        return
    run = ops.wait_for_run(pipeline, result["run_id"], progress=_progress("training"))
    typer.echo("", err=True)
    if run["status"] == "failed":
        raise CliError(f"training run {run['run_id']} failed: {run.get('error')}", "the champion is unchanged")
    decision = run.get("decision", {})
    verdict = "promoted to champion" if run.get("promoted") else "not promoted"
    if decision.get("kind") == "challenge":
        verdict = f"started as a {decision.get('mode')} challenger of champion {decision.get('champion')}"
    if run.get("pending"):
        verdict = "passed the gate and awaits approval"
    reasons = "; ".join(decision.get("reasons", []))
    typer.echo(f"version {run['version']} {verdict} in {run.get('seconds')} s: {reasons}")
    for line in present.accounting_lines(ops.run_files(pipeline, run)):
        typer.echo(f"  {line}")
    _echo_lines(leaderboard.search_lines(run.get("search")))


@app.command()
def status(target: str = TargetOption, as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Champion and its metrics, versions, alarms, queue depths, recent runs and promotion decisions."""
    state = ops.status(_pipeline(target))
    if as_json:
        typer.echo(json.dumps(state, indent=2, default=str))
        return
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
    _echo_lines(leaderboard.search_lines(leaderboard.last_search(state["runs"])))
    typer.echo("recent decisions:")
    for d in state["decisions"]:
        typer.echo(
            f"  {d.get('at', d.get('created_at', ''))}  {d.get('kind', ''):<8} {d.get('version', '')}  "
            f"{'; '.join(d.get('reasons', []))}"
        )


@app.command()
def challenge(
    version: str,
    mode: str = typer.Option(None, help="shadow or split (default: promotion.challenger)"),
    target: str = TargetOption,
) -> None:
    """Start a registered version as the challenger of the champion (needs promotion.challenger on)."""
    try:
        record = ops.start_challenge(_pipeline(target), version, mode=mode)
    except ops.OpsError as exc:
        raise CliError(str(exc), exc.hint) from exc
    share = f" on {record['share']:.0%} of rows by {record['id_column']}" if record["mode"] == "split" else ""
    typer.echo(f"{version} challenges champion {record['champion']} ({record['mode']}{share})")


@app.command()
def rollback(version: str, target: str = TargetOption) -> None:
    """Make an earlier model version the champion again (its checksum is verified first)."""
    pipeline = _pipeline(target)
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


def _deciding(target: str) -> dict[str, Any]:
    """What `approve` and `reject` act with: the registry, its pending records, STS (who acts), the project."""
    pipeline = _pipeline(target)
    return {
        "registry": pipeline.registry(),
        "pending": pipeline.pending(),
        "sts": pipeline.client("sts"),
        "config": load_config(),
    }


@app.command()
def approve(
    version: str,
    note: str = typer.Option("", help="recorded with the decision"),
    target: str = TargetOption,
) -> None:
    """Promote a candidate that awaits approval (promotion.approval = manual): its checksum and the
    champion are checked again; recorded in the history with your identity (STS)."""
    decision = approvals.approve(**_deciding(target), version=version, note=note)
    if decision.get("placed_as") == "challenger":
        typer.echo(f"{version} now challenges champion {decision['previous']}; approved by {decision['by']['arn']}")
        return
    typer.echo(f"champion is now {version} (was {decision['previous'] or 'none'}); approved by {decision['by']['arn']}")


@app.command()
def reject(
    version: str,
    reason: str = typer.Option(..., "--reason", help="why; recorded with the decision"),
    target: str = TargetOption,
) -> None:
    """Close a candidate that awaits approval without promoting it; recorded with your identity and reason."""
    decision = approvals.reject(**_deciding(target), version=version, reason=reason)
    typer.echo(f"{version} rejected by {decision['by']['arn']}; the champion is unchanged")


@app.command()
def register(
    model: Path = typer.Argument(..., help="the model file, saved with joblib.dump (a fitted scikit-learn model)"),
    reference: Path = typer.Option(
        ..., "--reference", help="CSV of rows the model was not trained on: its drift reference (and, labeled, holdout)"
    ),
    promote: bool = typer.Option(False, "--promote", help="send it through the promotion gate (needs labels)"),
    timeout: float = typer.Option(300, help="seconds the model check may take"),
    target: str = TargetOption,
) -> None:
    """Register a model trained elsewhere: checked in a separate process on the reference rows, recorded with
    its origin; with --promote and a labeled reference, the promotion gate decides as for a trained version."""
    pipeline = _pipeline(target)
    config = load_config()
    layer_sklearn = registering.layer_version(ROOT / "lambdas" / "requirements.txt")
    with _user_code() as user_code:
        result = registering.register(
            registry=pipeline.registry(),
            sts=pipeline.client("sts"),
            checker=ModelChecker(layer_sklearn=layer_sklearn, timeout_s=timeout, import_paths=user_code),
            config=config,
            config_file=config_path().resolve(),
            model=model,
            reference=reference,
            promote=promote,
            announce=registering.sns_announcer(pipeline.client("sns"), pipeline.outputs["AlertsTopic"], config),
        )
    for line in registering.summary(result):
        typer.echo(line)


@contextlib.contextmanager
def _user_code() -> Iterator[tuple[Path, ...]]:
    """A folder holding only the user's pipelines/ package, which the functions' code assets carry too
    (infra/bundling.py): the model check may load classes from it and from nothing else of the repository."""
    if not (ROOT / "pipelines").is_dir():
        yield ()
        return
    with tempfile.TemporaryDirectory(prefix="mlops-usercode-") as folder:
        (Path(folder) / "pipelines").symlink_to(ROOT / "pipelines", target_is_directory=True)
        yield (Path(folder),)


@app.command()
def redrive(target: str = TargetOption) -> None:
    """Move the dead-letter queue's messages back to the scoring queue (after fixing the cause)."""
    moved = ops.redrive(_pipeline(target))
    typer.echo(f"moved {moved} message(s) back to the scoring queue")


@app.command()
def audit(
    minutes: float = typer.Option(60, "--minutes", help="look at files that arrived in the last N minutes"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable, every file listed"),
    target: str = TargetOption,
) -> None:
    """Account for each file that arrived: in = scored + rejected + superseded + in flight + dead-lettered; exit 1
    if any is lost."""
    pipeline = _pipeline(target)
    result = ops.audit(pipeline, datetime.now(UTC) - timedelta(minutes=minutes))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        c = result.counts()
        typer.echo(
            f"last {minutes:g} min: {c['in']} in = {c['scored']} scored + {c['rejected']} rejected + "
            f"{c['superseded']} superseded + {c['in_flight']} in flight + {c['dead_lettered']} dead-lettered + "
            f"{c['lost']} lost"
        )
        for f in [f for f in result.files if f.state not in ("scored", "rejected")][:20]:
            typer.echo(f"  {f.state:13} {f.key} ({f.detail})")
        if result.ignored:
            typer.echo(f"  {len(result.ignored)} object(s) under incoming/ are never sent to scoring:")
            for key in result.ignored[:20]:
                typer.echo(f"  {'never sent':13} {key} ({layout.why_not_scored(key)})")
    if not result.balanced:
        raise CliError(
            f"{result.counts()['lost']} file(s) are unaccounted for",
            "re-upload them (or send their S3 events to the scoring queue); see the logs",
        )


@app.command()
def seed(
    rows: int = typer.Option(8000, help="labeled rows of training data"),
    seed_: int = typer.Option(1, "--seed", help="random seed (same seed, same data)"),
    covariate_shift: float = typer.Option(0.0, help="shift of the feature distributions"),
    concept_shift: float = typer.Option(0.0, help="change of the feature-label relationship"),
    target: str = TargetOption,
) -> None:
    """Generate labeled training data and upload it under training/."""
    pipeline = _pipeline(target)
    key = layout.training_key(f"generated-seed{seed_}-{rows}.csv")
    body = generate(rows, seed=seed_, covariate_shift=covariate_shift, concept_shift=concept_shift)
    pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=key, Body=body)
    typer.echo(f"uploaded s3://{pipeline.data_bucket}/{key} ({rows:,} rows)")


@app.command("add-training-data")
def add_training_data(file: Path, target: str = TargetOption) -> None:
    """Upload a labeled CSV (your own data) under training/ for the next training run."""
    if not file.is_file():
        raise CliError(f"no such file: {file}", "give the path of a labeled CSV (or .csv.gz) file")
    pipeline = _pipeline(target)
    key = layout.training_key(file.name)
    pipeline.s3.upload_file(str(file), pipeline.data_bucket, key)
    typer.echo(f"uploaded s3://{pipeline.data_bucket}/{key}; start a run with `mlops train`")


@app.command()
def score(file: Path, target: str = TargetOption, timeout: float = typer.Option(300, help="seconds to wait")) -> None:
    """Upload a CSV under incoming/, wait for scoring, and say where the predictions (or the report) are."""
    if not file.is_file():
        raise CliError(f"no such file: {file}", "give the path of a CSV (or .csv.gz) file")
    pipeline = _pipeline(target)
    upload = ops.upload_for_scoring(pipeline, file.read_bytes(), file.name)
    receipt = ops.wait_for_outcome(
        pipeline, upload["key"], upload["etag"], timeout_s=timeout, progress=_progress("scoring")
    )
    typer.echo("", err=True)
    outputs = receipt.get("outputs", {})
    if receipt["outcome"] == "rejected":
        report = ops.read_json(pipeline, outputs["report"])
        raise CliError(
            f"{file.name} was rejected ({report['kind']}): {report['error']}",
            f"{report['fix']}; report: s3://{pipeline.data_bucket}/{outputs['report']}",
        )
    if receipt["outcome"] == "superseded":
        raise CliError(
            f"{file.name} was overwritten under {upload['key']} before it was scored",
            "upload it again under a name of its own (`mlops audit` counts superseded files)",
        )
    if receipt["outcome"] == "fanned_out":
        typer.echo(
            f"{file.name} is large: split into {receipt['parts']} byte ranges, scored in parallel "
            f"under s3://{pipeline.data_bucket}/predictions/"
        )
        return
    typer.echo(f"scored {receipt['scored']:,} of {receipt['rows']:,} rows with model {receipt['model_version']}")
    for name, key in outputs.items():
        typer.echo(f"  {name}: s3://{pipeline.data_bucket}/{key}")
    drift = receipt.get("drift") or {}
    if drift:
        typer.echo(f"  {verdict_line(drift)}")
    for line in present.labeled_lines(present.labeled_of(receipt)):
        typer.echo(f"  {line}")


@app.command()
def report(
    out: Path = typer.Option(Path("mlops-report"), help="local folder for the HTML and PNGs"),
    target: str = TargetOption,
) -> None:
    """Build the HTML drift report (PNG charts), store it under reports/html/ and locally."""
    pipeline = _pipeline(target)
    index = build_report(pipeline, out)
    typer.echo(f"report: {index.resolve()} (also under s3://{pipeline.data_bucket}/reports/html/)")


@app.command()
def demo(report_dir: Path = typer.Option(Path("mlops-report"), help="where the drift report goes")) -> None:
    """The whole loop on local AWS: deploy, train, score clean and drifted data, retrain, promote."""
    typer.echo("demo: the whole loop on local AWS (no Docker, no account)")
    result = run_demo(ROOT, echo=typer.echo, progress=_progress, report_dir=report_dir)
    typer.echo(f"\ndone in {result['timeline'][-1][0]:.0f} s; champion {result['champion']}")
    typer.echo(f"predictions: s3://{result['outputs']['bucket']}/predictions/demo/")
    typer.echo(f"drift report: {result['outputs']['report']}")
    typer.echo("next: `mlops status`, `mlops score FILE`, `mlops report`; `make down` stops local AWS")


@app.command("local-status")
def local_status() -> None:
    """Whether local AWS is running, and who started it."""
    typer.echo(_local_aws().status().describe())


def main() -> None:
    """Console-script entry point: expected failures print one line and a hint."""
    try:
        app(standalone_mode=False)
    except (CliError, LocalAwsError, DeployError, ops.OpsError, ConfigError) as exc:
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
