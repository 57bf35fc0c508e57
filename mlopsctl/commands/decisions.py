"""People decide about models: approve, reject, register."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from mlops_core.config import config_path, load_config

from .. import approvals
from .. import register as registering
from ..checkrun import ModelChecker
from . import common
from .common import TargetOption
from .tracking import keeps_mlflow_current

app = typer.Typer()


def _deciding(target: str) -> dict[str, Any]:
    """What `approve` and `reject` act with: the registry, its pending records, STS (who acts), the project."""
    pipeline = common.connect(target)
    return {
        "registry": pipeline.registry(),
        "pending": pipeline.pending(),
        "sts": pipeline.client("sts"),
        "config": load_config(),
    }


@app.command()
@keeps_mlflow_current
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
@keeps_mlflow_current
def reject(
    version: str,
    reason: str = typer.Option(..., "--reason", help="why; recorded with the decision"),
    target: str = TargetOption,
) -> None:
    """Close a candidate that awaits approval without promoting it; recorded with your identity and reason."""
    decision = approvals.reject(**_deciding(target), version=version, reason=reason)
    typer.echo(f"{version} rejected by {decision['by']['arn']}; the champion is unchanged")


@app.command()
@keeps_mlflow_current
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
    pipeline = common.connect(target)
    config = load_config()
    layer_sklearn = registering.layer_version(common.ROOT / "lambdas" / "requirements.txt")
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
    if not (common.ROOT / "pipelines").is_dir():
        yield ()
        return
    with tempfile.TemporaryDirectory(prefix="mlops-usercode-") as folder:
        (Path(folder) / "pipelines").symlink_to(common.ROOT / "pipelines", target_is_directory=True)
        yield (Path(folder),)
